"""Fast checks of ntkfast.dynamics against ntkfast.reference.dynamics and against each other
(the full parity, property and error tests live in test_dynamics_*.py)."""
import numpy as np
import pytest

import ntkfast
from ntkfast import reference as R

N, M, O = 40, 6, 3
TIMES = [0.0, 0.7, 5.0, 5.0, 40.0]


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N + M, 5))
    k = ntkfast.ntk(x, depth=3, bias_std=0.1)
    return dict(
        x_train=x[:N], x_test=x[N:], k=k[:N, :N], kt=k[N:, :N],
        y=rng.normal(size=(N, O)), onehot=np.eye(O)[rng.integers(0, O, N)],
        f0=0.1 * rng.normal(size=(N, O)), f0t=0.1 * rng.normal(size=(M, O)),
    )


def _close(a, b, rel):
    scale = max(np.abs(b).max(), 1e-300)
    assert np.abs(a - b).max() <= rel * scale, np.abs(a - b).max() / scale


def test_closed_form_matches_reference(problem):
    p = problem
    kw = dict(f0_train=p["f0"], k_test_train=p["kt"], f0_test=p["f0t"])
    ts = TIMES + [np.inf]
    fast = ntkfast.kernel_gd_mse(p["k"], p["y"], ts, **kw)
    ref = R.kernel_gd_mse(p["k"], p["y"], ts, **kw)
    _close(fast.f_train, ref.f_train, 1e-12)
    _close(fast.f_test, ref.f_test, 1e-12)
    _close(fast.loss, ref.loss, 1e-12)
    # t = inf is kernel regression
    _close(fast.f_test[-1], p["f0t"] + p["kt"] @ np.linalg.solve(p["k"], p["y"] - p["f0"]), 1e-8)


@pytest.mark.parametrize("loss", ["mse", "ce", "callable"])
@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_ode_matches_reference(problem, loss, method):
    p = problem
    y = p["y"] if loss == "mse" else p["onehot"]
    if loss == "callable":
        def loss(f, y):  # cross-entropy written by a user
            e = np.exp(f - f.max(axis=1, keepdims=True))
            q = e / e.sum(axis=1, keepdims=True)
            return -np.mean(np.sum(y * np.log(q), axis=1)), q - y
    kw = dict(loss=loss, method=method, f0_train=p["f0"], k_test_train=p["kt"], f0_test=p["f0t"])
    fast = ntkfast.kernel_gd(p["k"], y, TIMES, **kw)
    ref = R.kernel_gd(p["k"], y, TIMES, **kw)
    _close(fast.f_train, ref.f_train, 1e-12)
    _close(fast.f_test, ref.f_test, 1e-12)
    _close(fast.loss, ref.loss, 1e-12)
    assert (fast.n_rhs, fast.n_steps, fast.n_rejected) == (ref.n_rhs, ref.n_steps, ref.n_rejected)


def test_ode_mse_matches_closed_form(problem):
    p = problem
    kw = dict(f0_train=p["f0"], k_test_train=p["kt"], f0_test=p["f0t"])
    ode = ntkfast.kernel_gd(p["k"], p["y"], TIMES, **kw)
    exact = ntkfast.kernel_gd_mse(p["k"], p["y"], TIMES, **kw)
    _close(ode.f_train, exact.f_train, 1e-8)
    _close(ode.f_test, exact.f_test, 1e-8)


def test_rk4_and_one_output(problem):
    p = problem
    y1, f01 = p["y"][:, 0], p["f0"][:, 0]
    fast = ntkfast.kernel_gd(p["k"], y1, TIMES, method="rk4", dt=0.25, f0_train=f01, k_test_train=p["kt"])
    ref = R.kernel_gd(p["k"], y1, TIMES, method="rk4", dt=0.25, f0_train=f01, k_test_train=p["kt"])
    assert fast.f_train.shape == (len(TIMES), N) and fast.f_test.shape == (len(TIMES), M)
    _close(fast.f_train, ref.f_train, 1e-12)
    _close(fast.f_test, ref.f_test, 1e-12)
    assert fast.n_rhs == 4 * fast.n_steps and fast.n_rejected == 0


@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_infinite_ensemble_matches_reference(problem, get):
    p = problem
    ts = [0.0, 3.0, np.inf]
    kw = dict(get=get, depth=3, bias_std=0.1)
    fast = ntkfast.infinite_ensemble(p["x_train"], p["y"], p["x_test"], ts, **kw)
    ref = R.infinite_ensemble(p["x_train"], p["y"], p["x_test"], ts, **kw)
    _close(fast.mean, ref.mean, 1e-10)
    _close(fast.cov, ref.cov, 1e-10)
    thin = ntkfast.infinite_ensemble(p["x_train"], p["y"], p["x_test"], ts, covariance=False, **kw)
    assert thin.cov is None
    _close(thin.std, fast.std, 1e-10)
    assert fast.quantile(0.9).shape == fast.mean.shape


def test_thread_count_does_not_change_a_bit():
    rng = np.random.default_rng(3)
    n = 300  # several row tiles
    k = ntkfast.ntk(rng.normal(size=(n + 20, 4)), depth=2)
    y = np.eye(4)[rng.integers(0, 4, n)]
    runs = [ntkfast.kernel_gd(k[:n, :n], y, [1.0, 10.0], loss="ce", k_test_train=k[n:, :n],
                              n_threads=t) for t in (1, 2, 3)]
    for r in runs[1:]:
        assert np.array_equal(r.f_train, runs[0].f_train)
        assert np.array_equal(r.f_test, runs[0].f_test)


def test_refusals(problem):
    p = problem
    with pytest.raises(ValueError, match="kernel_gd_mse"):
        ntkfast.kernel_gd(p["k"], p["y"], [1.0, np.inf])
    bad = p["k"].copy()
    bad[0, 1] += 1.0
    with pytest.raises(ValueError, match="k_train"):
        ntkfast.kernel_gd_mse(bad, p["y"], 1.0)
    with pytest.raises(ValueError, match="y_train"):
        ntkfast.kernel_gd(p["k"], p["y"], 1.0, loss="ce")
    with pytest.raises(RuntimeError, match="max_steps"):
        ntkfast.kernel_gd(p["k"], p["y"], 100.0, max_steps=3)
