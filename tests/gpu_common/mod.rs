//! What the GPU test binaries share and the support crate cannot hold: it builds the library
//! without the `gpu` feature (for the fuzz targets), so `GpuDecoder` is not there.

use znn_gpu::{Error, GpuDecoder};
use znn_test_support::say_skipped;

/// A GPU decoder, or `None` after a SKIPPED line where no adapter exists at all; any other
/// failure to create one fails the test.
pub fn gpu() -> Option<GpuDecoder> {
    match GpuDecoder::new() {
        Ok(d) => Some(d),
        Err(Error::NoAdapter(m)) => {
            say_skipped(&format!("SKIPPED: no GPU adapter ({m})"));
            None
        }
        Err(e) => panic!("GPU decoder: {e}"),
    }
}
