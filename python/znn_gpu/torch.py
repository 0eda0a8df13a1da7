"""PyTorch side of znn_gpu, the `safetensors.torch` API over `.znn` files.

    load_file(path, device="cpu")     -> {name: tensor}, offset order; one buffer per file
    load(data)                        -> the same from the bytes of a .znn (or plain safetensors)
    save_file(tensors, path, metadata=None)   compressed straight from the tensors
    save(tensors, metadata=None)      -> bytes of a .znn
    load_folder(dir, device="cpu")    -> merged state dict of a (compressed) model folder / snapshot

CPU: the whole data section of a file is decoded, on all threads with the GIL released, into one
`torch.empty(n, dtype=uint8)`; every tensor is a view of it (as safetensors' tensors are views of
its mmap). device="cuda[:N]": decoded into pinned host memory (two reusable staging buffers), each
tensor copied with `.to(device, non_blocking=True)` while the next batch decodes. Other torch
devices: CPU views, then `.to(device)`. The wgpu decoder (znn-gpu --device gpu) is not used here:
it decodes into a wgpu buffer, which torch cannot adopt without a copy through the host.
"""

import sys

import torch

from . import _core, _dtypes, _header, _native
from ._core import File, fspath
from ._errors import invalid

if sys.byteorder != "little":  # pragma: no cover
    raise ImportError("znn_gpu.torch supports little-endian hosts only")

_TORCH = {}
for _name, _code in _dtypes.NAME_TO_CODE.items():
    _dt = getattr(torch, _name, None)
    if _dt is not None:
        _TORCH[_code] = _dt
_CODE = {v: k for k, v in _TORCH.items()}

STAGING_BYTES = 256 << 20


def _parse_device(device):
    if isinstance(device, torch.device):
        return device
    if isinstance(device, int) and not isinstance(device, bool):
        return torch.device(device)
    if isinstance(device, str):
        try:
            return torch.device(device)
        except RuntimeError:
            raise invalid(f"device {device} is invalid") from None
    raise invalid(f"device {device!r} is invalid")


def _torch_dtype(code):
    dt = _TORCH.get(code)
    if dt is None:
        raise invalid(f"dtype {code} has no torch equivalent in torch {torch.__version__}")
    return dt


def _shape(info):
    if info.dtype == "F4":  # torch.float4_e2m1fn_x2 packs two elements per byte
        return (*info.shape[:-1], info.shape[-1] // 2)
    return info.shape


def _view(buf, offset, info, rows=None):
    """A tensor over buf[offset : offset + nbytes], of the tensor's dtype and shape (or its rows)."""
    dt = _torch_dtype(info.dtype)
    shape = _shape(info)
    nbytes = info.nbytes
    if rows is not None:
        r0, r1 = rows
        rb = nbytes // info.shape[0]
        offset, nbytes = offset + r0 * rb, (r1 - r0) * rb
        shape = (r1 - r0, *shape[1:])
    t = buf[offset : offset + nbytes]
    if dt.itemsize > 1 and offset % dt.itemsize:
        t = t.clone()  # misaligned in a hand-made file: view(dtype) needs an aligned offset
    return t.view(dt).reshape(shape)


class _Backend:
    def __init__(self, device):
        self.device = _parse_device(device)
        self.kind = "cpu" if self.device.type == "cpu" else ("cuda" if self.device.type == "cuda" else "other")

    def alloc(self, nbytes):
        buf = torch.empty(nbytes, dtype=torch.uint8)
        if nbytes >= _core.HUGE_ADVICE_BYTES:
            _native.advise_huge(buf.data_ptr(), nbytes)
        return buf, buf.data_ptr()

    # one tensor -----------------------------------------------------------------------------
    def host_tensor(self, file, info):
        if self.kind == "cuda":  # per-tensor pinned staging, as safetensors' CUDA path
            staging = torch.empty(info.nbytes, dtype=torch.uint8, pin_memory=True)
            file.decode_to(info, 0, info.nbytes, staging.data_ptr())
            return _view(staging, 0, info)
        file.decode(info)
        return _view(file.buffer, info.start, info)

    def host_rows(self, file, info, r0, r1):
        rb = info.nbytes // info.shape[0]
        if self.kind == "cuda":
            staging = torch.empty((r1 - r0) * rb, dtype=torch.uint8, pin_memory=True)
            file.decode_to(info, r0 * rb, r1 * rb, staging.data_ptr())
            return _view(staging, -r0 * rb, info, (r0, r1))  # staging[0] is row r0
        file.decode(info, r0 * rb, r1 * rb)
        return _view(file.buffer, info.start, info, (r0, r1))

    def finish(self, t):
        if self.kind == "cpu":
            return t
        return t.to(self.device, non_blocking=self.kind == "cuda")

    # the interface _open.py uses ----------------------------------------------------------------
    def tensor(self, file, info):
        return self.finish(self.host_tensor(file, info))

    def rows(self, file, info, r0, r1):
        return self.host_rows(file, info, r0, r1)

    def getitem(self, t, key):
        return self.finish(t[key]) if t.device.type == "cpu" else t[key]

    def tensors(self, file):
        if self.kind == "cuda":
            return _load_cuda(file, self.device)
        file.decode_all()
        out = {name: _view(file.buffer, info.start, info) for name, info in file.header.tensors.items()}
        if self.kind == "other":
            out = {k: v.to(self.device) for k, v in out.items()}
        return out


def _load_cuda(file, device, staging_bytes=None):
    """Decode batches of consecutive tensors into two alternating pinned buffers; each tensor is
    copied asynchronously while the next batch decodes (the decode releases the GIL)."""
    staging_bytes = staging_bytes or STAGING_BYTES
    infos = list(file.header.tensors.values())
    batches, cur, size = [], [], 0
    for t in infos:
        if cur and size + t.nbytes > staging_bytes:
            batches.append(cur)
            cur, size = [], 0
        cur.append(t)
        size += t.nbytes
    if cur:
        batches.append(cur)
    stream = torch.cuda.current_stream(device)
    pinned, events, out = [None, None], [None, None], {}
    ds = file.header.data_start
    for i, batch in enumerate(batches):
        slot = i % 2
        s0, need = batch[0].start, batch[-1].end - batch[0].start
        if events[slot] is not None:
            events[slot].synchronize()  # the copies out of this buffer are done
        if pinned[slot] is None or pinned[slot].numel() < need:
            pinned[slot] = torch.empty(max(need, 1), dtype=torch.uint8, pin_memory=True)
        buf = pinned[slot]
        if need:
            file.reader.read_into(ds + s0, ds + s0 + need, buf.data_ptr())
        for t in batch:
            out[t.name] = _view(buf, t.start - s0, t).to(device, non_blocking=True)
        ev = torch.cuda.Event()
        ev.record(stream)
        events[slot] = ev
    for ev in events:
        if ev is not None:
            ev.synchronize()  # tensors returned are ready, as safetensors' (blocking) ones
    return out


# -- public API ------------------------------------------------------------------------------------
def load_file(filename, device="cpu", *, backend="mmap", threads=None, base=None):
    """`safetensors.torch.load_file` for `.znn` (and plain safetensors) files."""
    from ._open import safe_open

    with safe_open(filename, framework="pt", device=device, backend=backend, threads=threads, base=base) as f:
        return f.get_tensors()


def load(data, *, threads=None, base=None):
    """`safetensors.torch.load` for the bytes of a `.znn` (or of a plain safetensors file).
    Tensors are views of one writable buffer (safetensors' `load` copies each tensor out of the
    input into its own buffer, and returns them in a random order; ours are in offset order)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"argument 'data': {type(data).__name__!r} object is not bytes-like")
    be = _Backend("cpu")
    f = File(data, alloc=be.alloc, threads=threads, base=base)
    return be.tensors(f)


def _prepare(tensors, metadata):
    """(entries for the native `save`, the tensors to keep alive during it). The library lays the
    file out (order, header) as safetensors does; here only torch's side: dtype codes, refusals as
    safetensors.torch refuses, CPU memory."""
    if not isinstance(tensors, dict):
        raise ValueError(f"Expected a dict of [str, torch.Tensor] but received {type(tensors)}")
    _header.check_names(tensors)
    _header.metadata_pairs(metadata)
    for k, v in tensors.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"Key `{k}` is invalid, expected torch.Tensor but received {type(v)}")
    sparse = [k for k, v in tensors.items() if v.layout != torch.strided]
    if sparse:
        raise ValueError(f"You are trying to save a sparse tensors: `{sparse}` which this library does not support.")
    _check_shared(tensors)
    keep, entries = {}, []
    for k, v in tensors.items():
        if not v.is_contiguous():
            raise ValueError(
                f"You are trying to save a non contiguous tensor: `{k}` which is not allowed. "
                "Call `.contiguous()` on it before saving."
            )
        if v.device.type != "cpu":
            v = v.to("cpu")
        code = _CODE.get(v.dtype)
        if code is None:
            raise ValueError(f"dtype {v.dtype} of `{k}` cannot be stored in safetensors")
        shape = list(v.shape)
        if code == "F4":
            shape[-1] *= 2
        nb = v.numel() * v.element_size()
        keep[k] = v
        entries.append((k, code, shape, v.data_ptr() if nb else 0, nb))
    return entries, keep


def _check_shared(tensors):
    groups = {}
    for k, v in tensors.items():
        if v.device.type == "meta" or v.numel() == 0:
            continue
        st = v.untyped_storage()
        if st.data_ptr() == 0 or st.nbytes() == 0:
            continue
        groups.setdefault((v.device, st.data_ptr()), []).append(
            (v.data_ptr(), v.data_ptr() + v.numel() * v.element_size(), k)
        )
    failing = []
    for areas in groups.values():
        areas.sort()
        cur, stop = {areas[0][2]}, areas[0][1]
        for a, b, name in areas[1:]:
            if a < stop:
                cur.add(name)
            else:
                if len(cur) > 1:
                    failing.append(cur)
                cur = {name}
            stop = max(stop, b)
        if len(cur) > 1:
            failing.append(cur)
    if failing:
        raise RuntimeError(
            f"Some tensors share memory, this will lead to duplicate memory on disk and potential "
            f"differences when loading them again: {failing}."
        )


def save_file(tensors, filename, metadata=None, *, threads=None, base=None, codecs="fast"):
    """Compress `tensors` to `filename` (a `.znn`, replaced when it exists, written atomically),
    straight from the tensors' memory: no intermediate file or joined copy. Decompressing it gives
    the bytes `safetensors.torch.save_file(tensors, ..., metadata)` writes (metadata keys in dict
    order: safetensors' own order for two or more keys is random). `codecs`: "fast" (default),
    "balanced", "small" or "smallest", as for `znn_gpu.compress_file`."""
    entries, keep = _prepare(tensors, metadata)
    _native.save(entries, _header.metadata_pairs(metadata), fspath(filename), threads=threads,
                 base=None if base is None else fspath(base), codecs=codecs)
    del keep


def save(tensors, metadata=None, *, threads=None, base=None, codecs="fast"):
    """`save_file` to bytes (the `.znn`)."""
    entries, keep = _prepare(tensors, metadata)
    out = _native.save(entries, _header.metadata_pairs(metadata), None, threads=threads,
                       base=None if base is None else fspath(base), codecs=codecs)
    del keep
    return out


def load_folder(path, device="cpu", *, threads=None, strict=True):
    """Merged state dict of every weight shard of a model folder (its index names the original
    shard files; each is read from NAME.znn, or NAME when left uncompressed), of a Hugging Face
    cache repo folder (`models--org--name`: the snapshot refs/main names) or of one file. One
    buffer per shard. `strict`: check that no tensor is in two shards and that the shards hold
    exactly what the index says (a ZnnError otherwise); with `strict=False` a later shard wins."""
    mf = _native.model_files(fspath(path))
    out, found = {}, []
    for _name, shard, _compressed in mf.shards:
        part = load_file(shard, device=device, threads=threads)
        found.append(list(part))
        out.update(part)
    if strict:
        mf.check(found)
    return out


__all__ = ["load_file", "load", "save_file", "save", "load_folder"]
