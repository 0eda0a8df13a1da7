"""`znn_gpu.safe_open`: the safetensors `safe_open` API over a `.znn` (or a plain safetensors) file."""

from . import _core
from ._errors import invalid

_PT = ("pt", "torch", "pytorch")
_NP = ("np", "numpy")
_OTHER = ("tf", "tensorflow", "jax", "flax", "mlx", "paddle")
_BACKENDS = ("mmap", "pread")


def _backend_for(framework, device):
    if not isinstance(framework, str):
        raise TypeError(f"argument 'framework': {type(framework).__name__!r} object is not an instance of 'str'")
    if framework in _PT:
        from .torch import _Backend
    elif framework in _NP:
        from .numpy import _Backend
    elif framework in _OTHER:
        raise invalid(f"framework {framework} is not supported by znn_gpu (use 'pt' or 'np')")
    else:
        raise invalid(f"framework {framework} is invalid")
    return _Backend(device)


class safe_open:
    """Opens a `.znn` (or plain safetensors) file lazily and returns tensors as asked.

    Same signature as `safetensors.safe_open` (framework is required, `backend=` is accepted and
    validated for transformers' sake: decoding always goes to memory), plus `threads`, `base`
    (the base file of a delta) and `cache_bytes`. Tensors of one file are views of one buffer,
    decoded on first use; a slice along dim 0 decodes only the bytes (chunks) it covers.
    """

    def __init__(self, filename, framework, device="cpu", *, backend="mmap", threads=None, base=None,
                 cache_bytes=None):
        if backend not in _BACKENDS:
            raise invalid(f'backend "{backend}" is invalid (expected one of: "mmap", "pread")')
        self._backend = _backend_for(framework, device)
        self._file = _core.File(
            _core.fspath(filename), alloc=self._backend.alloc, base=base, threads=threads,
            cache_bytes=cache_bytes,
        )
        self._closed = False

    # context manager ------------------------------------------------------------------------
    def __enter__(self):
        self._check()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def close(self):
        # Tensors and slices handed out stay valid: the reader is closed when the last slice that
        # still needs it goes away (File.__del__), as safetensors keeps its mmap alive for them.
        self._closed = True
        self._file = None

    def _check(self):
        if self._closed:
            raise invalid("file is closed")

    # table ------------------------------------------------------------------------------------
    def keys(self):
        """Tensor names, sorted (as safetensors)."""
        self._check()
        return sorted(self._file.header.tensors)

    def offset_keys(self):
        """Tensor names in the order of their data in the file."""
        self._check()
        return list(self._file.header.tensors)

    def metadata(self):
        """The `__metadata__` dict (a copy), or None when the file has none."""
        self._check()
        m = self._file.header.metadata
        return None if m is None else dict(m)

    # tensors ----------------------------------------------------------------------------------
    def get_tensor(self, name):
        self._check()
        info = self._file.info(name)
        return self._backend.tensor(self._file, info)

    def get_slice(self, name):
        self._check()
        return ZnnSlice(self._file, self._file.info(name), self._backend)

    def get_tensors(self):
        """Every tensor, in offset order; decoded in one pass on all threads."""
        self._check()
        return self._backend.tensors(self._file)


class ZnnSlice:
    """What `get_slice` returns: shape and dtype without decoding, and `[...]` that decodes only
    the dim-0 rows the index covers. Usable after the file is closed (as safetensors' slices)."""

    __slots__ = ("_file", "_info", "_backend")

    def __init__(self, file, info, backend):
        self._file, self._info, self._backend = file, info, backend

    def get_shape(self):
        return list(self._info.shape)

    def get_dtype(self):
        return self._info.dtype

    def __getitem__(self, key):
        info, be = self._info, self._backend
        plan = _core.dim0_rows(info.shape, key)
        if plan is None or _core.row_bytes(info) is None:
            return be.getitem(be.tensor(self._file, info), key)
        r0, r1, key2 = plan
        return be.getitem(be.rows(self._file, info, r0, r1), key2)

    def __repr__(self):
        return f"ZnnSlice(name={self._info.name!r}, dtype={self._info.dtype}, shape={list(self._info.shape)})"
