"""save_file compresses straight from the tensors; decompressing gives safetensors' exact bytes."""

import json
import struct

import numpy as np
import pytest
import safetensors.numpy as snp
import safetensors.torch as st
from conftest import same_bits

import znn_gpu


def _decompressed(tmp_path, z):
    out = tmp_path / "out.safetensors"
    znn_gpu.decompress_file(str(z), str(out), overwrite=True)
    return out.read_bytes()


@pytest.mark.parametrize("metadata", [None, {}, {"format": "pt"}, {"k": 'q"b\\s\n\t\x01 é ✓ \U0001F600'}])
def test_save_file_bytes_identical(torch, model, tmp_path, metadata):
    src, _ = model
    tensors = st.load_file(src)
    ref = tmp_path / "ref.safetensors"
    st.save_file(tensors, str(ref), metadata=metadata)
    z = tmp_path / "x.safetensors.znn"
    znn_gpu.torch.save_file(tensors, str(z), metadata=metadata)
    assert _decompressed(tmp_path, z) == ref.read_bytes()


def test_save_bytes_identical(torch, models):
    src, _ = models["mixed"]
    tensors = st.load_file(src)
    blob = znn_gpu.torch.save(tensors, metadata={"format": "pt"})
    assert znn_gpu.decompress_bytes(blob) == st.save(tensors, metadata={"format": "pt"})
    back = znn_gpu.torch.load(blob)
    for k in tensors:
        assert same_bits(torch, back[k], tensors[k])


def test_multi_key_metadata(torch, tmp_path):
    # safetensors writes 2+ metadata keys in a random (HashMap) order; ours is the dict's order,
    # which is one of safetensors' possible outputs: compare headers as data, and data bytes exactly.
    t = {"a": torch.ones(3), "b": torch.zeros(2, dtype=torch.bfloat16)}
    meta = {"z": "1", "a": "2", "format": "pt"}
    z = tmp_path / "m.znn"
    znn_gpu.torch.save_file(t, str(z), metadata=meta)
    ours = _decompressed(tmp_path, z)
    ref = st.save(t, metadata=meta)
    n1, n2 = struct.unpack("<Q", ours[:8])[0], struct.unpack("<Q", ref[:8])[0]
    assert n1 == n2 and ours[8 + n1 :] == ref[8 + n2 :]
    h = json.loads(ours[8 : 8 + n1])
    assert h == json.loads(ref[8 : 8 + n2])
    assert list(h["__metadata__"]) == list(meta)


def test_save_from_views_and_device_tensors(torch, tmp_path):
    base = torch.arange(40, dtype=torch.float32)
    t = {"row": base.reshape(4, 10)[1], "tail": base[30:].clone()}  # a contiguous view, not shared
    z = tmp_path / "v.znn"
    znn_gpu.torch.save_file(t, str(z))
    assert _decompressed(tmp_path, z) == st.save(t)


def test_save_refuses_what_safetensors_refuses(torch, tmp_path):
    x = torch.arange(12.0).reshape(3, 4)
    for bad, err in (
        ({"a": x, "b": x}, RuntimeError),  # shared memory
        ({"a": x.t()}, ValueError),  # non-contiguous
        ({1: x}, TypeError),  # non-str key
        ({"a": 3}, ValueError),  # not a tensor
    ):
        with pytest.raises(err):
            st.save(bad)
        with pytest.raises(err):
            znn_gpu.torch.save_file(bad, str(tmp_path / "bad.znn"))
    with pytest.raises(TypeError):
        znn_gpu.torch.save_file({"a": x}, str(tmp_path / "bad.znn"), metadata={"a": 1})


def test_numpy_save_file(tmp_path):
    import ml_dtypes

    arrs = {
        "f32": np.arange(12, dtype=np.float32).reshape(3, 4),
        "bf16": np.arange(6).astype(ml_dtypes.bfloat16),
        "f8": np.arange(6).astype(ml_dtypes.float8_e4m3fn),
        "f8b": np.arange(6).astype(ml_dtypes.float8_e5m2),
        "i64": np.arange(3, dtype=np.int64),
        "b": np.array([True, False]),
    }
    z = tmp_path / "n.znn"
    znn_gpu.numpy.save_file(arrs, str(z), metadata={"format": "np"})
    assert _decompressed(tmp_path, z) == snp.save(arrs, metadata={"format": "np"})
    back = znn_gpu.numpy.load_file(str(z))
    for k, v in arrs.items():
        assert back[k].dtype == v.dtype and back[k].tobytes() == v.tobytes()


def test_numpy_save_non_contiguous_is_packed(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4).T  # safetensors.numpy writes raw memory here
    z = tmp_path / "nc.znn"
    znn_gpu.numpy.save_file({"a": a}, str(z))
    assert np.array_equal(znn_gpu.numpy.load_file(str(z))["a"], a)
