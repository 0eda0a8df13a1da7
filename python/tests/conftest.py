"""Fixtures for znn_gpu's Python tests: the installed `znn_gpu` (built by maturin, see
.ci/python) against the real safetensors, torch and transformers packages. ZNN_TEST_MODEL
overrides the shipped model (data/mobilenet-v2.fp32.safetensors)."""

import importlib
import json
import os
import shutil
import struct

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# no hub access and no progress bars in tests (transformers reads these at import)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import znn_gpu  # noqa: E402

# CI (.ci/python) sets this: a missing torch or transformers fails instead of skipping.
STRICT = os.environ.get("ZNN_PY_STRICT") == "1"


def need(module):
    """The module, or a skip (a failure under ZNN_PY_STRICT=1) when it is not installed."""
    if STRICT:
        return importlib.import_module(module)
    return pytest.importorskip(module)


def pytest_report_header(config):
    return f"znn_gpu {znn_gpu.__version__} from {os.path.dirname(znn_gpu.__file__)}"


CHUNK = 256 * 1024  # the library's chunk size (FORMAT.md); slices are tested across its boundaries


def _find_model():
    env = os.environ.get("ZNN_TEST_MODEL")
    if env:
        return env
    d = HERE
    for _ in range(5):  # python/tests -> repo root/data
        cand = os.path.join(d, "data", "mobilenet-v2.fp32.safetensors")
        if os.path.isfile(cand):
            return cand
        d = os.path.dirname(d)
    return None


def header_of(path_or_bytes):
    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray)) else open(path_or_bytes, "rb").read(1 << 24)
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + n])


@pytest.fixture(scope="session")
def torch():
    return need("torch")


@pytest.fixture(scope="session")
def shipped():
    p = _find_model()
    if p is None:
        pytest.fail("data/mobilenet-v2.fp32.safetensors must ship with the repository")
    return p


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("znn")


def _derive(torch, src, dst, dtype):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(src, framework="pt") as f:
        meta = f.metadata()
        sd = {k: (f.get_tensor(k).to(dtype) if f.get_tensor(k).is_floating_point() else f.get_tensor(k)) for k in f.keys()}
    save_file(sd, dst, metadata=meta)


def _mixed(torch, dst):
    """Every dtype torch and safetensors share, scalars, empty tensors, a non-ASCII name, and one
    tensor long enough to span several chunks."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    t = {
        "big.bf16": torch.randn(700, 1000, generator=g).to(torch.bfloat16),  # 1.4 MB: 6 chunks
        "f32": torch.randn(33, 7, generator=g),
        "f64": torch.randn(5, generator=g, dtype=torch.float64),
        "f16": torch.randn(3, 3, generator=g).half(),
        "i64": torch.arange(-5, 5),
        "i32": torch.arange(7, dtype=torch.int32),
        "i16": torch.arange(9, dtype=torch.int16),
        "i8": torch.arange(-3, 3, dtype=torch.int8),
        "u8": torch.arange(250, 256, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.25),
        "empty": torch.zeros(0, 4),
        "naïve ✓": torch.ones(2),
        "c64": torch.randn(4, generator=g, dtype=torch.complex64),
        "nan": torch.tensor([float("nan"), float("inf"), -0.0]),
    }
    for name in ("float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64"):
        dt = getattr(torch, name, None)
        if dt is not None:
            t[name] = torch.arange(6).to(dt)
    save_file(t, dst, metadata={"format": "pt"})


@pytest.fixture(scope="session")
def models(torch, shipped, workdir):
    """name -> (original .safetensors, compressed .znn)."""
    out = {}
    srcs = {"shipped-fp32": shipped}
    for name, dt in (("shipped-bf16", torch.bfloat16), ("shipped-fp16", torch.float16)):
        p = str(workdir / f"{name}.safetensors")
        _derive(torch, shipped, p, dt)
        srcs[name] = p
    p = str(workdir / "mixed.safetensors")
    _mixed(torch, p)
    srcs["mixed"] = p
    for name, src in srcs.items():
        z = str(workdir / f"{name}.safetensors.znn")
        znn_gpu.compress_file(src, z, overwrite=True)
        out[name] = (src, z)
    return out


@pytest.fixture(params=["shipped-fp32", "shipped-bf16", "shipped-fp16", "mixed"])
def model(request, models):
    return models[request.param]


def same_bits(torch, a, b):
    """Bit-for-bit equality of two tensors (NaN-safe), dtype and shape included."""
    if a.dtype != b.dtype or tuple(a.shape) != tuple(b.shape):
        return False
    a = a.detach().cpu().contiguous().reshape(-1)
    b = b.detach().cpu().contiguous().reshape(-1)
    if a.numel() == 0:
        return True
    return torch.equal(a.view(torch.uint8), b.view(torch.uint8))


def copy_tree(src, dst):
    shutil.copytree(src, dst)
