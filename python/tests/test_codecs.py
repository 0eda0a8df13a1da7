"""`codecs=` on every compressing function: the CLI's `--codecs` names, each round-tripping exactly;
"balanced" and "small" write format v3, "smallest" format v4, and none is larger than "fast"
(format v1)."""

import struct

import numpy as np
import pytest
import safetensors.torch as st
from conftest import need, same_bits

import znn_gpu

CODECS = ("fast", "balanced", "small", "smallest")
VERSION = {"fast": 1, "balanced": 3, "small": 3, "smallest": 4}


def _version(data):
    # FORMAT.md: u16 little-endian format version at byte 8, after the magic.
    return struct.unpack("<H", bytes(data[8:10]))[0]


def _torch_weights(torch):
    """Random normal weights in BF16 (several chunks: pair codes apply per chunk) and a little of
    other kinds, which the pair codecs leave alone."""
    g = torch.Generator().manual_seed(1)
    return {
        "w.bf16": (torch.randn(768, 1024, generator=g) * 0.02).to(torch.bfloat16),
        "b.bf16": torch.randn(1024, generator=g).to(torch.bfloat16),
        "f32": torch.randn(50, 7, generator=g),
        "i64": torch.arange(-5, 5),
        "empty": torch.zeros(0, 3, dtype=torch.bfloat16),
    }


@pytest.fixture(scope="module")
def blobs(torch):
    """codec set -> the `.znn` bytes of `_torch_weights` written by `znn_gpu.torch.save`."""
    t = _torch_weights(torch)
    return {c: znn_gpu.torch.save(t, metadata={"format": "pt"}, codecs=c) for c in CODECS}


@pytest.mark.parametrize("codecs", CODECS)
def test_torch_round_trip(torch, tmp_path, codecs):
    t = _torch_weights(torch)
    z = tmp_path / "w.safetensors.znn"
    znn_gpu.torch.save_file(t, str(z), metadata={"format": "pt"}, codecs=codecs)
    data = z.read_bytes()
    assert _version(data) == VERSION[codecs]
    for back in (znn_gpu.torch.load_file(str(z)), znn_gpu.torch.load(znn_gpu.torch.save(t, codecs=codecs))):
        assert set(back) == set(t)
        for k in t:
            assert same_bits(torch, back[k], t[k]), k
    with znn_gpu.safe_open(str(z), framework="pt") as f:
        rows = f.get_slice("w.bf16")[300:700]
    assert same_bits(torch, rows, t["w.bf16"][300:700])
    assert znn_gpu.decompress_bytes(data) == st.save(t, metadata={"format": "pt"})


@pytest.mark.parametrize("codecs", CODECS)
def test_numpy_round_trip(tmp_path, codecs):
    ml_dtypes = need("ml_dtypes")
    rng = np.random.default_rng(2)
    t = {
        "w": (rng.standard_normal((512, 1024), dtype=np.float32) * 0.02).astype(ml_dtypes.bfloat16),
        "f16": rng.standard_normal(3000).astype(np.float16),
        "u8": np.arange(256, dtype=np.uint8),
    }
    z = tmp_path / "w.safetensors.znn"
    znn_gpu.numpy.save_file(t, str(z), codecs=codecs)
    assert _version(z.read_bytes()) == VERSION[codecs]
    blob = znn_gpu.numpy.save(t, codecs=codecs)
    assert _version(blob) == VERSION[codecs]
    for back in (znn_gpu.numpy.load_file(str(z)), znn_gpu.numpy.load(blob)):
        assert set(back) == set(t)
        for k, v in t.items():
            assert back[k].dtype == v.dtype and back[k].shape == v.shape
            assert back[k].tobytes() == v.tobytes(), k


def test_sizes_and_versions(blobs):
    assert [_version(blobs[c]) for c in CODECS] == [VERSION[c] for c in CODECS]
    assert len(blobs["balanced"]) <= len(blobs["fast"])
    assert len(blobs["small"]) <= len(blobs["fast"])
    assert len(blobs["smallest"]) <= len(blobs["small"]) + 16  # the v4 index's base record
    # Pair codes' measured gain on BF16 weights is 0.3 to 1 point of the original size; well above
    # the few bytes a v3 index adds, so a gain of zero means they were not used.
    assert len(blobs["balanced"]) < len(blobs["fast"])
    assert znn_gpu.decompress_bytes(blobs["balanced"]) == znn_gpu.decompress_bytes(blobs["fast"])


@pytest.mark.parametrize("codecs", CODECS)
def test_compress_file_and_verify(blobs, tmp_path, codecs):
    src = tmp_path / "w.safetensors"
    src.write_bytes(znn_gpu.decompress_bytes(blobs["fast"]))
    z = tmp_path / "w.safetensors.znn"
    orig, comp = znn_gpu.compress_file(str(src), str(z), codecs=codecs)
    data = z.read_bytes()
    assert (orig, comp) == (src.stat().st_size, len(data))
    assert _version(data) == VERSION[codecs]
    assert len(data) == len(blobs[codecs])
    v = znn_gpu.verify_file(str(z))
    assert v["original_bytes"] == orig
    out = tmp_path / "back.safetensors"
    znn_gpu.decompress_file(str(z), str(out))
    assert out.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("codecs", CODECS)
def test_compress_bytes(blobs, codecs):
    raw = znn_gpu.decompress_bytes(blobs["fast"])
    z = znn_gpu.compress_bytes(raw, codecs=codecs)
    assert _version(z) == VERSION[codecs]
    assert znn_gpu.decompress_bytes(z) == raw
    # Not safetensors: read as BF16 elements.
    body = raw[8 + struct.unpack("<Q", raw[:8])[0] :]
    z = znn_gpu.compress_bytes(body, dtype="bf16", codecs=codecs)
    assert _version(z) == VERSION[codecs]
    assert znn_gpu.decompress_bytes(z) == body


def test_verify_balanced_matches_fast(blobs, tmp_path):
    hashes = []
    for c in ("fast", "balanced"):
        z = tmp_path / f"{c}.znn"
        z.write_bytes(blobs[c])
        hashes.append(znn_gpu.verify_file(str(z)))
    assert hashes[0] == hashes[1]


@pytest.mark.parametrize("bad", ["", "Fast", "medium", "fast ", "v3"])
def test_unknown_name(torch, tmp_path, bad):
    t = {"w": torch.ones(4, dtype=torch.bfloat16)}
    src = tmp_path / "w.safetensors"
    st.save_file(t, str(src))
    calls = [
        lambda: znn_gpu.compress_file(str(src), str(tmp_path / "x.znn"), codecs=bad),
        lambda: znn_gpu.compress_bytes(b"\0" * 64, codecs=bad),
        lambda: znn_gpu.torch.save_file(t, str(tmp_path / "y.znn"), codecs=bad),
        lambda: znn_gpu.torch.save(t, codecs=bad),
        lambda: znn_gpu.numpy.save_file({"a": np.ones(3)}, str(tmp_path / "z.znn"), codecs=bad),
        lambda: znn_gpu.numpy.save({"a": np.ones(3)}, codecs=bad),
    ]
    for call in calls:
        with pytest.raises(znn_gpu.ZnnError) as e:
            call()
        assert e.value.kind == "invalid argument"
        assert "codec set" in str(e.value)
    for name in ("x.znn", "y.znn", "z.znn"):
        assert not (tmp_path / name).exists()
