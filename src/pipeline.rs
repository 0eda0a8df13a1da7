//! Overlaps writing with coding: a scoped background thread writes finished windows while the rayon
//! pool codes the next one. Writing 45 MB to tmpfs costs ~18 ms from one thread on the VMs measured
//! here, as long as decoding it, so doing both in turn would halve file-to-file throughput.

use crate::error::{Error, Result};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

/// Hands filled buffers to the writer thread and gets emptied ones back.
pub struct Sink {
    full: SyncSender<Vec<u8>>,
    empty: Mutex<Receiver<Vec<u8>>>,
    /// Buffers [`Sink::bounded_buffer`] has allocated so far.
    made: AtomicUsize,
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

    /// Like [`Sink::buffer`] for a caller that sends each buffer before it asks for the next: once
    /// `limit` buffers exist it waits for the writer to return one instead of allocating. Without
    /// the wait the decoder, which asks right after each send, usually beats the writer's return and
    /// pays a fresh buffer's page faults and clearing per window (23% of a one-thread `verify`).
    pub fn bounded_buffer(&self, cap: usize, limit: usize) -> Vec<u8> {
        let empty = self.empty.lock().unwrap();
        if let Ok(b) = empty.try_recv() {
            return b;
        }
        if self.made.load(Ordering::Relaxed) >= limit {
            // A stopped writer drops its sender: then a new buffer, whose `send` reports the error.
            if let Ok(b) = empty.recv() {
                return b;
            }
        }
        self.made.fetch_add(1, Ordering::Relaxed);
        crate::buffer::with_capacity(cap)
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
            made: AtomicUsize::new(0),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes `ok` writes, slowly, then fails.
    struct Flaky {
        ok: usize,
        got: Vec<u8>,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(std::time::Duration::from_millis(2));
            if self.ok == 0 {
                return Err(std::io::Error::other("disk full"));
            }
            self.ok -= 1;
            self.got.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn windows(sink: &Sink, n: u8) -> Result<usize> {
        for i in 0..n {
            let mut b = sink.bounded_buffer(1000, 3);
            b.clear();
            b.resize(1000, i);
            sink.send(b)?;
        }
        Ok(sink.made.load(Ordering::Relaxed))
    }

    #[test]
    fn bounded_buffers_are_recycled_and_written_in_order() {
        let w = Flaky {
            ok: usize::MAX,
            got: Vec::new(),
        };
        let (made, w) = with_writer(w, 1, |s| windows(s, 20)).unwrap();
        // A slow writer: the decoder waits for returned buffers instead of making a new one each.
        assert!(made <= 3, "{made} buffers for 20 windows");
        let want: Vec<u8> = (0..20u8).flat_map(|i| [i; 1000]).collect();
        assert_eq!(w.got, want);
    }

    #[test]
    fn a_failing_writer_stops_a_bounded_producer_without_a_hang() {
        let w = Flaky {
            ok: 2,
            got: Vec::new(),
        };
        let Err(e) = with_writer(w, 1, |s| windows(s, 50)) else {
            panic!("a failed write was not reported");
        };
        assert!(e.to_string().contains("disk full"), "{e}");
    }
}
