//! Whole-file verification on the device, and deltas: chunks decoded window by window into the
//! decoder's own buffers, XORed with their base where they are deltas (the merge kernel reads the
//! base bytes uploaded after the window's streams), and checked against their xxh3-64 by the
//! checksum kernel; only each window's verdict (the error words) is read back.

use super::decoder::{GpuDecoder, Sink};
use crate::archive::Archive;
use crate::delta::Base;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::source::ByteSource;
use std::io::Write;

impl GpuDecoder {
    /// Decodes every chunk of the `.znn` in `src` (whose metadata is `a`) and checks every
    /// checksum on the device, writing nothing (like `zstd -t`). A delta needs its `base` (checked
    /// against the one the file names); without it, its delta chunks fail with
    /// [`Error::NeedsBase`].
    pub fn verify(&mut self, a: &Archive, src: &dyn ByteSource, base: Option<&Base>) -> Result<()> {
        let engine = Engine::new(a, src, base)?;
        self.run_chunks(
            &a.index,
            0..a.index.chunks().len(),
            engine,
            Sink::Discard,
            true,
            None,
        )
    }

    /// [`GpuDecoder::decompress_to_writer`] for a file that may be a delta: the base's covering
    /// bytes are uploaded with each window and XORed on the device; every chunk's xxh3 is verified
    /// on the host before its bytes are written.
    pub fn decompress_to_writer_with_base<W: Write>(
        &mut self,
        a: &Archive,
        src: &dyn ByteSource,
        base: Option<&Base>,
        mut w: W,
    ) -> Result<()> {
        let engine = Engine::new(a, src, base)?;
        let mut write = |b: &[u8]| w.write_all(b).map_err(|e| Error::io("writing output", e));
        self.run_chunks(
            &a.index,
            0..a.index.chunks().len(),
            engine,
            Sink::Host(&mut write),
            true,
            None,
        )?;
        w.flush().map_err(|e| Error::io("writing output", e))
    }

    /// [`GpuDecoder::decode_file_to_buffer`] for a file that may be a delta (see
    /// [`GpuDecoder::verify`] for `base`); every chunk is verified on the device.
    pub fn decode_delta_to_buffer(
        &mut self,
        a: &Archive,
        src: &dyn ByteSource,
        base: Option<&Base>,
    ) -> Result<super::GpuOutput> {
        let engine = Engine::new(a, src, base)?;
        self.decode_engine_to_buffer(engine)
    }
}
