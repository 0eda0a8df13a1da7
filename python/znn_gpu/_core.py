"""Framework-independent core: open a reader, take its tensor table, decode byte ranges into one
buffer per file, remember what is decoded. No numpy or torch import here.

Native interface used (`python/src/reader.rs`):
    r = _native.Reader(source, base=None, threads=None, cache_bytes=None)   # path or bytes
    r.original_len, r.compressed
    r.table()  -> (data_start, [(name, dtype, shape, start, end)], metadata or None)
    r.read_into(start, end, address)   # decode original[start:end) to address; GIL released
    r.stats(), r.close()
A plain (uncompressed) safetensors file opens too: folders may hold both.
"""

import os
import threading

from . import _header
from . import _native
from ._errors import invalid


# A file buffer this large is advised onto huge pages before its first decode: 4 KiB first-touch
# faults cost about as much as decoding (docs/python.md, "Speed").
HUGE_ADVICE_BYTES = 4 << 20


def fspath(filename):
    if isinstance(filename, (bytes, bytearray, memoryview)):
        raise TypeError(f"argument 'filename': {type(filename).__name__!r} object is not an instance of 'str'")
    return os.fspath(filename)


def open_reader(source, *, base=None, threads=None, cache_bytes=None):
    """A native reader over a path or the bytes of a whole file (.znn or plain safetensors)."""
    if isinstance(source, (bytearray, memoryview)):
        source = bytes(source)
    if not isinstance(source, bytes):
        source = fspath(source)
        os.stat(source)  # FileNotFoundError, as safetensors raises it
    if base is not None:
        base = fspath(base)
    return _native.Reader(source, base=base, threads=threads, cache_bytes=cache_bytes)


class Intervals:
    """Merged half-open intervals: which bytes of one tensor are decoded already."""

    __slots__ = ("iv",)

    def __init__(self):
        self.iv = []

    def missing(self, lo, hi):
        out, pos = [], lo
        for a, b in self.iv:
            if b <= pos:
                continue
            if a >= hi:
                break
            if a > pos:
                out.append((pos, a))
            pos = max(pos, b)
            if pos >= hi:
                break
        if pos < hi:
            out.append((pos, hi))
        return out

    def add(self, lo, hi):
        if lo >= hi:
            return
        merged = []
        for a, b in self.iv:
            if b < lo or a > hi:
                merged.append((a, b))
            else:
                lo, hi = min(lo, a), max(hi, b)
        merged.append((lo, hi))
        merged.sort()
        self.iv = merged

    def full(self, n):
        return n == 0 or (len(self.iv) == 1 and self.iv[0][0] == 0 and self.iv[0][1] >= n)


class File:
    """One opened file: reader, tensor table, and (lazily) one buffer for the whole data section.

    `alloc(nbytes) -> (buffer_object, address)` comes from the framework module; the buffer is
    created on first use (virtual memory only until decoded into) and never reallocated, so every
    tensor handed out is a view of it and stays valid after close.
    """

    def __init__(self, source, *, alloc, base=None, threads=None, cache_bytes=None):
        self.reader = open_reader(source, base=base, threads=threads, cache_bytes=cache_bytes)
        try:
            self.header = _header.from_native(self.reader.table())
        except BaseException:
            self.close()
            raise
        self._alloc = alloc
        self._lock = threading.Lock()
        self._tensor_locks = {}
        self._done = {}
        self.buffer = None
        self._addr = 0

    # -- table ------------------------------------------------------------------------------
    def info(self, name):
        if not isinstance(name, str):
            raise TypeError(f"argument 'name': {type(name).__name__!r} object is not an instance of 'str'")
        try:
            return self.header.tensors[name]
        except KeyError:
            raise invalid(f"file does not contain tensor {name}") from None

    # -- buffer -----------------------------------------------------------------------------
    def _ensure_buffer(self):
        if self.buffer is None:
            with self._lock:
                if self.buffer is None:
                    buf, addr = self._alloc(self.header.data_len)
                    self._addr = addr
                    self.buffer = buf
        return self.buffer

    def _tensor_lock(self, name):
        with self._lock:
            lk = self._tensor_locks.get(name)
            if lk is None:
                lk = self._tensor_locks[name] = threading.Lock()
                self._done[name] = Intervals()
            return lk

    def decode(self, info, lo=0, hi=None):
        """Make bytes [lo, hi) of tensor `info` (relative to the tensor) valid in the buffer."""
        hi = info.nbytes if hi is None else hi
        self._ensure_buffer()
        if lo >= hi:
            return
        with self._tensor_lock(info.name):
            done = self._done[info.name]
            for a, b in done.missing(lo, hi):
                base = self.header.data_start + info.start
                self.reader.read_into(base + a, base + b, self._addr + info.start + a)
                done.add(a, b)

    def decode_all(self):
        """Whole data section in one native call (all threads, one pass) when nothing of it was
        decoded yet; else each tensor's missing bytes. Every tensor lock is held meanwhile, so that
        no byte is ever written by two decodes at once."""
        self._ensure_buffer()
        todo = [t for t in self.header.tensors.values() if t.nbytes]
        if not todo:
            return
        locks = [self._tensor_lock(t.name) for t in todo]  # one fixed order: no deadlock
        for lk in locks:
            lk.acquire()
        try:
            if all(not self._done[t.name].iv for t in todo):
                ds = self.header.data_start
                self.reader.read_into(ds, ds + self.header.data_len, self._addr)
                for t in todo:
                    self._done[t.name].add(0, t.nbytes)
            else:
                for t in todo:
                    done = self._done[t.name]
                    for a, b in done.missing(0, t.nbytes):
                        base = self.header.data_start + t.start
                        self.reader.read_into(base + a, base + b, self._addr + t.start + a)
                        done.add(a, b)
        finally:
            for lk in locks:
                lk.release()

    def decode_to(self, info, lo, hi, address):
        """Decode bytes [lo, hi) of a tensor to foreign memory (pinned staging); not remembered."""
        if lo < hi:
            base = self.header.data_start + info.start
            self.reader.read_into(base + lo, base + hi, address)

    def close(self):
        r, self.reader = getattr(self, "reader", None), None
        if r is not None:
            r.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# -- indexing ---------------------------------------------------------------------------------
def dim0_rows(shape, key):
    """For `key` applied to a tensor of `shape`: (r0, r1, key2) such that decoding rows [r0, r1)
    and applying key2 to those rows (shape (r1-r0, *shape[1:])) gives the same result; or None when
    the whole tensor is needed (scalars, Ellipsis/None/lists/arrays first, negative steps)."""
    if not shape:
        return None
    if not isinstance(key, tuple):
        key = (key,)
    if not key:
        return None
    k0, n = key[0], shape[0]
    if isinstance(k0, bool):
        return None
    if isinstance(k0, int):
        i = k0 + n if k0 < 0 else k0
        if not 0 <= i < n:
            return None  # let the framework raise its own IndexError
        return i, i + 1, (0,) + key[1:]
    if isinstance(k0, slice):
        if k0.step is not None and not isinstance(k0.step, int):
            return None
        if k0.step == 0:
            return None  # framework raises "step cannot be zero"
        start, stop, step = k0.indices(n)
        if step < 0:
            return None
        rows = range(start, stop, step)
        if len(rows) == 0:
            return 0, 0, (slice(0, 0),) + key[1:]
        r0, r1 = rows[0], rows[-1] + 1
        return r0, r1, (slice(0, r1 - r0, step),) + key[1:]
    return None


def row_bytes(info):
    """Bytes per dim-0 row, or None when rows don't fall on byte boundaries (F4/F6 oddities)."""
    if not info.shape or info.shape[0] == 0:
        return None
    if info.nbytes % info.shape[0]:
        return None
    return info.nbytes // info.shape[0]


__all__ = ["File", "dim0_rows", "row_bytes", "open_reader", "fspath"]
