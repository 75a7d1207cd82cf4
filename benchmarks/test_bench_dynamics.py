"""Training-dynamics timings (issue 4, item 9) at smoke-test sizes: kernel_gd (ntkfast's dopri5 and
the numpy reference's fixed-step RK4), the kernel product of one right-hand side, kernel
regression at t = inf (Cholesky, eigendecomposition, LAPACK floor), and train (ntkfast and the
numpy reference), one group per problem.

    pytest benchmarks/test_bench_dynamics.py --benchmark-enable   # timings
    pytest benchmarks                                             # smoke test, every case once
                                                                  # (--benchmark-disable, what CI runs)

`ntkfast bench --suite dynamics` prints the side-by-side report at the issue's sizes (kernel_gd
N=4000, t=1000, accuracy-matched RK4 step; train [32, 1024, 1024, 1], N=1024, 100 steps) with the
bandwidth and BLAS floors and the checks.
"""
import numpy as np
import pytest

import ntkfast
from ntkfast.bench import dynamics as D
from ntkfast import _core, reference

KERNEL_N, N_OUT, T_END = 1000, 10, 100.0
TIMES = np.array([f * T_END for f in D.TIME_FRACTIONS])
TRAIN_WIDTHS, TRAIN_N, TRAIN_STEPS = (D.N_FEATURES, 512, 512, 1), 256, 10
ROUNDS = {"fast": 5, "reference": 2}


@pytest.fixture(scope="module")
def kernel_problem():
    return D.kernel_problem(KERNEL_N, N_OUT)


@pytest.fixture(scope="module")
def train_problem():
    return D.train_problem(TRAIN_WIDTHS, TRAIN_N, "float32")


def _kernel_gd(impl):
    fn = ntkfast.kernel_gd if impl == "fast" else reference.kernel_gd
    # the reference at the spec's default rk4 step: a smoke size, not the accuracy-matched step
    kw = {} if impl == "fast" else dict(method="rk4")
    return lambda k, y: fn(k, y, TIMES, loss="cross_entropy", **kw)


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_kernel_gd(benchmark, kernel_problem, impl):
    k, y = kernel_problem
    benchmark.group = f"kernel_gd cross-entropy N={KERNEL_N} O={N_OUT} t={T_END:g}"
    benchmark.extra_info.update(implementation=impl, method="dopri5" if impl == "fast" else "rk4")
    # warmup_rounds=1: the first touch of freshly allocated memory is slow on VMs. With
    # --benchmark-disable, pedantic runs the function exactly once.
    res = benchmark.pedantic(_kernel_gd(impl), args=(k, y), rounds=ROUNDS[impl], warmup_rounds=1,
                             iterations=1)
    assert res.f_train.shape == (len(TIMES), KERNEL_N, N_OUT)
    assert np.all(np.isfinite(res.f_train)) and res.n_rhs > 0


@pytest.mark.parametrize("impl", ["kernel_matvec", "numpy"])
def test_kernel_product(benchmark, kernel_problem, impl):
    k, y = kernel_problem
    d = np.ascontiguousarray(np.full_like(y, 1.0 / N_OUT) - y)
    out = np.empty_like(d)
    threads = ntkfast.get_num_threads()
    fn = ((lambda: _core.kernel_matvec(k, d, out, threads)) if impl == "kernel_matvec"
          else (lambda: np.matmul(k, d, out=out)))
    benchmark.group = f"kernel product K @ D, N={KERNEL_N} O={N_OUT} float64"
    benchmark.extra_info.update(implementation=impl)
    benchmark.pedantic(fn, rounds=20, warmup_rounds=1, iterations=1)
    np.testing.assert_allclose(out, k @ d, rtol=1e-12, atol=1e-12 * np.abs(k).max())


REGRESSION_M = 250


@pytest.fixture(scope="module")
def regression_problem():
    return D.regression_problem(KERNEL_N, REGRESSION_M, N_OUT)


@pytest.mark.parametrize("impl", ["cholesky", "eigen", "floor"])
def test_kernel_regression(benchmark, regression_problem, impl):
    """kernel_gd_mse at t = inf (the blocked Cholesky), the same call at t = [0, inf] (the
    eigendecomposition), and the LAPACK floor (scipy cho_factor + cho_solve, numpy's product)."""
    k, k_test, y = regression_problem
    fn = {"cholesky": lambda: ntkfast.kernel_gd_mse(k, y, np.inf, k_test_train=k_test).f_test[-1],
          "eigen": lambda: ntkfast.kernel_gd_mse(k, y, [0.0, np.inf], k_test_train=k_test).f_test[-1],
          "floor": D.regression_floor(k, k_test, y)}[impl]
    benchmark.group = f"kernel regression t=inf N={KERNEL_N} M={REGRESSION_M} O={N_OUT}"
    benchmark.extra_info.update(implementation=impl)
    f_test = benchmark.pedantic(fn, rounds=ROUNDS["fast"], warmup_rounds=1, iterations=1)
    want = ntkfast.kernel_gd_mse(k, y, [0.0, np.inf], k_test_train=k_test).f_test[-1]
    assert np.abs(f_test - want).max() <= 1e-10 * np.abs(want).max()


def test_read_bandwidth():
    """The bandwidth probe behind the report's floor answers a positive rate (not timed here)."""
    bw = _core.read_bandwidth(1 << 22, ntkfast.get_num_threads(), 2)
    assert np.isfinite(bw) and bw > 0


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_train(benchmark, train_problem, impl):
    net, x, y = train_problem
    fn = ntkfast.train if impl == "fast" else reference.train
    benchmark.group = f"train {list(TRAIN_WIDTHS)} N={TRAIN_N} {TRAIN_STEPS} steps float32"
    benchmark.extra_info.update(implementation=impl)
    hist = benchmark.pedantic(fn, args=(net, x, y), kwargs=dict(lr=D.TRAIN_LR, steps=TRAIN_STEPS,
                                                               progress=False),
                              rounds=ROUNDS[impl], warmup_rounds=1, iterations=1)
    assert hist.f_train.shape[1:] == (TRAIN_N,) and np.all(np.isfinite(hist.loss))


def test_report_smoke():
    """The dynamics section of `ntkfast bench` end to end at tiny sizes: every cell measured, the
    default tolerance accurate, the found rk4 step accurate, the two trainings in agreement."""
    opts = D.options(True, n=200, t_end=20.0, train_widths=(8, 32, 32, 1), train_n=64,
                     train_steps=5, repeat=1, product_repeat=3, reg_n=300, reg_m=40)
    results = D.run(opts, progress=lambda msg: None)
    text = D.report(results)
    assert "bandwidth floor" in text and "BLAS floor" in text and "checks" in text
    kg = results["kernel_gd"]
    assert [s["timing"]["status"] for s in kg["solvers"]] == ["measured"] * 3
    assert all(s["error"] <= D.ACCURACY for s in kg["solvers"]), kg["solvers"]
    assert kg["matvec"]["status"] == "measured" and kg["bandwidth"] > 0
    assert results["train"]["fast"]["status"] == "measured"
    accuracy = [c for c in results["checks"] if c["format"] == "e"]
    rg = results["regression"]
    assert [rg[key]["status"] for key in ("cholesky", "eigen", "floor")] == ["measured"] * 3
    assert rg["cholesky_vs_eigen"] <= 1e-10 and rg["floor_vs_eigen"] <= 1e-10
    assert "kernel_gd_mse t=inf (Cholesky)" in text and "LAPACK floor" in text
    assert len(accuracy) == 3 and all(c["ok"] for c in accuracy), accuracy
    assert all(c["ok"] is None for c in results["checks"] if c["format"] == "x")  # not headline


def test_rk4_step_search():
    """The step search finds the smallest passing step count of a model error ~ (n0 / n)^4."""
    for n0 in (3.0, 57.0, 400.0):
        n, trials = D.largest_rk4_steps(lambda n, n0=n0: (n0 / n) ** 4 * D.ACCURACY, start=8)
        assert n is not None and n >= n0 and n <= n0 * D.STEP_BRACKET + 1
        assert len(trials) <= D.MAX_SEARCH_RUNS
