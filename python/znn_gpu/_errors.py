"""One exception class, `ZnnError`, from the native module; `.kind` is the library's kind name
("corrupt", "truncated", "unsupported version", "invalid argument", "io", "gpu", or "internal" for
a bug) and the message starts with the same words the Rust library uses ("corrupt input: ...").
The few errors this layer raises itself (API misuse) use the same class and prefixes."""

from ._native import ZnnError

_PREFIX = {"invalid argument": "invalid argument"}


def _make(kind, msg):
    e = ZnnError(f"{_PREFIX.get(kind, kind)}: {msg}")
    e.kind = kind
    return e


def invalid(msg):
    return _make("invalid argument", msg)
