"""Nyström kernel ridge regression (ntkfast.nystrom_krr) at smoke-test sizes: the fit with K(X, C)
kept in memory and recomputed every pass, one group; and the regression section of
``ntkfast bench`` at tiny sizes (its subprocesses, report and checks).

    pytest benchmarks/test_bench_regression.py --benchmark-enable   # timings
    pytest benchmarks                                               # smoke test (what CI runs)

``ntkfast bench --suite regression`` runs the issue's sizes (N = 1e6 and 1e5, d = 16, M = 2000).
"""
import pytest

import ntkfast
from ntkfast.bench import regression as R
from ntkfast.bench.regression_case import problem

N, M, D = 5000, 300, 16


@pytest.fixture(scope="module")
def data():
    return problem(N, 500, D, noise=0.5)


@pytest.mark.parametrize("kernel_matrix", ["kept", "recomputed"])
def test_nystrom_krr(benchmark, data, kernel_matrix):
    x, y, _, _ = data
    budget = None if kernel_matrix == "kept" else 4 << 20  # K(X, C) is 12 MB
    benchmark.group = f"nystrom_krr N={N} M={M} d={D} relu depth 3"
    benchmark.extra_info.update(kernel_matrix=kernel_matrix)
    model = benchmark.pedantic(
        lambda: ntkfast.nystrom_krr(ntkfast.InfiniteWidthKernel(depth=3), x, y, ridge=1.0, n_centers=M, random_state=0,
                                    memory_budget=budget, progress=False),
        rounds=3, warmup_rounds=1, iterations=1)
    assert model.converged and model.kernel_passes == model.iterations + 1


def test_regression_section_runs():
    opts = R.options(True, sizes=(3000, 1000), n_test=500, n_centers=100, first_budget=2 << 20)
    results = R.run(opts, progress=lambda msg: None)
    assert all("error" not in c for c in results["cases"]), results["cases"]
    assert not results["cases"][0]["kept_in_memory"] and results["cases"][1]["kept_in_memory"]
    text = R.report(results)
    assert "fit / ((iterations + 3) x K(X, C) pass)" in text and "N=1000: fit" in text
