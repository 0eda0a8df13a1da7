"""get_slice: same results as safetensors, across chunk boundaries; a dim-0 slice decodes only the
chunks it covers."""

import bisect
import random

import numpy as np
import pytest
from conftest import CHUNK, same_bits
from safetensors import safe_open as st_open

import znn_gpu

INDEXES = [
    "...", ":", "0", "-1", "1:", "2:5", ":3", "::2", "1::3", "5:2", "3:3", ":, 1", "..., 0",
    "0, ..., 1:3", ":, ::2", "1:4, 2:", "None", "[0, 1]", "-2:", ":-1", "0:100000",
]


def _big_tensors(f, n=2):
    shaped = [(k, f.get_slice(k).get_shape()) for k in f.keys()]
    shaped = [(k, s) for k, s in shaped if len(s) >= 2]
    shaped.sort(key=lambda ks: -np.prod(ks[1]))
    return [k for k, _ in shaped[:n]]


@pytest.mark.parametrize("idx", INDEXES)
def test_index_forms_match_safetensors(torch, model, idx):
    src, z = model
    with st_open(src, framework="pt") as ref, znn_gpu.safe_open(z, framework="pt") as got:
        for k in _big_tensors(ref):
            try:
                want = eval(f"ref.get_slice(k)[{idx}]")
            except Exception as e:  # safetensors (torch) refuses: so must we, with the same type
                with pytest.raises(type(e)):
                    eval(f"got.get_slice(k)[{idx}]")
                continue
            have = eval(f"got.get_slice(k)[{idx}]")
            assert same_bits(torch, have, want), (k, idx)
            assert have.is_contiguous() == want.is_contiguous(), (k, idx)


def test_errors_match_torch(torch, models):
    src, z = models["mixed"]
    with st_open(src, framework="pt") as ref, znn_gpu.safe_open(z, framework="pt") as got:
        for idx in ("slice(None, None, -1)", "slice(0, 2, 0)", "7000", "-7000", "1.0", "(0, 0, 0)"):
            with pytest.raises(Exception) as want:
                eval(f"ref.get_slice('big.bf16')[{idx}]")
            with pytest.raises(want.type):
                eval(f"got.get_slice('big.bf16')[{idx}]")
        assert same_bits(torch, got.get_slice("scalar")[...], ref.get_slice("scalar")[...])
        assert same_bits(torch, got.get_slice("empty")[...], ref.get_slice("empty")[...])


def _boundary_rows(f, info):
    """Rows of tensor `info` whose bytes touch a chunk boundary (the real ones: chunks start at
    segment starts, and every 256 KiB within a segment), with their neighbours."""
    starts = f._file.reader.chunk_starts()
    lo = f._file.header.data_start + info.start
    rb = info.nbytes // info.shape[0]
    rows = set()
    for c in starts:
        if lo < c < lo + info.nbytes:
            r = (c - lo) // rb  # the row holding the boundary's first byte
            for d in (-1, 0, 1):
                if 0 <= r + d < info.shape[0]:
                    rows.add(r + d)
    return sorted(rows)


def test_slices_across_chunk_boundaries(torch, model):
    src, z = model
    rnd = random.Random(1)
    crossed = 0
    with st_open(src, framework="pt") as ref, znn_gpu.safe_open(z, framework="pt") as got:
        for k in _big_tensors(ref, 3):
            info = got._file.info(k)
            nrows = info.shape[0]
            rows = _boundary_rows(got, info)
            crossed += len(rows) > 0
            cases = [(r, r + 1) for r in rows] + [(a, b) for a in rows for b in rows if a < b][:40]
            cases += [tuple(sorted(rnd.sample(range(nrows + 1), 2))) for _ in range(20)]
            for a, b in cases:
                assert same_bits(torch, got.get_slice(k)[a:b], ref.get_slice(k)[a:b]), (k, a, b)
    assert crossed > 0  # the big tensors of every model span several chunks
    # and a fresh file, slices first, whole tensors after: decoded pieces are stitched right
    with st_open(src, framework="pt") as ref, znn_gpu.safe_open(z, framework="pt") as got:
        for k in _big_tensors(ref, 3):
            n = ref.get_slice(k).get_shape()[0]
            got.get_slice(k)[n // 3 : n // 2]
            got.get_slice(k)[n - 1]
            assert same_bits(torch, got.get_tensor(k), ref.get_tensor(k)), k
        assert all(same_bits(torch, t, ref.get_tensor(k)) for k, t in got.get_tensors().items())


def test_dim0_slice_decodes_only_covering_chunks(torch, models):
    src, z = models["shipped-bf16"]
    ref = st_open(src, framework="pt")
    with znn_gpu.safe_open(z, framework="pt") as f:
        reader = f._file.reader
        starts = reader.chunk_starts()
        total = reader.stats()["chunks"]
        ds = f._file.header.data_start
        for k in _big_tensors(f, 3):
            info = f._file.info(k)
            rb = info.nbytes // info.shape[0]
            for r0, r1 in ((0, 1), (info.shape[0] // 3, info.shape[0] // 3 + CHUNK // rb // 2 + 1)):
                lo, hi = ds + info.start + r0 * rb, ds + info.start + r1 * rb
                want = bisect.bisect_left(starts, hi) - (bisect.bisect_right(starts, lo) - 1)
                before = reader.stats()["chunks_decoded"]
                got = f.get_slice(k)[r0:r1]
                used = reader.stats()["chunks_decoded"] - before
                assert used == want, (k, r0, r1)  # exactly the chunks the rows' bytes lie in
                assert same_bits(torch, got, ref.get_slice(k)[r0:r1])
        assert reader.stats()["chunks_decoded"] < total


def test_numpy_slices(models):
    src, z = models["shipped-fp32"]
    import safetensors.numpy as snp

    full = snp.load_file(src)
    with znn_gpu.safe_open(z, framework="np") as f:
        for k in _big_tensors(f, 2):
            a = full[k]
            n = a.shape[0]
            for idx in [np.s_[...], np.s_[0], np.s_[-1], np.s_[1:4], np.s_[::3], np.s_[n // 2 :, 1],
                        np.s_[0, ..., 0], np.s_[::-1], np.s_[5:2], np.s_[0:10**6]]:
                got = f.get_slice(k)[idx]
                assert got.shape == a[idx].shape and np.array_equal(got, a[idx]), (k, idx)
