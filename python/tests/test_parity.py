"""Parity with the real safetensors package: keys, metadata, every tensor bit for bit."""

import numpy as np
import pytest
import safetensors
import safetensors.torch as st
from conftest import same_bits
from safetensors import safe_open as st_open

import znn_gpu


def test_table(model):
    src, z = model
    with st_open(src, framework="pt") as ref, znn_gpu.safe_open(z, framework="pt") as got:
        assert got.keys() == ref.keys()
        assert got.keys() == sorted(got.keys())
        assert got.offset_keys() == ref.offset_keys()
        assert got.metadata() == ref.metadata()
        for k in ref.keys():
            a, b = ref.get_slice(k), got.get_slice(k)
            assert b.get_shape() == a.get_shape()
            assert b.get_dtype() == a.get_dtype()


def test_every_tensor_bit_for_bit(torch, model):
    src, z = model
    with st_open(src, framework="pt") as ref, znn_gpu.safe_open(z, framework="pt") as got:
        for k in ref.keys():
            assert same_bits(torch, got.get_tensor(k), ref.get_tensor(k)), k


def test_load_file(torch, model):
    src, z = model
    ref = st.load_file(src)
    got = znn_gpu.torch.load_file(z)
    assert list(got) == list(ref)  # offset order, as safetensors' get_tensors
    for k in ref:
        assert same_bits(torch, got[k], ref[k]), k


def test_load_file_one_buffer(torch, models):
    src, z = models["shipped-bf16"]
    got = znn_gpu.torch.load_file(z)
    ptrs = {t.untyped_storage().data_ptr() for t in got.values() if t.numel()}
    assert len(ptrs) == 1  # every tensor is a view of one allocation


def test_load_bytes(torch, model):
    src, z = model
    ref = st.load_file(src)
    with open(z, "rb") as f:
        got = znn_gpu.torch.load(f.read())
    assert set(got) == set(ref)
    for k in ref:
        assert same_bits(torch, got[k], ref[k]), k


def test_tensors_outlive_file(torch, models):
    src, z = models["mixed"]
    with znn_gpu.safe_open(z, framework="pt") as f:
        t = f.get_tensor("big.bf16")
        s = f.get_slice("f32")
    ref = st.load_file(src)
    assert same_bits(torch, t, ref["big.bf16"])
    assert same_bits(torch, s[2:5], ref["f32"][2:5])  # as safetensors: slices work after close
    with pytest.raises(znn_gpu.ZnnError):
        f.get_tensor("f32")
    with pytest.raises(znn_gpu.ZnnError):
        f.keys()


def test_get_tensor_shares_memory_like_safetensors(torch, models):
    _, z = models["mixed"]
    with znn_gpu.safe_open(z, framework="pt") as f:
        a, b = f.get_tensor("f32"), f.get_tensor("f32")
        assert a.data_ptr() == b.data_ptr()


def test_plain_safetensors_accepted(torch, models):
    src, _ = models["mixed"]
    ref = st.load_file(src)
    got = znn_gpu.torch.load_file(src)  # an uncompressed file reads too (folders may mix both)
    for k in ref:
        assert same_bits(torch, got[k], ref[k]), k


def test_framework_aliases(torch, models):
    _, z = models["mixed"]
    for fw in ("pt", "torch", "pytorch"):
        with znn_gpu.safe_open(z, fw) as f:
            assert isinstance(f.get_tensor("f32"), torch.Tensor)
    for fw in ("np", "numpy"):
        with znn_gpu.safe_open(z, framework=fw) as f:
            assert isinstance(f.get_tensor("f32"), np.ndarray)


def test_transformers_kwargs(torch, models):
    # transformers 5 calls safe_open(file, framework="pt", device=device, backend=backend)
    _, z = models["mixed"]
    for backend in ("mmap", "pread"):
        with znn_gpu.safe_open(z, framework="pt", device="cpu", backend=backend) as f:
            assert f.get_slice("f32")[...].shape == (33, 7)


# -- numpy -------------------------------------------------------------------------------------
def _np_ref(src):
    """safetensors' numpy view of a file, through torch where safetensors.numpy cannot (BF16/FP8)."""
    import ml_dtypes  # noqa: F401  (safetensors' np BF16 needs it imported)
    import torch

    out = {}
    with st_open(src, framework="pt") as f:
        for k in f.keys():
            t = f.get_tensor(k)
            out[k] = (t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes(), f.get_slice(k).get_dtype(),
                      tuple(t.shape))
    return out


def test_numpy_bit_for_bit(model):
    from znn_gpu.numpy import np_dtype

    src, z = model
    ref = _np_ref(src)
    got = znn_gpu.numpy.load_file(z)
    assert set(got) == set(ref)
    for k, (raw, code, shape) in ref.items():
        a = got[k]
        assert a.dtype == np_dtype(code), k
        assert a.shape == shape, k
        assert a.tobytes() == raw, k


def test_numpy_matches_safetensors_numpy(models):
    src, z = models["shipped-fp32"]
    import safetensors.numpy as snp

    ref = snp.load_file(src)
    got = znn_gpu.numpy.load_file(z)
    assert list(got) == list(ref)
    for k in ref:
        assert got[k].dtype == ref[k].dtype and np.array_equal(got[k], ref[k])


def test_numpy_bf16_fp8_dtypes(models):
    import ml_dtypes

    _, z = models["mixed"]
    with znn_gpu.safe_open(z, framework="np") as f:
        assert f.get_tensor("big.bf16").dtype == np.dtype(ml_dtypes.bfloat16)
        if "float8_e4m3fn" in f.keys():
            assert f.get_tensor("float8_e4m3fn").dtype == np.dtype(ml_dtypes.float8_e4m3fn)
            assert f.get_tensor("float8_e5m2").dtype == np.dtype(ml_dtypes.float8_e5m2)


def test_version():
    assert isinstance(znn_gpu.__version__, str)
    assert safetensors.__version__  # the pinned package is what parity is measured against


def test_cuda_device(torch, models):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    import znn_gpu.torch as zt

    src, z = models["mixed"]
    ref = st.load_file(src)
    old = zt.STAGING_BYTES
    zt.STAGING_BYTES = 1 << 20  # several batches through the two pinned buffers
    try:
        got = zt.load_file(z, device="cuda")
    finally:
        zt.STAGING_BYTES = old
    for k in ref:
        assert got[k].device.type == "cuda" and same_bits(torch, got[k], ref[k]), k
    with znn_gpu.safe_open(z, framework="pt", device="cuda:0") as f:
        assert same_bits(torch, f.get_tensor("big.bf16"), ref["big.bf16"])
        assert same_bits(torch, f.get_slice("big.bf16")[10:300], ref["big.bf16"][10:300])
        assert f.get_slice("f32")[1:3].device.type == "cuda"
