"""The compiled kernel dynamics (ntkfast.kernel_gd_mse / kernel_gd / infinite_ensemble) against
the numpy reference (ntkfast.reference.*), which test_dynamics_truth.py checks against
independent truth.

Tolerances (relative = max |a − b| / max |b|): the closed forms and fixed-step RK4 differ only by
rounding (1e-12); adaptive dopri5 runs the same step control in both, so it accepts the same
steps and differs by rounding amplified through the controller (1e-9); kernel regression at t = ∞
by Cholesky (C++ blocked, numpy's cholesky in the reference) sums in other orders (1e-10). Also
here: thread invariance (bit-identical results for n_threads 1, 2, 3) and Ctrl-C during a long
integration.
"""
from __future__ import annotations

import _thread
import threading
import time

from conftest import digests_per_omp_threads, main_thread_ticks_while
import ntkfast
import numpy as np
import pytest
from ntkfast import reference


def rel_err(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype == np.float64
    assert np.isfinite(actual).all()
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


def problem(n, m, o, seed, loss="mse", activation="relu", depth=3):
    rng = np.random.default_rng([seed, n, m, o])
    x = rng.standard_normal((n + m, 4))
    kk = ntkfast.ntk(x, depth=depth, activation=activation, bias_std=0.1)
    if loss == "mse":
        y = rng.standard_normal((n, o)) if o else rng.standard_normal(n)
    else:
        y = np.eye(o)[rng.integers(0, o, n)]
    shape = (n, o) if o else (n,)
    tshape = (m, o) if o else (m,)
    return {"k_train": kk[:n, :n], "y_train": y, "k_test_train": kk[n:, :n],
                "f0_train": rng.standard_normal(shape), "f0_test": rng.standard_normal(tshape)}


def assert_same_result(fast, ref, tol):
    np.testing.assert_array_equal(fast.t, ref.t)
    assert rel_err(fast.f_train, ref.f_train) <= tol, "f_train"
    if ref.f_test is None:
        assert fast.f_test is None
    else:
        assert rel_err(fast.f_test, ref.f_test) <= tol, "f_test"
    np.testing.assert_allclose(fast.loss, ref.loss, rtol=tol, atol=0)


CASES = [  # (n, m, o, seed): 1-D y (o = 0), one and several outputs, no test points (m = 0)
    (12, 5, 0, 0), (12, 5, 1, 1), (30, 7, 3, 2), (9, 0, 2, 3), (150, 20, 4, 4),
]


@pytest.mark.parametrize("n,m,o,seed", CASES)
@pytest.mark.parametrize("ridge", [0.0, 0.01])
def test_kernel_gd_mse_parity(n, m, o, seed, ridge):
    p = problem(n, m, o, seed)
    if m == 0:
        p.pop("k_test_train"), p.pop("f0_test")
    times = [0.0, 0.01, 1.0, 1.0, 30.0, 1e4, np.inf]
    fast = ntkfast.kernel_gd_mse(t=times, ridge=ridge, **p)
    ref = reference.kernel_gd_mse(t=times, ridge=ridge, **p)
    assert_same_result(fast, ref, 1e-12)


@pytest.mark.parametrize("n,m,o,seed", CASES)
@pytest.mark.parametrize("ridge", [0.0, 0.01])
def test_kernel_gd_mse_parity_at_infinity(n, m, o, seed, ridge):
    # Every time infinite: the blocked Cholesky in C++ against np.linalg.cholesky and textbook
    # substitutions in the reference (different summation orders: 1e-10).
    p = problem(n, m, o, seed)
    if m == 0:
        p.pop("k_test_train"), p.pop("f0_test")
    fast = ntkfast.kernel_gd_mse(t=[np.inf, np.inf], ridge=ridge, **p)
    ref = reference.kernel_gd_mse(t=[np.inf, np.inf], ridge=ridge, **p)
    assert_same_result(fast, ref, 1e-10)


@pytest.mark.parametrize("n,m,o,seed", CASES)
@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_kernel_gd_parity(n, m, o, seed, loss, method):
    if loss == "ce" and o < 2:
        o = 2
    p = problem(n, m, o, seed, loss=loss)
    if m == 0:
        p.pop("k_test_train"), p.pop("f0_test")
    times = [0.0, 0.3, 0.3, 2.0, 7.0]
    kw = {"loss": loss, "method": method}
    if method == "rk4":
        kw["dt"] = 0.05
    # one thread: thread invariance is tested below, and on a loaded 2-core machine OpenMP
    # barriers at every step of a small problem cost seconds
    fast = ntkfast.kernel_gd(t=times, n_threads=1, **kw, **p)
    ref = reference.kernel_gd(t=times, **kw, **p)
    assert_same_result(fast, ref, 1e-12 if method == "rk4" else 1e-9)
    assert (fast.n_steps, fast.n_rejected) == (ref.n_steps, ref.n_rejected)
    assert fast.n_rhs == ref.n_rhs


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_kernel_gd_default_step_and_tolerance_parity(method):
    # Defaults (dt = N / max row sum; rtol/atol) must be the same in both implementations.
    p = problem(40, 6, 3, 5, loss="ce")
    fast = ntkfast.kernel_gd(t=[0.0, 5.0, 50.0], loss="cross_entropy", method=method, **p)
    ref = reference.kernel_gd(t=[0.0, 5.0, 50.0], loss="cross_entropy", method=method, **p)
    assert_same_result(fast, ref, 1e-12 if method == "rk4" else 1e-9)
    assert fast.n_steps == ref.n_steps


def test_kernel_gd_callable_loss_parity():
    def huber(f, y):
        r = f - y
        small = np.abs(r) <= 1
        ell = np.where(small, 0.5 * r * r, np.abs(r) - 0.5)
        return float(ell.sum(axis=1).mean()), np.where(small, r, np.sign(r))

    p = problem(20, 4, 2, 6)
    p["f0_train"] = 3 * p["f0_train"]
    for method, extra in [("rk4", {"dt": 0.1}), ("dopri5", {})]:
        fast = ntkfast.kernel_gd(t=[0.0, 1.0, 6.0], loss=huber, method=method, **extra, **p)
        ref = reference.kernel_gd(t=[0.0, 1.0, 6.0], loss=huber, method=method, **extra, **p)
        assert_same_result(fast, ref, 1e-12 if method == "rk4" else 1e-9)


def _points(n, m, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.standard_normal((m, 3))


@pytest.mark.parametrize("get", ["ntk", "nngp"])
@pytest.mark.parametrize("covariance", [True, False])
@pytest.mark.parametrize("two_d", [False, True])
@pytest.mark.parametrize("activation", ["erf", "tanh"])  # closed form / quadrature kernels
def test_infinite_ensemble_parity(get, covariance, two_d, activation):
    x, xs = _points(10, 6, 7)
    rng = np.random.default_rng(8)
    y = rng.standard_normal((10, 2)) if two_d else rng.standard_normal(10)
    kw = {"get": get, "depth": 3, "activation": activation, "weight_std": 1.3, "bias_std": 0.2,
          "ridge": 1e-3, "covariance": covariance}
    times = [0.0, 0.5, 20.0, np.inf]
    fast = ntkfast.infinite_ensemble(x, y, xs, times, **kw)
    ref = reference.infinite_ensemble(x, y, xs, times, **kw)
    assert fast.mean.shape == ref.mean.shape == ((4, 6, 2) if two_d else (4, 6))
    np.testing.assert_array_equal(fast.t, ref.t)
    assert np.abs(fast.mean - ref.mean).max() <= 1e-11 * np.abs(ref.mean).max()
    if covariance:
        assert fast.cov.shape == (4, 6, 6)
        assert np.abs(fast.cov - ref.cov).max() <= 1e-11 * np.abs(ref.cov).max()
        np.testing.assert_allclose(fast.std, ref.std, rtol=1e-9, atol=1e-12)
    else:
        assert fast.cov is None and ref.cov is None


# ---------------------------------------------------------------------------------------------
# Thread invariance and Ctrl-C
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_kernel_gd_is_bit_identical_for_any_thread_count(method):
    # Large enough for several row tiles of K.
    p = problem(700, 50, 3, 9, loss="ce")
    kw = {"t": [0.0, 1.0, 4.0], "loss": "ce", "method": method}
    if method == "rk4":
        kw["dt"] = 0.25
    results = [ntkfast.kernel_gd(n_threads=k, **kw, **p) for k in (1, 2, 3)]
    for r in results[1:]:
        np.testing.assert_array_equal(r.f_train, results[0].f_train)
        np.testing.assert_array_equal(r.f_test, results[0].f_test)
        np.testing.assert_array_equal(r.loss, results[0].loss)
        assert r.n_steps == results[0].n_steps


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_kernel_gd_mse_at_infinity_is_bit_identical_for_any_thread_count():
    # Three 256-row tiles of the factorization (the last partial), two 64-column tiles of the
    # solves (70 outputs), and the factor itself from the core.
    p = problem(700, 50, 70, 13)
    results = [ntkfast.kernel_gd_mse(t=np.inf, ridge=1e-3, n_threads=k, **p) for k in (1, 2, 3)]
    for r in results[1:]:
        np.testing.assert_array_equal(r.f_train, results[0].f_train)
        np.testing.assert_array_equal(r.f_test, results[0].f_test)
    factors = []
    for threads in (1, 2, 3):
        factors.append(np.zeros((700, 700)))
        k = np.ascontiguousarray(p["k_train"])
        assert ntkfast._core.cholesky_factor(k, 1e-3, factors[-1], threads) == 0
    for f in factors[1:]:
        np.testing.assert_array_equal(f, factors[0])


def test_kernel_gd_mse_at_infinity_releases_the_gil():
    rng = np.random.default_rng(14)
    n = 4000  # 0.4 s on one thread here (3000 took 0.17 s on a quiet machine: too quick to tell)
    a = rng.random((n, n))
    k = n * np.eye(n) + (a + a.T)  # positive definite; costs what a kernel does
    y = rng.standard_normal(n)
    ticks, elapsed = main_thread_ticks_while(lambda: ntkfast.kernel_gd_mse(k, y, np.inf, n_threads=1))
    assert elapsed > 0.2, "too quick to tell"
    assert ticks >= 10, f"{ticks} ticks in {elapsed:.2f} s"


def test_ctrl_c_interrupts_a_long_kernel_gd():
    # Unimpeded this takes minutes (RK4 with a tiny step on N = 1500); the interrupt arrives
    # after 0.3 s and must stop the compiled integrator, not wait for it to finish.
    p = problem(1500, 0, 2, 10, loss="ce")
    p.pop("k_test_train"), p.pop("f0_test")
    timer = threading.Timer(0.3, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ntkfast.kernel_gd(t=900.0, loss="ce", method="rk4", dt=1e-3, n_threads=1, **p)
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 5.0, "the interrupt was honoured only after the call"


_ENV_SCRIPT = """
import hashlib, numpy as np, ntkfast
rng = np.random.default_rng(3)
x = rng.standard_normal((400, 5))
k = ntkfast.ntk(x, depth=3)
y = np.eye(3)[rng.integers(0, 3, 380)]
r = ntkfast.kernel_gd(k[:380, :380], y, [0.0, 2.0], loss="ce", k_test_train=k[380:, :380])
print(hashlib.sha256(r.f_train.tobytes() + r.f_test.tobytes()).hexdigest())
"""


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_kernel_gd_is_bit_identical_for_any_omp_num_threads():
    assert len(digests_per_omp_threads(_ENV_SCRIPT)) == 1


_CHOLESKY_ENV_SCRIPT = """
import hashlib, numpy as np, ntkfast
rng = np.random.default_rng(4)
x = rng.standard_normal((650, 5))
k = ntkfast.ntk(x, depth=3)
r = ntkfast.kernel_gd_mse(k[:600, :600], rng.standard_normal((600, 3)), np.inf,
                          k_test_train=k[600:, :600])
print(hashlib.sha256(r.f_test.tobytes()).hexdigest())
"""


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_kernel_gd_mse_at_infinity_is_bit_identical_for_any_omp_num_threads():
    assert len(digests_per_omp_threads(_CHOLESKY_ENV_SCRIPT)) == 1


# ---------------------------------------------------------------------------------------------
# The benchmark's building blocks (_core.kernel_matvec, _core.read_bandwidth)
# ---------------------------------------------------------------------------------------------
def test_kernel_matvec_is_k_times_d_for_any_thread_count():
    rng = np.random.default_rng(12)
    k = rng.standard_normal((333, 301))
    d = rng.standard_normal((301, 7))
    outs = []
    for threads in (1, 2, 3):
        out = np.full((333, 7), np.nan)
        ntkfast._core.kernel_matvec(k, d, out, threads)
        outs.append(out)
    assert np.abs(outs[0] - k @ d).max() <= 1e-12 * np.abs(k @ d).max()
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    with pytest.raises(ValueError):
        ntkfast._core.kernel_matvec(k, d[:300], np.empty((333, 7)), 1)


def test_read_bandwidth_is_a_positive_rate():
    rate = ntkfast._core.read_bandwidth(1 << 22, 1, 2)
    assert np.isfinite(rate) and 1e8 < rate < 1e13  # bytes/s: between 0.1 GB/s and 10 TB/s


def test_kernel_gd_releases_the_gil():
    p = problem(1200, 0, 2, 11, loss="ce")
    p.pop("k_test_train"), p.pop("f0_test")
    ticks, elapsed = main_thread_ticks_while(
        lambda: ntkfast.kernel_gd(t=3.0, loss="ce", method="rk4", dt=0.01, n_threads=1, **p))
    assert elapsed > 0.2, "too quick to tell"
    # holding the GIL for the whole call allows 1 tick; released, ~elapsed / 5 ms (fewer when
    # the machine is loaded, hence the margin)
    assert ticks >= 10, f"{ticks} ticks in {elapsed:.2f} s"
