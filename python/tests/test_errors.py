"""Errors are ZnnError (never a crash); a corrupt or truncated file gives no tensors."""

import os
import subprocess
import sys

import pytest

import znn_gpu
from znn_gpu import ZnnError


def _damaged(tmp_path, z, how):
    data = bytearray(open(z, "rb").read())
    if how == "truncated":
        data = data[: len(data) * 2 // 3]
    elif how == "tail":
        data = data[:-5]
    elif how == "flip-middle":
        for i in range(len(data) // 2, len(data) // 2 + 64, 8):
            data[i] ^= 0x5A
    elif how == "flip-late":
        for i in range(len(data) - 4096, len(data) - 1024, 97):
            data[i] ^= 0x01
    elif how == "zeros":
        data[len(data) // 3 : len(data) // 3 + 4096] = bytes(4096)
    p = tmp_path / f"{how}.znn"
    p.write_bytes(bytes(data))
    return str(p)


@pytest.mark.parametrize("how", ["truncated", "tail", "flip-middle", "flip-late", "zeros"])
def test_damaged_files_raise(torch, models, tmp_path, how):
    _, z = models["shipped-bf16"]
    bad = _damaged(tmp_path, z, how)
    with pytest.raises(ZnnError) as e:
        znn_gpu.torch.load_file(bad)
    assert getattr(e.value, "kind", None) in ("corrupt", "truncated")
    with pytest.raises(ZnnError):
        znn_gpu.numpy.load_file(bad)
    with pytest.raises(ZnnError):
        with znn_gpu.safe_open(bad, framework="pt") as f:
            f.get_tensors()
    with pytest.raises(ZnnError):
        znn_gpu.verify_file(bad)
    with pytest.raises(ZnnError):
        znn_gpu.torch.load(open(bad, "rb").read())


def test_truncated_kind(torch, models, tmp_path):
    _, z = models["mixed"]
    bad = _damaged(tmp_path, z, "truncated")
    with pytest.raises(ZnnError) as e:
        znn_gpu.safe_open(bad, framework="pt")
    assert "truncated" in str(e.value) or getattr(e.value, "kind", "") in ("truncated", "corrupt")


@pytest.mark.parametrize("payload", [b"", b"\x89ZNN", b"\x89ZNN\r\n\x1a\n" + b"\0" * 100, os.urandom(5000)])
def test_garbage(tmp_path, payload):
    p = tmp_path / "g.znn"
    p.write_bytes(payload)
    with pytest.raises(ZnnError):
        znn_gpu.safe_open(str(p), framework="np")


def test_bad_plain_safetensors(tmp_path, models):
    src, _ = models["mixed"]
    raw = open(src, "rb").read()
    for name, data in (("short", raw[:-3]), ("long", raw + b"xx"), ("header", raw[:20]),
                       ("json", raw[:8] + b"[" + raw[9:])):
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(data)
        with pytest.raises(ZnnError):
            znn_gpu.numpy.load_file(str(p))


def test_api_errors(models):
    _, z = models["mixed"]
    with pytest.raises(FileNotFoundError):
        znn_gpu.safe_open(z + ".missing", framework="pt")
    with pytest.raises(TypeError):
        znn_gpu.safe_open(z.encode(), framework="pt")
    with pytest.raises(TypeError):
        znn_gpu.safe_open(z)  # framework is required, as in safetensors
    with pytest.raises(ZnnError):
        znn_gpu.safe_open(z, framework="bogus")
    with pytest.raises(ZnnError):
        znn_gpu.safe_open(z, framework="tf")
    with pytest.raises(ZnnError):
        znn_gpu.safe_open(z, framework="np", device="cuda")
    with pytest.raises(ZnnError):
        znn_gpu.safe_open(z, framework="pt", backend="bogus")
    with pytest.raises(TypeError):
        znn_gpu.safe_open(z, framework="pt", foo=1)
    with znn_gpu.safe_open(z, framework="np") as f:
        with pytest.raises(ZnnError):
            f.get_tensor("nope")
        with pytest.raises(ZnnError):
            f.get_slice("nope")
        with pytest.raises(TypeError):
            f.get_tensor(3)


def test_error_in_thread_is_an_exception(models, tmp_path):
    # a decode failure inside the native thread pool must come back as ZnnError in the caller
    _, z = models["shipped-fp16"]
    bad = _damaged(tmp_path, z, "flip-middle")
    code = (
        "import sys, znn_gpu\n"
        "try:\n    znn_gpu.torch.load_file(sys.argv[1], threads=4)\n"
        "except znn_gpu.ZnnError as e:\n    print('ZnnError', e)\n"
    )
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-c", code, bad], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "ZnnError" in r.stdout


def test_import_needs_no_torch_or_numpy():
    code = (
        "import sys, znn_gpu\n"
        "bad = [m for m in ('torch', 'numpy', 'transformers', 'safetensors') if m in sys.modules]\n"
        "print(bad)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
