"""NumPy side of znn_gpu, the `safetensors.numpy` API over `.znn` files.

BF16 and the FP8 kinds come through `ml_dtypes` (imported only when a file holds them):
BF16 -> ml_dtypes.bfloat16, F8_E4M3 -> float8_e4m3fn, F8_E5M2 -> float8_e5m2,
F8_E4M3FNUZ -> float8_e4m3fnuz, F8_E5M2FNUZ -> float8_e5m2fnuz, F8_E8M0 -> float8_e8m0fnu.
(safetensors 0.8 itself: `safetensors.numpy.load` raises KeyError('BF16'), and safe_open(framework=
"np") gives BF16 only once ml_dtypes was imported by someone and fails on every FP8 kind with
AttributeError: numpy has no float8_e4m3fn.) F4/F6 have no numpy view (packed sub-byte) and raise.

Arrays of one file are views of one `np.empty(n, uint8)` buffer, writable.
"""

import sys

import numpy as np

from . import _core, _dtypes, _header, _native
from ._core import File, fspath
from ._errors import invalid

if sys.byteorder != "little":  # pragma: no cover
    raise ImportError("znn_gpu.numpy supports little-endian hosts only")

_PLAIN = {
    "BOOL": np.dtype(bool),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F64": np.dtype("<f8"),
    "C64": np.dtype("<c8"),
}
_ML = {
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
    "F8_E8M0": "float8_e8m0fnu",
}


def np_dtype(code):
    dt = _PLAIN.get(code)
    if dt is not None:
        return dt
    name = _ML.get(code)
    if name is None:
        raise invalid(f"dtype {code} has no numpy equivalent")
    try:
        import ml_dtypes
    except ImportError:
        raise invalid(f"dtype {code} needs the ml_dtypes package (pip install ml_dtypes)") from None
    return np.dtype(getattr(ml_dtypes, name))


def _view(buf, offset, info, rows=None):
    dt = np_dtype(info.dtype)
    shape, nbytes = info.shape, info.nbytes
    if rows is not None:
        r0, r1 = rows
        rb = nbytes // info.shape[0]
        offset, nbytes = offset + r0 * rb, (r1 - r0) * rb
        shape = (r1 - r0, *shape[1:])
    return buf[offset : offset + nbytes].view(dt).reshape(shape)


class _Backend:
    def __init__(self, device):
        if device not in ("cpu", None):
            raise invalid(f"device {device} is not supported for framework numpy")

    def alloc(self, nbytes):
        buf = np.empty(nbytes, dtype=np.uint8)
        if nbytes >= _core.HUGE_ADVICE_BYTES:
            _native.advise_huge(buf.ctypes.data, nbytes)
        return buf, buf.ctypes.data

    def tensor(self, file, info):
        np_dtype(info.dtype)  # fail before decoding
        file.decode(info)
        return _view(file.buffer, info.start, info)

    def rows(self, file, info, r0, r1):
        rb = info.nbytes // info.shape[0]
        file.decode(info, r0 * rb, r1 * rb)
        return _view(file.buffer, info.start, info, (r0, r1))

    def getitem(self, t, key):
        return t[key]

    def tensors(self, file):
        for info in file.header.tensors.values():
            np_dtype(info.dtype)
        file.decode_all()
        return {name: _view(file.buffer, info.start, info) for name, info in file.header.tensors.items()}


def load_file(filename, *, backend="mmap", threads=None, base=None):
    from ._open import safe_open

    with safe_open(filename, framework="np", backend=backend, threads=threads, base=base) as f:
        return f.get_tensors()


def load(data, *, threads=None, base=None):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"argument 'data': {type(data).__name__!r} object is not bytes-like")
    be = _Backend("cpu")
    return be.tensors(File(data, alloc=be.alloc, threads=threads, base=base))


def _prepare(tensor_dict, metadata):
    if not isinstance(tensor_dict, dict):
        raise ValueError(f"Expected a dict of [str, np.ndarray] but received {type(tensor_dict)}")
    _header.check_names(tensor_dict)
    _header.metadata_pairs(metadata)
    keep, entries = {}, []
    for k, v in tensor_dict.items():
        if not isinstance(v, np.ndarray):
            raise ValueError(f"Key `{k}` is invalid, expected numpy.ndarray but received {type(v)}")
        code = _dtypes.NAME_TO_CODE.get(v.dtype.name)
        if code is None or code == "F4":
            raise ValueError(f"dtype {v.dtype} of `{k}` cannot be stored in safetensors")
        if v.dtype.byteorder == ">":
            v = v.astype(v.dtype.newbyteorder("<"))
        v = np.ascontiguousarray(v)  # safetensors.numpy writes a non-contiguous array's raw memory
        keep[k] = v
        entries.append((k, code, list(v.shape), v.ctypes.data if v.nbytes else 0, v.nbytes))
    return entries, keep


def save_file(tensor_dict, filename, metadata=None, *, threads=None, base=None, codecs="fast"):
    """`safetensors.numpy.save_file`, compressed straight from the arrays' memory. `codecs`: "fast"
    (default), "balanced", "small" or "smallest", as for `znn_gpu.compress_file`."""
    entries, keep = _prepare(tensor_dict, metadata)
    _native.save(entries, _header.metadata_pairs(metadata), fspath(filename), threads=threads,
                 base=None if base is None else fspath(base), codecs=codecs)
    del keep


def save(tensor_dict, metadata=None, *, threads=None, base=None, codecs="fast"):
    """`save_file` to bytes (the `.znn`)."""
    entries, keep = _prepare(tensor_dict, metadata)
    out = _native.save(entries, _header.metadata_pairs(metadata), None, threads=threads,
                       base=None if base is None else fspath(base), codecs=codecs)
    del keep
    return out


def load_folder(path, *, threads=None, strict=True):
    """`znn_gpu.torch.load_folder` with numpy arrays."""
    mf = _native.model_files(fspath(path))
    out, found = {}, []
    for _name, shard, _compressed in mf.shards:
        part = load_file(shard, threads=threads)
        found.append(list(part))
        out.update(part)
    if strict:
        mf.check(found)
    return out


__all__ = ["load_file", "load", "save_file", "save", "load_folder", "np_dtype"]
