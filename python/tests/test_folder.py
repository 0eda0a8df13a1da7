"""load_folder: compressed model folders (the index names the original shards)."""

import json
import os
import shutil

import pytest
import safetensors.torch as st
from conftest import same_bits

import znn_gpu


@pytest.fixture
def sharded(torch, tmp_path):
    g = torch.Generator().manual_seed(3)
    shards = {
        "model-00001-of-00002.safetensors": {"a.weight": torch.randn(300, 300, generator=g).to(torch.bfloat16)},
        "model-00002-of-00002.safetensors": {"b.weight": torch.randn(10, 3, generator=g), "b.bias": torch.zeros(3)},
    }
    src = tmp_path / "src"
    src.mkdir()
    wm = {}
    for name, t in shards.items():
        st.save_file(t, str(src / name), metadata={"format": "pt"})
        wm.update({k: name for k in t})
    (src / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": wm}, indent=2))
    (src / "config.json").write_text("{}")
    out = tmp_path / "out"
    znn_gpu.compress_file(str(src), str(out))
    ref = {}
    for t in shards.values():
        ref.update(t)
    return src, out, ref


def test_load_folder(torch, sharded):
    src, out, ref = sharded
    assert sorted(os.listdir(out)) == sorted(
        ["config.json", "model.safetensors.index.json"] + [n + ".znn" for n in os.listdir(src) if n.endswith(".safetensors")]
    )
    got = znn_gpu.torch.load_folder(str(out))
    assert set(got) == set(ref)
    for k in ref:
        assert same_bits(torch, got[k], ref[k])
    npd = znn_gpu.numpy.load_folder(str(out))
    assert set(npd) == set(ref)


def test_mixed_compressed_and_plain(torch, sharded):
    src, out, ref = sharded
    os.remove(out / "model-00002-of-00002.safetensors.znn")
    shutil.copyfile(src / "model-00002-of-00002.safetensors", out / "model-00002-of-00002.safetensors")
    got = znn_gpu.torch.load_folder(str(out))
    for k in ref:
        assert same_bits(torch, got[k], ref[k])


def test_missing_shard_raises(sharded):
    _, out, _ = sharded
    os.remove(out / "model-00002-of-00002.safetensors.znn")
    with pytest.raises(znn_gpu.ZnnError):
        znn_gpu.torch.load_folder(str(out))


def test_index_disagrees_raises(sharded):
    _, out, _ = sharded
    idx = json.loads((out / "model.safetensors.index.json").read_text())
    idx["weight_map"]["ghost"] = "model-00001-of-00002.safetensors"
    (out / "model.safetensors.index.json").write_text(json.dumps(idx))
    with pytest.raises(znn_gpu.ZnnError):
        znn_gpu.torch.load_folder(str(out))
    assert "ghost" not in znn_gpu.torch.load_folder(str(out), strict=False)


def test_unsharded_folder(torch, tmp_path):
    src = tmp_path / "one"
    src.mkdir()
    t = {"w": torch.arange(10.0)}
    st.save_file(t, str(src / "model.safetensors"))
    znn_gpu.compress_file(str(src), str(tmp_path / "one.znn"))
    got = znn_gpu.torch.load_folder(str(tmp_path / "one.znn"))
    assert same_bits(torch, got["w"], t["w"])


def test_roundtrip_api(models, tmp_path):
    src, z = models["mixed"]
    out = tmp_path / "back.safetensors"
    znn_gpu.decompress_file(z, str(out))
    assert out.read_bytes() == open(src, "rb").read()
    znn_gpu.verify_file(z)
    blob = znn_gpu.compress_bytes(open(src, "rb").read())
    assert znn_gpu.decompress_bytes(blob) == open(src, "rb").read()
    with pytest.raises(znn_gpu.ZnnError):
        znn_gpu.decompress_file(z, str(out))  # exists, no overwrite
