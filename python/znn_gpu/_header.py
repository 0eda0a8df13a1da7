"""The tensor table of an opened file, as the native reader returns it (parsed and checked by the
library with safetensors' own rules), in a form the framework modules index by name."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # safetensors code, "BF16"
    shape: tuple
    start: int  # offsets relative to the start of the data section
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass
class Header:
    data_start: int  # 8 + n: where the data section starts in the original file
    tensors: dict  # name -> TensorInfo, in offset order
    metadata: "dict | None"
    data_len: int


def from_native(table):
    """`Reader.table()`'s `(data_start, [(name, dtype, shape, start, end)], metadata)`."""
    data_start, entries, metadata = table
    tensors = {n: TensorInfo(n, d, tuple(s), a, b) for n, d, s, a, b in entries}
    data_len = entries[-1][4] if entries else 0
    return Header(data_start, tensors, metadata, data_len)


def metadata_pairs(metadata):
    """safetensors' metadata argument as (key, value) pairs in dict order; TypeError as it raises."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise TypeError("metadata must be a dict of str to str")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            bad = v if isinstance(k, str) else k
            raise TypeError(f"argument 'metadata': {type(bad).__name__!r} object is not an instance of 'str'")
    return list(metadata.items())


def check_names(tensors):
    for name in tensors:
        if not isinstance(name, str):
            raise TypeError(f"argument 'tensor_dict': {type(name).__name__!r} object is not an instance of 'str'")
