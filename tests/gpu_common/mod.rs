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

/// Decodes `z` on the GPU with the fused kernel on and off (read back), then into a device buffer
/// and with `verify`, and checks every output against `data`, which the CPU must decode too. With
/// the kernel on, exactly the chunks `fusable` takes are fused; with it off, none.
// Not every test binary that includes this module calls it.
#[allow(dead_code)]
pub fn fused_and_two_pass_match_the_cpu(g: &mut GpuDecoder, z: &[u8], data: &[u8], what: &str) {
    use znn_gpu::gpu::fused::fusable;
    use znn_gpu::Archive;
    use znn_test_support::assert_same;
    assert_same(&znn_gpu::decompress_bytes(z).unwrap(), data, what);
    let a = Archive::from_bytes(z).unwrap();
    let fusable = (0..a.index.chunks().len())
        .filter(|&ci| fusable(&a.index, ci, 0).is_some())
        .count();
    for fuse in [true, false] {
        g.set_fused(fuse);
        g.take_path_counts();
        let out = g.decompress_bytes(z).unwrap();
        assert_same(&out, data, &format!("gpu {what} fuse {fuse}"));
        let fused = if fuse { fusable } else { 0 };
        assert_eq!(g.take_path_counts().fused, fused, "{what} fuse {fuse}");
    }
    g.set_fused(true);
    let buf = g
        .decode_to_buffer(&a, &z[Archive::DATA_START as usize..])
        .unwrap();
    let back = g.read_back(&buf.buffer, buf.len).unwrap();
    assert_same(&back, data, &format!("gpu buffer {what}"));
    g.verify(&a, &z, None).unwrap();
}
