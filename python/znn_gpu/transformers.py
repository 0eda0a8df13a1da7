"""Load a compressed model folder with transformers (5.x), without patching transformers.

    from transformers import AutoModelForMaskedLM
    model = znn_gpu.transformers.from_pretrained(AutoModelForMaskedLM, "./bert.znn", dtype="auto")

How (transformers 5.24, see NOTES-transformers.md): weights are decoded by znn_gpu (one buffer per
shard, tensors as views) and handed to transformers' public `state_dict=` argument, with the folder
given as `config=` so that transformers reads config.json and splits the keyword arguments between
config and model exactly as `cls.from_pretrained(path, **kwargs)` would. transformers forbids
`state_dict` together with a path, so the path argument is None; what transformers would otherwise
take from the path is supplied here: the concrete class for Auto classes, generation_config.json,
and `config.name_or_path`. Tensors whose dtype and device already match become the parameters
without a copy (transformers' `_materialize_copy` is `t[...]` then `.to()`, a no-op then).

`patch()` is the opt-in alternative for code that calls `from_pretrained` itself: it swaps
`safe_open` in transformers' modules for one that opens `NAME.znn` when `NAME` is missing, and lets
a folder holding only `model.safetensors.znn` resolve. It is process-wide while active; prefer
`from_pretrained` here.
"""

import inspect
import os
import threading
from contextlib import contextmanager

from . import _native
from ._errors import invalid

ZNN = ".znn"


def _concrete_class(cls, dir_, kwargs):
    """An Auto class -> the model class transformers would pick for this folder's config."""
    from transformers import AutoConfig, PreTrainedConfig, PreTrainedModel

    if isinstance(cls, type) and issubclass(cls, PreTrainedModel):
        return cls
    mapping = getattr(cls, "_model_mapping", None)
    if mapping is None:
        raise TypeError(f"{cls!r} is neither a PreTrainedModel subclass nor an Auto class")
    config = kwargs.get("config")
    if not isinstance(config, PreTrainedConfig):
        config = AutoConfig.from_pretrained(
            dir_, subfolder=kwargs.get("subfolder", ""), trust_remote_code=kwargs.get("trust_remote_code"),
        )
    if type(config) not in mapping:
        raise invalid(
            f"{cls.__name__} has no model for {type(config).__name__} (remote code models: pass the model class)"
        )
    from transformers.models.auto.auto_factory import _get_model_class

    return _get_model_class(config, mapping)


def load_state_dict(path, *, threads=None, device="cpu"):
    """The folder's tensors, shards in transformers' order, names sorted within a shard (so that
    transformers' dtype sniffing, `get_state_dict_dtype`, sees what it sees in the original)."""
    from . import torch as ztorch

    mf = _native.model_files(os.fspath(path))
    sd, found = {}, []
    for _name, shard, _compressed in mf.shards:
        part = ztorch.load_file(shard, device=device, threads=threads)
        found.append(list(part))
        for k in sorted(part):
            sd[k] = part[k]
    mf.check(found)
    return sd


def from_pretrained(cls, path, *model_args, threads=None, **kwargs):
    """`cls.from_pretrained(path, **kwargs)` for a compressed local folder (or HF cache repo folder):
    returns the same model, `type(model)` included."""
    from transformers import GenerationConfig

    if "state_dict" in kwargs:
        raise TypeError("from_pretrained() got an unexpected keyword argument 'state_dict'")
    root = os.fspath(_native.snapshot_dir(os.fspath(path)))
    if not os.path.isdir(root):
        raise invalid(f"{path} is not a local folder (download it first; compressed folders are local)")
    sub = kwargs.get("subfolder", "") or ""
    wdir = os.path.join(root, sub)
    model_cls = _concrete_class(cls, root, kwargs)
    state_dict = load_state_dict(wdir, threads=threads)
    if kwargs.get("config") is None:
        kwargs["config"] = root  # transformers loads it and splits config / model kwargs itself
    if kwargs.get("generation_config") is None and os.path.isfile(os.path.join(wdir, "generation_config.json")):
        kwargs["generation_config"] = GenerationConfig.from_pretrained(root, subfolder=sub)
    model = model_cls.from_pretrained(None, *model_args, state_dict=state_dict, **kwargs)
    model.config.name_or_path = str(path)
    return model


# -- opt-in patch ------------------------------------------------------------------------------
_lock = threading.Lock()
_saved = None


def _znn_aware_safe_open(orig):
    from ._open import safe_open as zopen

    def safe_open(filename, framework, device="cpu", **kw):
        fn = os.fspath(filename)
        if fn.endswith(ZNN):
            return zopen(fn, framework, device, **kw)
        if not os.path.exists(fn) and os.path.isfile(fn + ZNN):
            return zopen(fn + ZNN, framework, device, **kw)
        return orig(filename, framework, device, **kw)

    safe_open.__wrapped__ = orig
    return safe_open


def _znn_aware_resolver(orig):
    sig = inspect.signature(orig)

    def resolver(*args, **kwargs):
        try:
            return orig(*args, **kwargs)
        except OSError:
            b = sig.bind_partial(*args, **kwargs)
            p = b.arguments.get("pretrained_model_name_or_path")
            variant = b.arguments.get("variant")
            dl = b.arguments.get("download_kwargs") or {}
            if p is None or b.arguments.get("gguf_file") or b.arguments.get("transformers_explicit_filename"):
                raise
            name = "model.safetensors" if not variant else f"model.{variant}.safetensors"
            cand = os.path.join(os.fspath(p), dl.get("subfolder", "") or "", name)
            if os.path.isfile(cand + ZNN):
                return [cand], None
            raise

    resolver.__wrapped__ = orig
    return resolver


def patch():
    """Make transformers' own from_pretrained read compressed folders (process-wide). Idempotent;
    `unpatch()` restores. Not compatible with `disable_mmap=True` (transformers then opens the
    shard with open())."""
    global _saved
    import importlib

    with _lock:
        if _saved is not None:
            return
        saved = []
        for modname in ("transformers.modeling_utils", "transformers.modeling_layers",
                        "transformers.integrations.accelerate", "transformers.quantizers.quantizer_torchao"):
            try:
                mod = importlib.import_module(modname)
            except ImportError:
                continue
            if hasattr(mod, "safe_open"):
                saved.append((mod, "safe_open", mod.safe_open))
                mod.safe_open = _znn_aware_safe_open(mod.safe_open)
        mu = importlib.import_module("transformers.modeling_utils")
        saved.append((mu, "_get_resolved_checkpoint_files", mu._get_resolved_checkpoint_files))
        mu._get_resolved_checkpoint_files = _znn_aware_resolver(mu._get_resolved_checkpoint_files)
        _saved = saved


def unpatch():
    global _saved
    with _lock:
        if _saved is None:
            return
        for mod, attr, orig in reversed(_saved):
            setattr(mod, attr, orig)
        _saved = None


@contextmanager
def patched():
    """`with patched(): Model.from_pretrained(compressed_dir)` (process-wide while inside)."""
    already = _saved is not None
    patch()
    try:
        yield
    finally:
        if not already:
            unpatch()


__all__ = ["from_pretrained", "load_state_dict", "patch", "unpatch", "patched"]
