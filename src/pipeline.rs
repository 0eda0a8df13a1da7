//! Overlaps writing with coding: a scoped background thread writes finished windows while the rayon
//! pool codes the next one. Writing 45 MB to tmpfs costs ~18 ms from one thread on the VMs measured
//! here, as long as decoding it, so doing both in turn would halve file-to-file throughput.

use crate::error::{Error, Result};
use std::io::Write;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

/// Hands filled buffers to the writer thread and gets emptied ones back.
pub struct Sink {
    full: SyncSender<Vec<u8>>,
    empty: Mutex<Receiver<Vec<u8>>>,
}

impl Sink {
    /// A buffer recycled from the writer when one is free (no allocation per window), else a new
    /// one with room for `cap` bytes (huge pages). A recycled buffer keeps its old length and
    /// contents, so that a caller who overwrites it all pays no zeroing.
    pub fn buffer(&self, cap: usize) -> Vec<u8> {
        match self.empty.lock().unwrap().try_recv() {
            Ok(b) => b,
            Err(_) => crate::buffer::with_capacity(cap),
        }
    }

    /// Queues `buf` for writing; waits while `depth` earlier buffers are queued (bounded memory).
    pub fn send(&self, buf: Vec<u8>) -> Result<()> {
        self.full
            .send(buf)
            .map_err(|_| Error::io("writing output", std::io::Error::other("writer stopped")))
    }
}

/// Runs `f` with a [`Sink`] whose buffers are written to `w` in order on a background thread; at
/// most `depth` buffers wait in the queue.
/// Returns `f`'s result and `w` after everything was written and flushed. A write error stops the
/// writer, makes the next `send` fail, and is the error returned.
pub fn with_writer<W: Write + Send, T>(
    mut w: W,
    depth: usize,
    f: impl FnOnce(&Sink) -> Result<T>,
) -> Result<(T, W)> {
    let (full_tx, full_rx) = sync_channel::<Vec<u8>>(depth);
    let (empty_tx, empty_rx): (Sender<Vec<u8>>, Receiver<Vec<u8>>) = channel();
    std::thread::scope(|s| {
        let writer = s.spawn(move || -> Result<W> {
            for buf in full_rx {
                w.write_all(&buf)
                    .map_err(|e| Error::io("writing output", e))?;
                let _ = empty_tx.send(buf);
            }
            w.flush().map_err(|e| Error::io("writing output", e))?;
            Ok(w)
        });
        let sink = Sink {
            full: full_tx,
            empty: Mutex::new(empty_rx),
        };
        let r = f(&sink);
        drop(sink);
        let w = writer.join().expect("writer thread panicked");
        // The writer's own error (ENOSPC, EPIPE...) is the cause of any "writer stopped" in `f`.
        match (r, w) {
            (Ok(t), Ok(w)) => Ok((t, w)),
            (_, Err(e)) | (Err(e), Ok(_)) => Err(e),
        }
    })
}
