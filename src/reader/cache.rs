//! Decoded chunks, shared by readers and bounded in bytes (least recently used first out).
//!
//! A chunk is decoded once however many threads ask for it at the same time: the first inserts a
//! slot and decodes outside the lock, the others wait on that slot. A failed decode is handed to
//! every waiter and then forgotten, so a later read tries again (an I/O error may pass; a corrupt
//! chunk fails again, the same way, every time).
//!
//! Buffers of evicted chunks nobody holds any more are kept (a few) and handed to the next decode:
//! a reader streaming through a large file then decodes into memory it already has, instead of
//! faulting in fresh pages for every chunk, and its RSS stays near the cache's bound.

use crate::error::Result;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// A chunk of one reader: (reader id, chunk index).
pub type Key = (u64, usize);

/// A decoded chunk.
pub type Data = Arc<Vec<u8>>;

type Slot = OnceLock<Result<Data>>;

/// Evicted buffers kept for reuse.
const FREE_BUFFERS: usize = 16;

struct Entry {
    slot: Arc<Slot>,
    tick: u64,
    /// Bytes held once decoded; 0 while the decode is in flight (never evicted then).
    bytes: u64,
}

#[derive(Default)]
struct State {
    map: HashMap<Key, Entry>,
    /// Filled entries by last use.
    lru: BTreeMap<u64, Key>,
    tick: u64,
    bytes: u64,
    free: Vec<Vec<u8>>,
}

/// Decoded chunks of any number of readers, at most `capacity` bytes of them (one chunk may exceed
/// it while it is being used: it is returned, then dropped).
pub struct ChunkCache {
    capacity: u64,
    state: Mutex<State>,
}

impl ChunkCache {
    pub fn new(capacity: u64) -> Arc<ChunkCache> {
        Arc::new(ChunkCache {
            capacity,
            state: Mutex::default(),
        })
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Decoded bytes held now.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// True when `key` is decoded or being decoded.
    pub fn contains(&self, key: Key) -> bool {
        self.lock().map.contains_key(&key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The decoded chunk `key`, decoding it with `decode` unless it is cached or another thread is
    /// decoding it (then this waits for that decode). `decode` gets a recycled buffer (any length,
    /// any contents) to decode into and returns it filled.
    pub fn get_or_decode(
        &self,
        key: Key,
        decode: impl FnOnce(Vec<u8>) -> Result<Vec<u8>>,
    ) -> Result<Data> {
        let slot = {
            let mut st = self.lock();
            st.tick += 1;
            let tick = st.tick;
            match st.map.get_mut(&key) {
                Some(e) => {
                    let old = std::mem::replace(&mut e.tick, tick);
                    let (slot, filled) = (e.slot.clone(), e.bytes > 0);
                    if filled {
                        st.lru.remove(&old);
                        st.lru.insert(tick, key);
                    }
                    slot
                }
                None => {
                    let slot = Arc::new(Slot::new());
                    st.map.insert(
                        key,
                        Entry {
                            slot: slot.clone(),
                            tick,
                            bytes: 0,
                        },
                    );
                    slot
                }
            }
        };
        let r = slot.get_or_init(|| {
            let buf = self.lock().free.pop().unwrap_or_default();
            decode(buf).map(Arc::new)
        });
        let mut st = self.lock();
        let ours = st
            .map
            .get(&key)
            .is_some_and(|e| Arc::ptr_eq(&e.slot, &slot));
        match r {
            Ok(data) => {
                if ours && st.map[&key].bytes == 0 {
                    let e = st.map.get_mut(&key).expect("checked above");
                    e.bytes = (data.len() as u64).max(1);
                    let (tick, bytes) = (e.tick, e.bytes);
                    st.lru.insert(tick, key);
                    st.bytes += bytes;
                    self.evict(&mut st);
                }
                Ok(data.clone())
            }
            Err(e) => {
                if ours {
                    st.map.remove(&key);
                }
                Err(e.clone())
            }
        }
    }

    fn evict(&self, st: &mut State) {
        while st.bytes > self.capacity {
            let Some((_, key)) = st.lru.pop_first() else {
                break;
            };
            if let Some(e) = st.map.remove(&key) {
                st.bytes -= e.bytes;
                recycle(st, e.slot);
            }
        }
    }

    /// Drops every chunk of reader `id` (when it closes).
    pub fn forget(&self, id: u64) {
        let mut st = self.lock();
        let keys: Vec<Key> = st.map.keys().filter(|k| k.0 == id).copied().collect();
        for k in keys {
            if let Some(e) = st.map.remove(&k) {
                if e.bytes > 0 {
                    st.lru.remove(&e.tick);
                    st.bytes -= e.bytes;
                }
            }
        }
    }
}

/// Keeps the buffer of an evicted chunk when nothing else holds it.
fn recycle(st: &mut State, slot: Arc<Slot>) {
    if st.free.len() >= FREE_BUFFERS {
        return;
    }
    if let Some(Ok(data)) = Arc::into_inner(slot).and_then(OnceLock::into_inner) {
        if let Some(buf) = Arc::into_inner(data) {
            st.free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn bounded_deduplicated_and_errors_not_kept() {
        let c = ChunkCache::new(3000);
        let calls = AtomicUsize::new(0);
        let get = |k: usize| {
            c.get_or_decode((1, k), |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(vec![k as u8; 1000])
            })
            .unwrap()
        };
        for k in 0..3 {
            assert_eq!(get(k)[0], k as u8);
        }
        assert_eq!(c.bytes(), 3000);
        get(0); // 0 is now the most recent: 1 goes first
        get(3);
        assert_eq!(c.bytes(), 3000);
        assert!(c.contains((1, 0)) && !c.contains((1, 1)));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // Concurrent askers of one key decode it once.
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| get(7));
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        let e = c.get_or_decode((1, 9), |_| Err(crate::Error::corrupt("bad")));
        assert!(e.is_err() && !c.contains((1, 9)));
        c.forget(1);
        assert_eq!(c.bytes(), 0);
    }
}
