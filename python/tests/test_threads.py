"""Four threads calling get_tensor at once on one open file (transformers loads with 4 workers)."""

import threading

import safetensors.torch as st
from conftest import same_bits

import znn_gpu


def _run(n, target):
    barrier = threading.Barrier(n)
    errors = []

    def wrap(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    th = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    assert not errors, errors


def test_four_threads_same_tensors(torch, model):
    src, z = model
    ref = st.load_file(src)
    keys = list(ref)
    with znn_gpu.safe_open(z, framework="pt") as f:
        results = [dict() for _ in range(4)]

        def work(i):
            for k in keys:  # all threads ask for the same tensor at about the same time
                results[i][k] = f.get_tensor(k)

        _run(4, work)
    for r in results:
        for k in keys:
            assert same_bits(torch, r[k], ref[k]), k


def test_four_threads_disjoint_and_slices(torch, models):
    src, z = models["mixed"]
    ref = st.load_file(src)
    keys = list(ref)
    with znn_gpu.safe_open(z, framework="pt") as f:
        out = {}
        lock = threading.Lock()

        def work(i):
            for k in keys[i::4]:
                t = f.get_tensor(k)
                with lock:
                    out[k] = t
            s = f.get_slice("big.bf16")[i * 150 : (i + 1) * 150 + 7]  # overlapping row ranges
            with lock:
                out[f"slice{i}"] = s

        _run(4, work)
    for k in keys:
        assert same_bits(torch, out[k], ref[k]), k
    for i in range(4):
        assert same_bits(torch, out[f"slice{i}"], ref["big.bf16"][i * 150 : (i + 1) * 150 + 7])


def test_four_threads_load_file(torch, models):
    src, z = models["shipped-bf16"]
    ref = st.load_file(src)
    outs = [None] * 4

    def work(i):
        outs[i] = znn_gpu.torch.load_file(z)

    _run(4, work)
    for o in outs:
        for k in ref:
            assert same_bits(torch, o[k], ref[k]), k
