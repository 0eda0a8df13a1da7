"""znn_gpu: lossless compressed neural-network weights (`.znn`), loaded with the safetensors API.

    import znn_gpu
    with znn_gpu.safe_open("model.safetensors.znn", framework="pt") as f:   # or "np"
        w = f.get_slice("embed.weight")[:1000]       # decodes only the chunks these rows cover
    sd = znn_gpu.torch.load_file("model.safetensors.znn")             # one buffer, tensor views
    znn_gpu.torch.save_file(sd, "copy.safetensors.znn", metadata={"format": "pt"})
    model = znn_gpu.transformers.from_pretrained(AutoModel, "./model.znn")   # compressed folder

`import znn_gpu` imports neither torch nor numpy; `znn_gpu.torch`, `znn_gpu.numpy` and
`znn_gpu.transformers` load on first use. Every failure of the library is a `znn_gpu.ZnnError`
whose `.kind` is one of "corrupt", "truncated", "unsupported version", "invalid argument", "io",
"gpu" (or "internal" for a bug).
"""

import importlib as _importlib
import os as _os

from . import _native
from ._errors import ZnnError
from ._open import ZnnSlice, safe_open

__version__ = getattr(_native, "__version__", "0.0.0")


def _path(p):
    return None if p is None else _os.fspath(p)


def compress_file(
    src, dst=None, *, threads=None, dtype=None, base=None, overwrite=False, codecs="fast"
):
    """Compress a file or a model folder, as `znn-gpu compress SRC [-o DST]`: a file to `dst`
    (default SRC.znn beside it); a folder to NAME.znn beside each weight file, or, with `dst`, to a
    mirrored tree (weights compressed, other files copied). `dtype`: how to read a file that is not
    safetensors ("bf16", "fp16", "fp32", "fp64", "byte"); `base`: store a delta against this file
    (or folder of files). `threads`: coding threads (default all cores). `codecs`: the CLI's
    `--codecs`, "fast" (default; format v1, which every build and decoder reads), "balanced" (adds
    pair codes, format v3: smaller on BF16, slower to compress), "small" (the best pair width per
    chunk: a little smaller again, slower still) or "smallest" (adds rANS, format v4: the smallest
    files, a quarter smaller fine-tune deltas, slower to decode); any other name raises ZnnError
    of kind "invalid argument". A delta is coded as "fast" unless the set is "smallest". Returns
    `(original_bytes, compressed_bytes)`."""
    return _native.compress_file(
        _path(src),
        _path(dst),
        threads=threads,
        dtype=dtype,
        base=_path(base),
        overwrite=overwrite,
        codecs=codecs,
    )


def decompress_file(src, dst=None, *, threads=None, base=None, overwrite=False):
    """Decompress a `.znn` (default output: SRC without `.znn`) or every `.znn` of a folder, every
    chunk checked. `base`: the base file a delta was made against. Returns
    `(original_bytes, compressed_bytes)`."""
    return _native.decompress_file(
        _path(src), _path(dst), threads=threads, base=_path(base), overwrite=overwrite
    )


def verify_file(src, *, threads=None, base=None):
    """Decode every chunk and check every checksum, writing nothing; raises ZnnError when the file
    is damaged. Returns `{"original_bytes": n, "xxh3": "<16 hex digits>"}` (xxh3-64 of the
    original)."""
    n, h = _native.verify_file(_path(src), threads=threads, base=_path(base))
    return {"original_bytes": n, "xxh3": f"{h:016x}"}


def compress_bytes(data, *, threads=None, dtype=None, codecs="fast"):
    """The `.znn` bytes of `data` (bytes-like); `dtype` and `codecs` as for `compress_file`."""
    return _native.compress_bytes(bytes(data), threads=threads, dtype=dtype, codecs=codecs)


def decompress_bytes(data, *, threads=None, base=None):
    """The original bytes of an in-memory `.znn` (decoded in place into one bytearray)."""
    r = _native.Reader(bytes(data), base=_path(base), threads=threads)
    out = bytearray(r.original_len)
    if out:
        import ctypes

        r.read_into(0, len(out), ctypes.addressof((ctypes.c_char * len(out)).from_buffer(out)))
    return bytes(out)


_SUBMODULES = ("torch", "numpy", "transformers")


def __getattr__(name):
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ZnnError",
    "ZnnSlice",
    "safe_open",
    "compress_file",
    "decompress_file",
    "verify_file",
    "compress_bytes",
    "decompress_bytes",
    "__version__",
]
