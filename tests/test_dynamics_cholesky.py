"""kernel_gd_mse when every requested time is infinite: kernel (ridge) regression by the blocked
Cholesky in C++ (and np.linalg.cholesky in the reference) instead of the eigendecomposition.

The eigen path is what it replaces, so it is the truth here: the same call with t = [0, inf] (a
finite time keeps the eigendecomposition) gives the t = ∞ row to compare with. Where the Cholesky
factor shows the eigen path would count a direction as null (a failed or tiny pivot), the
eigendecomposition runs after all, with a RuntimeWarning. Parity with the reference and thread
invariance: test_dynamics_parity.py; Ctrl-C: test_interrupt_and_threads.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import ntkfast
from ntkfast import reference

IMPLS = [pytest.param(ntkfast, id="fast"), pytest.param(reference, id="ref")]


def rel_err(actual, expected):
    assert actual.shape == expected.shape
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


def problem(n, m, o, seed, f0=True):
    """A depth-3 relu NTK of n + m Gaussian points in 8 dimensions (condition number ~1e3):
    k_train, y_train ((n,) when o == 0), and f0 / test points as asked."""
    rng = np.random.default_rng([seed, n, m, o])
    x = rng.standard_normal((n + m, 8))
    kk = ntkfast.ntk(x, depth=3, bias_std=0.1)
    shape, tshape = ((n, o), (m, o)) if o else ((n,), (m,))
    p = {"k_train": kk[:n, :n], "y_train": rng.standard_normal(shape)}
    if f0:
        p["f0_train"] = rng.standard_normal(shape)
    if m:
        p["k_test_train"] = kk[n:, :n]
        if f0:
            p["f0_test"] = rng.standard_normal(tshape)
    return p


# (n, m, o, f0): sizes across the core's 256-row tiles (600: three, the last partial), 1-D y
# (o = 0), one and several outputs, 70 outputs (two 64-column tiles of the solves), with and
# without f0 and test points.
CASES = [(5, 3, 0, True), (5, 0, 2, False), (257, 40, 1, True), (300, 0, 3, True),
         (600, 50, 70, True), (600, 50, 0, False), (513, 20, 4, True)]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n,m,o,f0", CASES)
@pytest.mark.parametrize("ridge", [0.0, 1e-3, 0.5])
def test_cholesky_gives_the_eigen_path_results(impl, n, m, o, f0, ridge):
    p = problem(n, m, o, 1, f0)
    chol = impl.kernel_gd_mse(t=np.inf, ridge=ridge, **p)
    eig = impl.kernel_gd_mse(t=[0.0, np.inf], ridge=ridge, **p)
    # f_train = y exactly on both paths (every mode has converged), and so the loss is 0
    np.testing.assert_array_equal(chol.f_train[0], eig.f_train[1])
    np.testing.assert_array_equal(chol.loss, [0.0])
    np.testing.assert_array_equal(chol.t, [np.inf])
    if m:
        assert chol.f_test.shape == eig.f_test[1:].shape
        assert rel_err(chol.f_test[0], eig.f_test[1]) <= 1e-10
    else:
        assert chol.f_test is None


@pytest.mark.parametrize("impl", IMPLS)
def test_repeated_infinite_times_repeat_the_solution(impl):
    p = problem(40, 6, 2, 2)
    res = impl.kernel_gd_mse(t=[np.inf, np.inf, np.inf], **p)
    assert res.f_train.shape == (3, 40, 2) and res.f_test.shape == (3, 6, 2)
    for j in (1, 2):
        np.testing.assert_array_equal(res.f_test[j], res.f_test[0])
        np.testing.assert_array_equal(res.f_train[j], res.f_train[0])


def _rank_five(n=200, seed=3):
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((n, 5))
    return b @ b.T, rng.standard_normal(n), rng.standard_normal((4, 5)) @ b.T


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("jitter,why", [
    (0.0, "not positive definite"),      # potrf meets a pivot <= 0
    (3e-13, "numerically singular"),     # it succeeds, with pivots² ~3e-13 <= N·eps·max K_ii
])
def test_rank_deficient_kernel_falls_back_to_the_eigendecomposition(impl, jitter, why):
    k, y, kt = _rank_five()
    k = k + jitter * np.eye(k.shape[0])
    with pytest.warns(RuntimeWarning, match=f"k_train \\+ ridge·I is {why}.*used the eigendecomposition"):
        got = impl.kernel_gd_mse(k, y, np.inf, k_test_train=kt)
    eig = impl.kernel_gd_mse(k, y, [1.0, np.inf], k_test_train=kt)
    np.testing.assert_array_equal(got.f_train[0], eig.f_train[1])
    np.testing.assert_array_equal(got.f_test[0], eig.f_test[1])
    np.testing.assert_array_equal(got.loss[0], eig.loss[1])
    assert got.loss[0] > 0  # the pseudo-inverse: f0's part along the null space stays


def test_the_fallback_names_the_failed_pivot():
    k, y, _ = _rank_five()
    with pytest.warns(RuntimeWarning, match=r"failed at pivot \d+ of 200"):
        ntkfast.kernel_gd_mse(k, y, np.inf)


@pytest.mark.parametrize("impl", IMPLS)
def test_a_ridge_makes_a_rank_deficient_kernel_a_cholesky_solve(impl):
    k, y, kt = _rank_five()
    got = impl.kernel_gd_mse(k, y, np.inf, k_test_train=kt, ridge=0.1)  # no warning (errors)
    want = kt @ np.linalg.solve(k + 0.1 * np.eye(200), y)
    assert rel_err(got.f_test[0], want) <= 1e-10
    np.testing.assert_array_equal(got.f_train[0], y)


@pytest.mark.parametrize("impl", IMPLS)
def test_an_indefinite_kernel_is_refused_without_a_warning(impl):
    k, y, _ = _rank_five()
    k = k - 1.0 * np.eye(200)
    with pytest.raises(ValueError, match="k_train.*positive semi-definite"):
        impl.kernel_gd_mse(k, y, np.inf)  # filterwarnings=error: a fallback warning fails here


@pytest.mark.parametrize("impl", IMPLS)
def test_targets_near_the_float64_limit(impl):
    # f_train = y needs no arithmetic, so huge targets are returned as they are; α = A⁻¹ y
    # overflows once A is small, which the test outputs would carry: a FloatingPointError naming
    # y_train, as on the eigen path.
    k = np.eye(5) + 0.1
    y = np.full(5, 1e308)
    res = impl.kernel_gd_mse(k, y, np.inf)
    np.testing.assert_array_equal(res.f_train[0], y)
    assert res.loss[0] == 0.0
    with pytest.raises(FloatingPointError, match="y_train"):
        impl.kernel_gd_mse(1e-3 * k, y, np.inf, k_test_train=np.ones((2, 5)))


def test_n_threads_is_validated():
    k, y, _ = _rank_five(20)
    for bad in (0, "2", 2.0):
        with pytest.raises((ValueError, TypeError), match="n_threads"):
            ntkfast.kernel_gd_mse(k, y, np.inf, ridge=1.0, n_threads=bad)
        with pytest.raises((ValueError, TypeError), match="n_threads"):
            reference.kernel_gd_mse(k, y, np.inf, ridge=1.0, n_threads=bad)


def test_core_factor_and_solve():
    # The compiled pieces against numpy: L Lᵀ = K + ridge·I (lower triangle only written), the
    # solve, the first failing pivot (1-based), and shape checks.
    rng = np.random.default_rng(5)
    a = rng.standard_normal((300, 310))
    k = a @ a.T / 310
    factor = np.full((300, 300), np.nan)
    assert ntkfast._core.cholesky_factor(k, 0.25, factor, 2) == 0
    low = np.tril(factor)
    assert np.isnan(factor[np.triu_indices(300, 1)]).all()
    assert rel_err(low @ low.T, k + 0.25 * np.eye(300)) <= 1e-14
    b = rng.standard_normal((300, 3))
    x = b.copy()
    ntkfast._core.cholesky_solve(factor, x, 2)
    assert rel_err(x, np.linalg.solve(k + 0.25 * np.eye(300), b)) <= 1e-12
    bad = k.copy()
    bad[270, 270] = -1.0  # the first 270 leading minors are positive definite
    assert ntkfast._core.cholesky_factor(bad, 0.0, factor, 2) == 271
    with pytest.raises(ValueError):
        ntkfast._core.cholesky_factor(k, 0.0, np.empty((300, 299)), 1)
    with pytest.raises(ValueError):
        ntkfast._core.cholesky_solve(factor, np.empty((299, 2)), 1)
