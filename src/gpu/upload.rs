//! Host to device: a window's payload and descriptors written into its buffer set.

use super::plan::Window;
use super::ring::BufferSet;

impl BufferSet {
    /// Queues the uploads of `w`; `data` holds its payloads. Nothing reaches the device before the
    /// next submit, so this may run while the other set's window decodes.
    pub fn upload(&self, queue: &wgpu::Queue, w: &Window, data: &[u8]) {
        let d = &data[..w.data_len as usize];
        let whole = d.len() & !3;
        if whole > 0 {
            queue.write_buffer(&self.comp.buf, 0, &d[..whole]);
        }
        if whole < d.len() {
            let mut tail = [0u8; 4];
            tail[..d.len() - whole].copy_from_slice(&d[whole..]);
            queue.write_buffer(&self.comp.buf, whole as u64, &tail);
        }
        if !w.extra.is_empty() {
            queue.write_buffer(&self.comp.buf, w.extra_offset, &w.extra);
        }
        let words = |v: &[u32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        if !w.tables.is_empty() {
            queue.write_buffer(&self.tables.buf, 0, bytemuck::cast_slice(&w.tables));
        }
        if !w.jobs.is_empty() {
            queue.write_buffer(&self.jobs.buf, 0, bytemuck::cast_slice(&w.jobs));
            queue.write_buffer(&self.subs.buf, 0, bytemuck::cast_slice(&w.subs));
        }
        queue.write_buffer(&self.chunks.buf, 0, &words(&w.chunk_words));
        queue.write_buffer(&self.errors, 0, &words(&[0, u32::MAX]));
    }
}
