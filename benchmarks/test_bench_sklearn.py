"""The scikit-learn estimators and GP kernel: fit + predict of NTKRegressor beside the Gram +
Cholesky floor (one group), the GP kernel's value and gradient beside its finite differences (one
group), and the sklearn section of ``ntkfast bench`` at tiny sizes (its cases, report and checks).

    pytest benchmarks/test_bench_sklearn.py --benchmark-enable   # timings
    pytest benchmarks                                            # smoke test (what CI runs)

``ntkfast bench --suite sklearn`` runs the issue's sizes (N = 10 000, d = 64; GP N = 1 000).
"""
import numpy as np
import pytest

pytest.importorskip("sklearn")

import ntkfast  # noqa: E402
from ntkfast.bench import sklearn as S  # noqa: E402
from ntkfast.bench.regression_case import problem  # noqa: E402
from ntkfast.sklearn import NTKGPKernel, NTKRegressor  # noqa: E402

N, N_TEST, D = 1000, 200, 64


@pytest.fixture(scope="module")
def data():
    return problem(N, N_TEST, D, noise=0.5)


@pytest.mark.parametrize("impl", ["NTKRegressor", "Gram + Cholesky"])
def test_fit_predict(benchmark, data, impl):
    x, y, xt, _ = data
    benchmark.group = f"fit + predict N={N} test={N_TEST} d={D} relu depth 3"
    k = ntkfast.InfiniteWidthKernel(depth=3)
    if impl == "NTKRegressor":
        fn = lambda: NTKRegressor(ridge=1e-3).fit(x, y).predict(xt)  # noqa: E731
    else:
        fn = lambda: ntkfast.kernel_gd_mse(k(x), y, np.inf, k_test_train=k(xt, x), ridge=1e-3).f_test[0]  # noqa: E731
    benchmark.pedantic(fn, rounds=3, warmup_rounds=1, iterations=1)


@pytest.mark.parametrize("gradient", ["analytic", "finite differences"])
def test_gp_kernel_gradient(benchmark, data, gradient):
    x = data[0][:500]
    benchmark.group = "NTKGPKernel(relu, depth 10)(X, eval_gradient=True), N=500"
    kernel = NTKGPKernel(depth=10, analytic_gradient=gradient == "analytic")
    value, grad = benchmark.pedantic(lambda: kernel(x, eval_gradient=True), rounds=3,
                                     warmup_rounds=1, iterations=1)
    assert grad.shape == (500, 500, 2)


def test_sklearn_section_runs():
    opts = S.options(True, n_train=400, n_test=100, gp_n=80, gp_depth=3, rounds=1, digits_n=400)
    results = S.run(opts, progress=lambda msg: None)
    assert results["fit_predict"]["max_rel_difference"] <= 1e-10
    text = S.report(results)
    assert "fit + predict / (ntk Gram + Cholesky)" in text and "GP fit: finite differences" in text
