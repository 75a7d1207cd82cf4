"""empirical_ntk timings: the fast C++ path, the numpy reference, numpy's BLAS floor of the method
(the Gram products alone, on precomputed features) and torch.func when torch is importable, in one
group per problem. Network: relu MLP, widths [32, 1024, 1024, 1] (the issue's headline case).

    pytest benchmarks/test_bench_empirical.py --benchmark-enable   # timings
    pytest benchmarks                                             # smoke test, every case once
                                                                  # (--benchmark-disable, what CI runs)

`ntkfast bench --suite empirical` prints the side-by-side report (N = 2048, torch.func,
neural-tangents, memory rows) with the issue's checks.
"""
import numpy as np
import pytest

import ntkfast
from ntkfast.bench import empirical as E
from ntkfast import reference

WIDTHS = E.HEADLINE_WIDTHS
# The reference takes ~6 s per call at N = 2048; torch.func about a minute (a 9 GB Jacobian).
SIZES = {"fast": (512, 2048), "blas_floor": (512, 2048), "reference": (512,), "torch_func": (128,)}
ROUNDS = {"fast": 5, "blas_floor": 5, "reference": 2, "torch_func": 1}
CASES = [(impl, n, dt) for impl, sizes in SIZES.items() for n in sizes
         for dt in (("float32",) if impl == "torch_func" else ("float32", "float64"))]
CASES += [("fast", 128, "float32")]  # beside torch_func's group


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(E.SEED).standard_normal((2048, E.N_FEATURES))


@pytest.fixture(scope="module")
def nets():
    return {dt: E._net(WIDTHS, dt) for dt in ("float32", "float64")}


def _target(impl, net, x, dtype):
    """The function to time and a check of its result."""
    if impl == "fast":
        return lambda: ntkfast.empirical_ntk(net, x), True
    if impl == "reference":
        return lambda: reference.empirical_ntk(net, x), True
    if impl == "blas_floor":
        gram, _ = E.floor_callers(net, x, dtype)
        return gram, False
    pytest.importorskip("torch")
    call, _ = E._Torch().caller(net, x, dtype)
    return call, True


@pytest.mark.parametrize("impl,n,dtype", CASES, ids=[f"{i}-{n}-{d}" for i, n, d in CASES])
def test_empirical_ntk(benchmark, data, nets, impl, n, dtype):
    benchmark.group = f"empirical_ntk relu {list(WIDTHS)} N={n} {dtype} trace"
    benchmark.extra_info.update(implementation=impl, n=n, dtype=dtype, widths=list(WIDTHS))
    net, x = nets[dtype], data[:n]
    fn, returns_kernel = _target(impl, net, x, dtype)
    # warmup_rounds=1: the first touch of freshly allocated memory is slow on VMs. With
    # --benchmark-disable, pedantic runs the function exactly once.
    out = benchmark.pedantic(fn, rounds=ROUNDS[impl], warmup_rounds=1, iterations=1)
    if returns_kernel:
        assert out.shape == (n, n) and out.dtype == np.dtype(dtype)
        fast = ntkfast.empirical_ntk(net, x)
        assert np.abs(out - fast).max() <= E.TOLERANCE[dtype] * np.abs(fast).max()


def test_report_smoke():
    """The `ntkfast bench` empirical section end to end on a tiny network, memory rows included
    (one in row blocks), without the optional comparators."""
    tiny = (8, 32, 32, 1)
    cases = (("tiny full", (8, 32, 32, 3), 64, "full", "float64", None),
             ("tiny trace", tiny, 200, "trace", "float32", 1 << 14))
    opts = E.options(False, widths=tiny, n=64, reference_n=32, repeat=1, torch=False, nt=False,
                     memory_cases=cases)
    results = E.run(opts, progress=lambda msg: None)
    text = E.report(results)
    assert "Gram floor" in text and "memory" in text and "tiny trace" in text
    assert [r["n"] for r in results["rows"]] == [64, 64, 32, 32]
    assert all(m["status"] == "measured" for m in results["memory"]), results["memory"]
    assert results["memory"][1]["blocked"] and not results["memory"][0]["blocked"]
    agreement = [c for c in results["checks"] if "reference" in c["name"]]
    assert len(agreement) == 2 and all(c["ok"] for c in agreement)
    assert all(c["ok"] is not False for c in results["checks"] if "peak RSS" in c["name"])
