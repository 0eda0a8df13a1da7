"""The file functions and their options (threads, dtype, base), deltas, and the package without
numpy or torch."""

import os
import subprocess
import sys

import pytest
import safetensors.torch as st
from conftest import same_bits

import znn_gpu
from znn_gpu import ZnnError


def test_threads_option(torch, models, tmp_path):
    src, z = models["shipped-bf16"]
    ref = st.load_file(src)
    for n in (1, 2, 3):
        got = znn_gpu.torch.load_file(z, threads=n)
        assert all(same_bits(torch, got[k], ref[k]) for k in ref)
    with znn_gpu.safe_open(z, framework="pt", threads=1) as f:
        k = f.offset_keys()[-1]
        assert same_bits(torch, f.get_tensor(k), ref[k])
    with pytest.raises(ZnnError) as e:
        znn_gpu.torch.load_file(z, threads=0)
    assert e.value.kind == "invalid argument"
    out = tmp_path / "t.znn"
    znn_gpu.compress_file(src, out, threads=1)
    assert znn_gpu.verify_file(out, threads=2) == znn_gpu.verify_file(z)


def test_verify_and_sizes(models):
    src, z = models["shipped-fp32"]
    v = znn_gpu.verify_file(z)
    assert v["original_bytes"] == os.path.getsize(src)
    assert len(v["xxh3"]) == 16
    assert znn_gpu.compress_file(src, z, overwrite=True) == (os.path.getsize(src), os.path.getsize(z))


def test_dtype_option_for_raw_files(tmp_path):
    raw = tmp_path / "w.bin"
    raw.write_bytes(bytes(range(256)) * 4096)
    for dtype in ("bf16", "fp32", "byte"):
        z = tmp_path / f"w.{dtype}.znn"
        znn_gpu.compress_file(raw, z, dtype=dtype)
        back = tmp_path / f"w.{dtype}.out"
        znn_gpu.decompress_file(z, back)
        assert back.read_bytes() == raw.read_bytes()
    with pytest.raises(ZnnError) as e:
        znn_gpu.compress_file(raw, tmp_path / "x.znn", dtype="fp7")
    assert e.value.kind == "invalid argument"
    with pytest.raises(ZnnError):  # a .znn of a raw file has no tensors
        znn_gpu.safe_open(tmp_path / "w.bf16.znn", framework="np")


def test_outputs_are_not_overwritten_unless_asked(models, tmp_path):
    src, z = models["mixed"]
    out = tmp_path / "o.znn"
    znn_gpu.compress_file(src, out)
    with pytest.raises(ZnnError) as e:
        znn_gpu.compress_file(src, out)
    assert e.value.kind == "invalid argument"
    znn_gpu.compress_file(src, out, overwrite=True)


def test_delta_against_a_base(torch, models, tmp_path):
    """A fine-tune stored as a delta against its base: loads with base=, refuses without."""
    src, _ = models["shipped-fp32"]
    sd = st.load_file(src)
    names = sorted(sd)
    tuned = dict(sd)
    tuned[names[0]] = sd[names[0]] + 1  # one tensor changed, the rest identical
    new = tmp_path / "tuned.safetensors"
    st.save_file(tuned, str(new))
    z = tmp_path / "tuned.safetensors.znn"
    znn_gpu.compress_file(new, z, base=src)
    assert os.path.getsize(z) < os.path.getsize(new) / 4  # identical tensors cost next to nothing
    got = znn_gpu.torch.load_file(z, base=src)
    assert all(same_bits(torch, got[k], tuned[k]) for k in tuned)
    with pytest.raises(ZnnError) as e:
        znn_gpu.torch.load_file(z)
    assert e.value.kind == "invalid argument"  # "this .znn is a delta against a base file"
    # save_file can store a delta too
    z2 = tmp_path / "saved.znn"
    znn_gpu.torch.save_file(tuned, z2, base=src)
    back = tmp_path / "back.safetensors"
    znn_gpu.decompress_file(z2, back, base=src)
    assert back.read_bytes() == new.read_bytes()


def test_bytes_like_inputs(torch, models):
    src, z = models["mixed"]
    data = open(z, "rb").read()
    ref = st.load_file(src)
    for blob in (bytearray(data), memoryview(data)):
        got = znn_gpu.torch.load(blob)
        assert all(same_bits(torch, got[k], ref[k]) for k in ref)
    with pytest.raises(TypeError):
        znn_gpu.torch.load("not bytes")


def test_works_without_numpy_and_torch(models, tmp_path):
    """The core functions need neither: with both made unimportable, compress, verify and
    decompress work, and framework="pt" fails as safetensors does (ImportError)."""
    src, _ = models["mixed"]
    code = (
        "import sys\n"
        "sys.modules['torch'] = None; sys.modules['numpy'] = None\n"
        "import znn_gpu\n"
        "src, z, out = sys.argv[1:4]\n"
        "znn_gpu.compress_file(src, z)\n"
        "znn_gpu.verify_file(z)\n"
        "znn_gpu.decompress_file(z, out)\n"
        "assert open(out, 'rb').read() == open(src, 'rb').read()\n"
        "try:\n"
        "    znn_gpu.safe_open(z, framework='pt')\n"
        "except ImportError:\n"
        "    print('ok')\n"
    )
    z, out = str(tmp_path / "m.znn"), str(tmp_path / "m.out")
    r = subprocess.run([sys.executable, "-c", code, src, z, out], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
