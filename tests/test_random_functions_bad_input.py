"""ntkfast.random_functions refuses bad input with errors naming the argument, alike in the
reference."""
from __future__ import annotations

import numpy as np
import pytest

import ntkfast
from ntkfast import reference

X = np.random.default_rng(0).normal(size=(6, 3))
K = ntkfast.nngp(X, depth=2)
F = np.random.default_rng(1).normal(size=(4, 6, 2))
BOTH = pytest.mark.parametrize("mod", [ntkfast, reference], ids=["fast", "reference"])


@BOTH
@pytest.mark.parametrize("call, error, match", [
    (lambda m: m.gp_prior_draws(K, 0), ValueError, r"n_draws: expected an integer >= 1, got 0"),
    (lambda m: m.gp_prior_draws(K, -3), ValueError, r"n_draws: expected an integer >= 1"),
    (lambda m: m.gp_prior_draws(K, 2.0), TypeError, r"n_draws: expected an integer"),
    (lambda m: m.gp_prior_draws(K, 2, n_outputs=0), ValueError, r"n_outputs: expected an integer >= 1"),
    (lambda m: m.gp_prior_draws(K, 2, method="svd"), ValueError, r"method: expected 'cholesky' or 'eigh'"),
    (lambda m: m.gp_prior_draws(-np.eye(6), 2), np.linalg.LinAlgError, r"kernel: Cholesky failed.*method='eigh'"),
    (lambda m: m.gp_prior_draws(ntkfast.InfiniteWidthKernel(depth=2), 2), ValueError, r"x: a kernel object"),
    (lambda m: m.network_draws([3, 0, 1], X, 2), ValueError, r"widths: expected positive integers"),
    (lambda m: m.network_draws([3, 8, 1], X, 0), ValueError, r"n_draws: expected an integer >= 1"),
    (lambda m: m.network_draws([3, -4, 1], X, 2), ValueError, r"widths: expected positive integers, got \[3, -4, 1\]"),
    (lambda m: m.random_kernel(np.ones((0, 3))), ValueError, r"f: expected a non-empty array.*got shape \(0, 3\)"),
    (lambda m: m.random_kernel(np.ones(5)), ValueError, r"f: expected a non-empty array of shape \(P, N\)"),
    (lambda m: m.random_kernel(np.full((2, 3), np.nan)), ValueError, r"f: contains NaN"),
    (lambda m: m.flin(np.ones(3), F), ValueError, r"theta: expected shape \(4,\)"),
    (lambda m: m.flin_gd(F, np.ones(6), 1.0), ValueError, r"y: expected shape \(6, 2\)"),
    (lambda m: m.flin_gd(F[:, :, :1], np.ones((6, 1)), 1.0, loss="ce"), ValueError,
     r"loss: cross-entropy needs at least 2 outputs"),
    (lambda m: m.flin_gd(F, np.ones((6, 2)), 1.0, loss="ce"), ValueError, r"y: cross-entropy targets"),
    (lambda m: m.flin_gd(F, np.ones((6, 2)), -1.0), ValueError, r"t: times must be >= 0"),
    (lambda m: m.flin_gd(F, np.ones((6, 2)), 1.0, loss="hinge"), ValueError, r"loss: expected"),
    (lambda m: m.flin_gd(F, np.ones((6, 2)), 1.0, theta0=np.ones(5)), ValueError, r"theta0: expected shape \(4,\)"),
    (lambda m: m.flin_gd(F, np.ones((6, 2)), 1.0, dt=0), ValueError, r"dt: expected a positive"),
    (lambda m: m.monte_carlo_kernels(X, depth=2, width=0, n_networks=4), ValueError, r"width: expected an integer >= 1"),
    (lambda m: m.monte_carlo_kernels(X, depth=2, width=-3, n_networks=4), ValueError, r"width: expected an integer >= 1, got -3"),
    (lambda m: m.monte_carlo_kernels(X, depth=2, width=8, n_networks=0), ValueError, r"n_networks: expected an integer >= 1"),
    (lambda m: m.monte_carlo_kernels(X, depth=2, width=8, n_networks=1), ValueError, r"n_networks: expected at least 2"),
    (lambda m: m.monte_carlo_kernels(X, depth=0, width=8, n_networks=2), ValueError, r"depth: expected an integer"),
    (lambda m: m.monte_carlo_kernels(X, depth=2, width=8, n_networks=2, memory_budget=100), ValueError,
     r"memory_budget: 100 bytes cannot hold one row of the estimate.*give at least"),
    (lambda m: m.monte_carlo_kernels(X, X[:, :2], depth=2, width=8, n_networks=2), ValueError, r"x2: expected 3 features"),
])
def test_refused(mod, call, error, match):
    with pytest.raises(error, match=match):
        call(mod)


def test_n_outputs_with_full_blocks():
    blocks = ntkfast.random_kernel(F)
    with pytest.raises(ValueError, match=r"n_outputs: full output blocks fix the outputs"):
        ntkfast.gp_prior_draws(blocks, 3, n_outputs=2)
    assert ntkfast.gp_prior_draws(blocks, 3, method="eigh").f.shape == (3, 6, 2)


def test_a_budget_that_holds_the_rows_but_not_the_features_is_refused():
    with pytest.raises(ValueError, match=r"memory_budget: .* cannot hold the features of two inputs"):
        ntkfast.monte_carlo_kernels(X, depth=3, width=2000, n_networks=2, memory_budget=3000)
