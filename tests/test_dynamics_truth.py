"""Independent truth for kernel gradient descent (ntk-math.md §4) and the infinite ensemble.

Convention under test: ∂_t f_t(x) = −(1/N) Σ_i K(x, x_i) d_t(x_i), C = (1/N) Σ_i ℓ(f(x_i), y_i);
MSE ℓ = ½||f − y||² (d = f − y); cross-entropy ℓ = −Σ_k y_k log softmax(f)_k
(d = softmax(f) − y).

Truth used here shares nothing with ntkfast's dynamics code:
(a) MSE: the matrix exponential exp(−tK/N) by Taylor series with scaling and squaring (no
    eigendecomposition), and the test-point integral ∫_0^t exp(−sK/N) ds by Van Loan's block
    exponential, which stays valid for singular K; t = ∞ by np.linalg.solve / pinv.
(b) The closed form solves the ODE: central differences in t against −(1/N) K d (issue item 6c).
(c) Any loss: a classical RK4 written here with a step far finer than needed.
(d) Ensemble: the GP posterior by np.linalg.solve, and Monte Carlo over f_0 ~ N(0, Σ).
Every check runs on the fast API and on ntkfast.reference alike.
"""
from __future__ import annotations

import math
import re
from statistics import NormalDist

import ntkfast
import numpy as np
import pytest
from ntkfast import reference

IMPLS = [pytest.param(ntkfast, id="fast"), pytest.param(reference, id="reference")]


# ---------------------------------------------------------------------------------------------
# Truth written out here
# ---------------------------------------------------------------------------------------------
def expm(a: np.ndarray) -> np.ndarray:
    """exp(a) by a degree-20 Taylor series of a / 2^s (||a / 2^s|| <= 1/2), squared s times."""
    norm = np.abs(a).sum(axis=1).max()
    s = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0 else 0
    b = a / 2.0 ** s
    term = np.eye(len(a))
    out = term.copy()
    for k in range(1, 21):
        term = term @ b / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def mse_truth(k, y, f0, t, kt=None, f0t=None):
    """f_train(t), f_test(t) of the MSE flow for one finite t, by exponentials only."""
    n = len(k)
    a = k / n
    block = np.zeros((2 * n, 2 * n))
    block[:n, :n] = -a * t
    block[:n, n:] = np.eye(n) * t
    e = expm(block)
    decay, integral = e[:n, :n], e[:n, n:]  # exp(−tA), ∫_0^t exp(−sA) ds
    f_train = y + decay @ (f0 - y)
    f_test = None if kt is None else f0t - kt @ integral @ (f0 - y) / n
    return f_train, f_test


def softmax(f):
    e = np.exp(f - f.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ce_loss(f, y):
    logp = f - f.max(axis=-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis=-1, keepdims=True))
    return float(-(y * logp).sum(axis=-1).mean())


def mse_loss(f, y):
    return float(0.5 * ((f - y) ** 2).reshape(len(f), -1).sum(axis=1).mean())


def rk4_truth(k, y, f0, times, d_of, kt=None, f0t=None, dt=2e-3):
    """Classical RK4 of f_train and ∫ d, with a fixed step; returns (T, N, O), (T, M, O)."""
    n = len(k)
    f, integral = f0.copy(), np.zeros_like(f0)
    out_f, out_t, now = [], [], 0.0
    for target in times:
        while now < target:
            h = min(dt, target - now)
            d1 = d_of(f)
            d2 = d_of(f - 0.5 * h * k @ d1 / n)
            d3 = d_of(f - 0.5 * h * k @ d2 / n)
            d4 = d_of(f - h * k @ d3 / n)
            incr = h * (d1 + 2 * d2 + 2 * d3 + d4) / 6
            f = f - k @ incr / n
            integral = integral + incr
            now += h
        out_f.append(f.copy())
        if kt is not None:
            out_t.append(f0t - kt @ integral / n)
    return np.array(out_f), (np.array(out_t) if kt is not None else None)


def rel_err(actual, expected):
    """max |a − b| / max |b|: the relative error of the spec."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    assert np.isfinite(actual).all(), "non-finite values"
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


def problem(n=9, m=5, o=2, seed=0, f0_scale=0.5, depth=3):
    """An NTK Gram of standard normal points (relu): k_train (n, n), k_test_train (m, n), y, f0s."""
    rng = np.random.default_rng([seed, n, m, o])
    x = rng.standard_normal((n + m, 3))
    kk = ntkfast.ntk(x, depth=depth)
    y = rng.standard_normal((n, o))
    return {"k": kk[:n, :n], "kt": kk[n:, :n], "y": y, "f0": f0_scale * rng.standard_normal((n, o)),
                "f0t": f0_scale * rng.standard_normal((m, o)), "x": x}


def singular_problem(n=8, m=4, o=2, rank=3, seed=1):
    """K = A Aᵀ of rank 3 (eigh gives rounding negatives); test rows in K's row space."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, rank))
    b = rng.standard_normal((m, rank))
    return {"k": a @ a.T, "kt": b @ a.T, "y": rng.standard_normal((n, o)),
                "f0": rng.standard_normal((n, o)), "f0t": rng.standard_normal((m, o))}


TIMES = np.array([0.0, 0.3, 0.3, 2.0, 7.5, 40.0])


# ---------------------------------------------------------------------------------------------
# kernel_gd_mse: closed form
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_mse_closed_form_matches_matrix_exponential(impl, ridge):
    p = problem()
    res = impl.kernel_gd_mse(p["k"], p["y"], TIMES, f0_train=p["f0"], k_test_train=p["kt"],
                             f0_test=p["f0t"], ridge=ridge)
    assert res.f_train.shape == (len(TIMES), 9, 2) and res.f_test.shape == (len(TIMES), 5, 2)
    np.testing.assert_array_equal(res.t, TIMES)
    k = p["k"] + ridge * np.eye(9)
    for i, t in enumerate(TIMES):
        ftr, fte = mse_truth(k, p["y"], p["f0"], t, p["kt"], p["f0t"])
        assert rel_err(res.f_train[i], ftr) < 1e-10, f"f_train at t={t}"
        assert rel_err(res.f_test[i], fte) < 1e-10, f"f_test at t={t}"
        assert res.loss[i] == pytest.approx(mse_loss(res.f_train[i], p["y"]), rel=1e-12)
    assert res.n_rhs == 0 and res.n_steps == 0 and res.n_rejected == 0


@pytest.mark.parametrize("impl", IMPLS)
def test_mse_at_time_zero_is_f0(impl):
    p = problem()
    res = impl.kernel_gd_mse(p["k"], p["y"], 0.0, f0_train=p["f0"], k_test_train=p["kt"],
                             f0_test=p["f0t"])
    assert res.f_train.shape == (1, 9, 2)  # a scalar t keeps the leading axis
    np.testing.assert_allclose(res.f_train[0], p["f0"], rtol=0, atol=1e-14)
    np.testing.assert_allclose(res.f_test[0], p["f0t"], rtol=0, atol=1e-14)
    assert res.loss[0] == pytest.approx(mse_loss(p["f0"], p["y"]), rel=1e-13)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_mse_at_infinity_is_kernel_regression(impl, ridge):
    p = problem()
    res = impl.kernel_gd_mse(p["k"], p["y"], [1.0, np.inf], f0_train=p["f0"],
                             k_test_train=p["kt"], f0_test=p["f0t"], ridge=ridge)
    solved = np.linalg.solve(p["k"] + ridge * np.eye(9), p["y"] - p["f0"])
    assert rel_err(res.f_test[-1], p["f0t"] + p["kt"] @ solved) < 1e-9
    assert rel_err(res.f_train[-1], p["y"]) < 1e-9  # K + ridge·I is positive definite
    assert res.loss[-1] == pytest.approx(mse_loss(res.f_train[-1], p["y"]), abs=1e-15)


@pytest.mark.parametrize("impl", IMPLS)
def test_mse_default_f0_is_zero(impl):
    p = problem()
    a = impl.kernel_gd_mse(p["k"], p["y"], [0.5, 3.0], k_test_train=p["kt"])
    b = impl.kernel_gd_mse(p["k"], p["y"], [0.5, 3.0], f0_train=np.zeros((9, 2)),
                           k_test_train=p["kt"], f0_test=np.zeros((5, 2)))
    np.testing.assert_array_equal(a.f_train, b.f_train)
    np.testing.assert_array_equal(a.f_test, b.f_test)
    assert a.f_test is not None
    assert impl.kernel_gd_mse(p["k"], p["y"], 1.0).f_test is None


@pytest.mark.parametrize("impl", IMPLS)
def test_mse_singular_kernel(impl):
    # Rank 3 of 8: the null space of K does not move; the test bracket (1 − e^{−tλ/N})/λ is
    # t/N there, which the block exponential gets without dividing by λ.
    p = singular_problem()
    times = [0.0, 0.7, 5.0, 60.0, np.inf]
    res = impl.kernel_gd_mse(p["k"], p["y"], times, f0_train=p["f0"], k_test_train=p["kt"],
                             f0_test=p["f0t"])
    assert np.isfinite(res.f_train).all() and np.isfinite(res.f_test).all()
    for i, t in enumerate(times[:-1]):
        ftr, fte = mse_truth(p["k"], p["y"], p["f0"], t, p["kt"], p["f0t"])
        assert rel_err(res.f_train[i], ftr) < 1e-9, f"f_train at t={t}"
        assert rel_err(res.f_test[i], fte) < 1e-9, f"f_test at t={t}"
    # t = ∞: the pseudo-inverse (minimum-norm kernel regression)
    pinv = np.linalg.pinv(p["k"], rcond=1e-10)
    r = p["y"] - p["f0"]
    assert rel_err(res.f_train[-1], p["f0"] + p["k"] @ pinv @ r) < 1e-9
    assert rel_err(res.f_test[-1], p["f0t"] + p["kt"] @ pinv @ r) < 1e-9


@pytest.mark.parametrize("impl", IMPLS)
def test_mse_outputs_are_independent_and_1d_targets_drop_the_axis(impl):
    p = problem(o=3)
    full = impl.kernel_gd_mse(p["k"], p["y"], TIMES, f0_train=p["f0"], k_test_train=p["kt"],
                              f0_test=p["f0t"])
    for j in range(3):
        one = impl.kernel_gd_mse(p["k"], p["y"][:, j], TIMES, f0_train=p["f0"][:, j],
                                 k_test_train=p["kt"], f0_test=p["f0t"][:, j])
        assert one.f_train.shape == (len(TIMES), 9) and one.f_test.shape == (len(TIMES), 5)
        np.testing.assert_allclose(one.f_train, full.f_train[..., j], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(one.f_test, full.f_test[..., j], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("impl", IMPLS)
def test_mse_float32_inputs_computed_in_float64(impl):
    p = problem()
    k32 = p["k"].astype(np.float32)
    res = impl.kernel_gd_mse(k32, p["y"].astype(np.float32), [1.0, 4.0])
    assert res.f_train.dtype == np.float64
    ref = impl.kernel_gd_mse(k32.astype(np.float64), p["y"].astype(np.float32).astype(np.float64),
                             [1.0, 4.0])
    np.testing.assert_allclose(res.f_train, ref.f_train, rtol=1e-13, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# Issue item 6(c): the closed form solves the ODE
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("t", [0.4, 3.0, 25.0])
def test_closed_form_solves_the_ode(impl, t):
    p = problem(n=12, m=6, o=2, seed=3)
    n, h = 12, 1e-3
    res = impl.kernel_gd_mse(p["k"], p["y"], [t - h, t, t + h], f0_train=p["f0"],
                             k_test_train=p["kt"], f0_test=p["f0t"])
    d = res.f_train[1] - p["y"]
    for got, kernel, what in [(res.f_train, p["k"], "f_train"), (res.f_test, p["kt"], "f_test")]:
        fd = (got[2] - got[0]) / (2 * h)
        rhs = -kernel @ d / n
        # central differences: error h²/6 · f''' ~ 1e-7 of the derivative's scale
        assert rel_err(fd, rhs) < 1e-6, what


# ---------------------------------------------------------------------------------------------
# kernel_gd: any loss by ODE
# ---------------------------------------------------------------------------------------------
def ce_problem(n=7, m=4, o=3, seed=2):
    p = problem(n=n, m=m, o=o, seed=seed, f0_scale=1.0)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, o, n)
    y = np.eye(o)[labels]
    y[0] = [0.2, 0.5, 0.3][:o] if o == 3 else y[0]  # one soft target
    p["y"] = y
    return p


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_cross_entropy_matches_a_fine_rk4(impl, method):
    p = ce_problem()
    times = [0.0, 0.5, 2.0, 2.0, 6.0]
    kw = {"dt": 0.01} if method == "rk4" else {}
    res = impl.kernel_gd(p["k"], p["y"], times, loss="cross_entropy", f0_train=p["f0"],
                         k_test_train=p["kt"], f0_test=p["f0t"], method=method, **kw)
    ftr, fte = rk4_truth(p["k"], p["y"], p["f0"], times, lambda f: softmax(f) - p["y"],
                         p["kt"], p["f0t"])
    tol = 1e-6 if method == "dopri5" else 1e-8  # default tolerances; RK4 at dt·λ/N ~ 0.01
    assert rel_err(res.f_train, ftr) < tol
    assert rel_err(res.f_test, fte) < tol
    np.testing.assert_allclose(res.loss, [ce_loss(f, p["y"]) for f in res.f_train], rtol=1e-12)
    np.testing.assert_array_equal(res.t, times)


@pytest.mark.parametrize("impl", IMPLS)
def test_ce_alias_and_invariants(impl):
    p = ce_problem()
    times = [0.0, 1.0, 5.0, 20.0]
    a = impl.kernel_gd(p["k"], p["y"], times, loss="ce", f0_train=p["f0"], k_test_train=p["kt"],
                       f0_test=p["f0t"])
    b = impl.kernel_gd(p["k"], p["y"], times, loss="cross_entropy", f0_train=p["f0"],
                       k_test_train=p["kt"], f0_test=p["f0t"])
    np.testing.assert_array_equal(a.f_train, b.f_train)
    # d sums to zero over outputs, so Σ_k f_k(x) never moves (train and test)
    np.testing.assert_allclose(a.f_train.sum(-1), np.broadcast_to(p["f0"].sum(-1), (4, 7)),
                               atol=1e-10)
    np.testing.assert_allclose(a.f_test.sum(-1), np.broadcast_to(p["f0t"].sum(-1), (4, 4)),
                               atol=1e-10)
    assert np.all(np.diff(a.loss) < 0), "gradient flow must decrease the loss"


@pytest.mark.parametrize("impl", IMPLS)
def test_mse_by_ode_matches_the_closed_form(impl):
    # issue item 2: at the default tolerances, 1e-8 relative
    p = problem(n=20, m=6, o=2, seed=4)
    times = [0.0, 0.1, 1.0, 10.0, 100.0]
    kw = {"f0_train": p["f0"], "k_test_train": p["kt"], "f0_test": p["f0t"]}
    ode = impl.kernel_gd(p["k"], p["y"], times, loss="mse", **kw)
    closed = impl.kernel_gd_mse(p["k"], p["y"], times, **kw)
    assert rel_err(ode.f_train, closed.f_train) < 1e-8
    assert rel_err(ode.f_test, closed.f_test) < 1e-8
    np.testing.assert_allclose(ode.loss, closed.loss, rtol=1e-7)
    assert ode.n_steps > 0 and ode.n_rhs >= 6 * ode.n_steps


@pytest.mark.parametrize("impl", IMPLS)
def test_rk4_is_fourth_order_and_counts_its_work(impl):
    p = problem(n=10, m=3, o=1, seed=5)
    times = [0.0, 1.0, 2.0]
    exact = impl.kernel_gd_mse(p["k"], p["y"], times, f0_train=p["f0"]).f_train
    errs = []
    for dt in (0.25, 0.125):
        res = impl.kernel_gd(p["k"], p["y"], times, f0_train=p["f0"], method="rk4", dt=dt)
        errs.append(np.abs(res.f_train - exact).max())
        assert res.n_rejected == 0
        assert res.n_steps == round(2.0 / dt)
        assert res.n_rhs == 4 * res.n_steps
    assert 12 < errs[0] / errs[1] < 20, f"error ratio {errs[0] / errs[1]:.3g}, expected ~16"


@pytest.mark.parametrize("impl", IMPLS)
def test_tight_dopri5_reaches_the_closed_form(impl):
    p = problem(n=10, m=4, o=2, seed=6)
    times = [0.5, 3.0, 30.0]
    kw = {"f0_train": p["f0"], "k_test_train": p["kt"], "f0_test": p["f0t"]}
    exact = impl.kernel_gd_mse(p["k"], p["y"], times, **kw)
    loose = impl.kernel_gd(p["k"], p["y"], times, rtol=1e-5, atol=1e-7, **kw)
    tight = impl.kernel_gd(p["k"], p["y"], times, rtol=1e-12, atol=1e-14, **kw)
    assert rel_err(tight.f_train, exact.f_train) < 1e-10
    assert rel_err(tight.f_test, exact.f_test) < 1e-10
    assert tight.n_steps > loose.n_steps  # the tolerance does control the step


@pytest.mark.parametrize("impl", IMPLS)
def test_kernel_gd_at_time_zero_does_nothing(impl):
    p = ce_problem()
    res = impl.kernel_gd(p["k"], p["y"], 0.0, loss="ce", f0_train=p["f0"], k_test_train=p["kt"],
                         f0_test=p["f0t"])
    np.testing.assert_array_equal(res.f_train[0], p["f0"])
    np.testing.assert_array_equal(res.f_test[0], p["f0t"])
    assert res.n_steps == 0


def _mse_callable(f, y):
    return 0.5 * float(((f - y) ** 2).sum(axis=1).mean()), f - y


def _ce_callable(f, y):
    return ce_loss(f, y), softmax(f) - y


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name,fn,make", [("mse", _mse_callable, problem),
                                          ("cross_entropy", _ce_callable, ce_problem)])
def test_callable_loss_matches_the_builtin(impl, name, fn, make):
    p = make()
    times = [0.0, 0.5, 4.0]
    kw = {"f0_train": p["f0"], "k_test_train": p["kt"], "f0_test": p["f0t"]}
    # dopri5 with explicit tolerances: the defaults differ by loss (a callable gets MSE's)
    for method, extra in [("dopri5", {"rtol": 1e-8, "atol": 1e-10}), ("rk4", {"dt": 0.05})]:
        a = impl.kernel_gd(p["k"], p["y"], times, loss=fn, method=method, **kw, **extra)
        b = impl.kernel_gd(p["k"], p["y"], times, loss=name, method=method, **kw, **extra)
        assert rel_err(a.f_train, b.f_train) < 1e-10, method
        assert rel_err(a.f_test, b.f_test) < 1e-10, method
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-10)


@pytest.mark.parametrize("impl", IMPLS)
def test_custom_loss_against_rk4(impl):
    # A loss no built-in has: ℓ = Σ_k log cosh(f_k − y_k), d = tanh(f − y); 1-D targets.
    p = problem(n=8, m=3, o=1, seed=7, f0_scale=2.0)
    y, f0, f0t = p["y"][:, 0], p["f0"][:, 0], p["f0t"][:, 0]

    def logcosh(f, yy):
        assert f.shape == yy.shape == (8, 1) and f.dtype == np.float64
        return float(np.log(np.cosh(f - yy)).sum(axis=1).mean()), np.tanh(f - yy)

    times = [0.0, 1.0, 3.0]
    res = impl.kernel_gd(p["k"], y, times, loss=logcosh, f0_train=f0, k_test_train=p["kt"],
                         f0_test=f0t)
    assert res.f_train.shape == (3, 8) and res.f_test.shape == (3, 3)
    ftr, fte = rk4_truth(p["k"], y[:, None], f0[:, None], times, lambda f: np.tanh(f - y[:, None]),
                         p["kt"], f0t[:, None])
    assert rel_err(res.f_train, ftr[..., 0]) < 1e-6
    assert rel_err(res.f_test, fte[..., 0]) < 1e-6


# ---------------------------------------------------------------------------------------------
# infinite_ensemble
# ---------------------------------------------------------------------------------------------
ENS = {"depth": 3, "activation": "relu", "weight_std": 1.2, "bias_std": 0.2}


def ens_problem(n=6, m=4, o=None, seed=8):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    xs = rng.standard_normal((m, 3))
    y = rng.standard_normal(n) if o is None else rng.standard_normal((n, o))
    return x, y, xs


def gram(x, xs, kind):
    both = np.concatenate([x, xs])
    k = (ntkfast.nngp if kind == "nngp" else ntkfast.ntk)(both, **ENS)
    n = len(x)
    return k[:n, :n], k[n:, :n], k[n:, n:]


def ensemble_truth(x, y, xs, t, get):
    """mean, cov of f_t(x*) by exponentials: T_t = K*X ∫_0^t e^{−sK/N} ds / N."""
    s_xx, s_sx, s_ss = gram(x, xs, "nngp")
    k_xx, k_sx, _ = gram(x, xs, get)
    n = len(x)
    if np.isinf(t):
        tt = k_sx @ np.linalg.inv(k_xx)
    else:
        block = np.zeros((2 * n, 2 * n))
        block[:n, :n], block[:n, n:] = -k_xx * t / n, np.eye(n) * t
        tt = k_sx @ expm(block)[:n, n:] / n
    mean = tt @ y
    cov = s_ss - tt @ s_sx.T - s_sx @ tt.T + tt @ s_xx @ tt.T
    return mean, cov


@pytest.mark.parametrize("impl", IMPLS)
def test_nngp_at_infinity_is_the_gp_posterior(impl):
    x, y, xs = ens_problem()
    res = impl.infinite_ensemble(x, y, xs, np.inf, get="nngp", **ENS)
    s_xx, s_sx, s_ss = gram(x, xs, "nngp")
    mean = s_sx @ np.linalg.solve(s_xx, y)
    cov = s_ss - s_sx @ np.linalg.solve(s_xx, s_sx.T)
    assert res.mean.shape == (1, 4) and res.cov.shape == (1, 4, 4)
    assert rel_err(res.mean[0], mean) < 1e-9
    assert np.abs(res.cov[0] - cov).max() < 1e-9 * np.abs(s_ss).max()


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_ensemble_against_exponentials(impl, get):
    x, y, xs = ens_problem(o=2)
    times = [0.0, 0.5, 3.0, 50.0, np.inf]
    res = impl.infinite_ensemble(x, y, xs, times, get=get, **ENS)
    assert res.mean.shape == (5, 4, 2) and res.cov.shape == (5, 4, 4) and res.std.shape == (5, 4)
    _, _, s_ss = gram(x, xs, "nngp")
    for i, t in enumerate(times):
        mean, cov = ensemble_truth(x, y, xs, t, get)
        assert np.abs(res.mean[i] - mean).max() < 1e-9 * max(1.0, np.abs(mean).max()), f"t={t}"
        assert np.abs(res.cov[i] - cov).max() < 1e-9 * np.abs(s_ss).max(), f"t={t}"
    np.testing.assert_allclose(res.std, np.sqrt(np.einsum("tii->ti", res.cov)), rtol=1e-12)
    # t = 0: the prior
    np.testing.assert_allclose(res.mean[0], 0.0, atol=1e-14)
    np.testing.assert_allclose(res.cov[0], s_ss, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("impl", IMPLS)
def test_ensemble_covariance_off_quantiles_and_1d_targets(impl):
    x, y, xs = ens_problem()
    times = [0.0, 2.0, np.inf]
    res = impl.infinite_ensemble(x, y, xs, times, **ENS)
    off = impl.infinite_ensemble(x, y, xs, times, covariance=False, **ENS)
    assert off.cov is None
    np.testing.assert_allclose(off.mean, res.mean, rtol=1e-13, atol=1e-15)
    two = impl.infinite_ensemble(x, np.stack([y, -2 * y], axis=1), xs, times, **ENS)
    np.testing.assert_allclose(two.mean[..., 0], res.mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(two.mean[..., 1], -2 * res.mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(two.cov, res.cov, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.quantile(0.5), res.mean, rtol=1e-14, atol=1e-15)
    z = NormalDist().inv_cdf(0.9)
    np.testing.assert_allclose(res.quantile(0.9), res.mean + z * res.std, rtol=1e-13)
    np.testing.assert_allclose(res.quantile(0.1), res.mean - z * res.std, rtol=1e-13)
    assert two.quantile(0.9).shape == two.mean.shape
    np.testing.assert_allclose(two.quantile(0.9)[..., 1], two.mean[..., 1] + z * two.std,
                               rtol=1e-13)


@pytest.mark.parametrize("impl", IMPLS)
def test_ensemble_ridge(impl):
    x, y, xs = ens_problem()
    ridge = 0.1
    res = impl.infinite_ensemble(x, y, xs, [np.inf], get="nngp", ridge=ridge, **ENS)
    s_xx, s_sx, s_ss = gram(x, xs, "nngp")
    a = s_xx + ridge * np.eye(len(x))
    assert rel_err(res.mean[0], s_sx @ np.linalg.solve(a, y)) < 1e-9
    tt = s_sx @ np.linalg.inv(a)
    cov = s_ss - tt @ s_sx.T - s_sx @ tt.T + tt @ s_xx @ tt.T
    assert np.abs(res.cov[0] - cov).max() < 1e-9 * np.abs(s_ss).max()


@pytest.mark.parametrize("impl", IMPLS)
def test_ensemble_mean_matches_kernel_gd_mse(impl):
    x, y, xs = ens_problem(o=2)
    times = [0.3, 4.0, np.inf]
    k_xx, k_sx, _ = gram(x, xs, "ntk")
    res = impl.infinite_ensemble(x, y, xs, times, covariance=False, **ENS)
    kgd = impl.kernel_gd_mse(k_xx, y, times, k_test_train=k_sx)
    assert rel_err(res.mean, kgd.f_test) < 1e-10


@pytest.mark.parametrize("impl", IMPLS)
def test_ensemble_against_monte_carlo(impl):
    # Draw f_0 ~ N(0, Σ) on train + test jointly, train each draw by the linear flow with Θ
    # (exponentials), and compare the sample mean and covariance of f_t(x*) with the result.
    x, y, xs = ens_problem(n=5, m=3)
    t, n, m, draws = 2.0, 5, 3, 40000
    s_all = ntkfast.nngp(np.concatenate([x, xs]), **ENS)
    k_xx, k_sx, _ = gram(x, xs, "ntk")
    rng = np.random.default_rng(9)
    f0 = rng.multivariate_normal(np.zeros(n + m), s_all, size=draws, method="cholesky")
    _, ft = mse_truth(k_xx, y[:, None], f0[:, :n].T, t, k_sx, f0[:, n:].T)
    ft = ft.T  # (draws, m)
    res = impl.infinite_ensemble(x, y, xs, t, **ENS)
    cov = res.cov[0]
    se_mean = np.sqrt(np.diag(cov) / draws)
    assert np.all(np.abs(ft.mean(0) - res.mean[0]) < 5 * se_mean)
    sample = np.cov(ft, rowvar=False)
    # standard error of a sample covariance: sqrt((c_ij² + c_ii c_jj) / draws)
    se_cov = np.sqrt((cov ** 2 + np.outer(np.diag(cov), np.diag(cov))) / draws)
    assert np.all(np.abs(sample - cov) < 5 * se_cov)
    # and the prediction is not the prior: training did shrink the variance
    assert np.all(np.diag(cov) < 0.9 * np.diag(s_all)[n:])


@pytest.mark.parametrize("impl", IMPLS)
def test_default_tolerance_is_accurate_on_a_long_cross_entropy_run(impl):
    # The benchmark problem shrunk (N = 150 instead of 4000): CE, 10 outputs, t up to 1000,
    # K = NTK of standard normal points in 32 dimensions (relu, depth 3). The defaults must give
    # 1e-6 relative against a tight solution.
    rng = np.random.default_rng(11)
    x = rng.standard_normal((150, 32))
    k = ntkfast.ntk(x, depth=3)
    y = np.eye(10)[rng.integers(0, 10, 150)]
    times = [0.0, 10.0, 100.0, 1000.0]
    default = impl.kernel_gd(k, y, times, loss="ce", n_threads=1)
    tight = impl.kernel_gd(k, y, times, loss="ce", rtol=1e-12, atol=1e-14, n_threads=1)
    assert rel_err(default.f_train, tight.f_train) < 1e-6
    assert tight.n_steps > default.n_steps


@pytest.mark.parametrize("impl", IMPLS)
def test_mse_by_ode_matches_the_closed_form_on_a_larger_problem(impl):
    # issue item 2 again, on the benchmark-like kernel: 1e-8 at the default tolerances
    rng = np.random.default_rng(12)
    x = rng.standard_normal((160, 32))
    kk = ntkfast.ntk(x, depth=3)
    k, kt = kk[:150, :150], kk[150:, :150]
    y = rng.standard_normal((150, 3))
    times = [0.0, 1.0, 30.0, 1000.0]
    ode = impl.kernel_gd(k, y, times, k_test_train=kt, n_threads=1)
    closed = impl.kernel_gd_mse(k, y, times, k_test_train=kt)
    assert rel_err(ode.f_train, closed.f_train) < 1e-8
    assert rel_err(ode.f_test, closed.f_test) < 1e-8


@pytest.mark.parametrize("fn", [ntkfast.kernel_gd_mse, ntkfast.kernel_gd, ntkfast.infinite_ensemble,
                                ntkfast.train])
def test_docstrings_state_the_time_convention(fn):
    # the spec asks each function to say which normalisation its time uses
    doc = fn.__doc__ or ""
    assert "1/N" in doc, f"{fn.__name__}: no 1/N time convention in the docstring"
    assert "neural-tangents" in doc or "kernel_gd_mse" in doc


def test_kernel_gd_docstring_states_its_default_tolerances():
    import inspect
    params = inspect.signature(ntkfast.kernel_gd).parameters
    doc = ntkfast.kernel_gd.__doc__
    from ntkfast._dynamics_args import DEFAULT_TOLERANCES
    for j, name in enumerate(("rtol", "atol")):
        assert params[name].default is None  # None: the loss's default, each must be stated
        stated = {float(v) for v in re.findall(rf"\b{name}\s*=\s*([0-9.eE+-]+)", doc)}
        for kind, values in DEFAULT_TOLERANCES.items():
            assert values[j] in stated, f"default {name} of {kind} not stated"


@pytest.mark.parametrize("impl", IMPLS)
def test_small_times_keep_their_digits(impl):
    # (1 − e^{−tλ/N})/λ must be computed as −expm1(−tλ/N)/λ: at t = 1e-10 the plain form keeps
    # ~6 digits, expm1 all of them. To first order f_test − f0_test = −(t/N) K*X (f0 − y).
    p = problem()
    t = 1e-10
    # f0_test = 0 so that f_test is the increment itself
    res = impl.kernel_gd_mse(p["k"], p["y"], [t], f0_train=p["f0"], k_test_train=p["kt"])
    first_order = -t / 9 * p["kt"] @ (p["f0"] - p["y"])
    assert rel_err(res.f_test[0], first_order) < 1e-8
    x, y, xs = ens_problem()
    ens = impl.infinite_ensemble(x, y, xs, t, covariance=False, **ENS)
    _, k_sx, _ = gram(x, xs, "ntk")
    assert rel_err(ens.mean[0], t / len(x) * k_sx @ y) < 1e-8
