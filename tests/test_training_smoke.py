"""Smoke tests of ntkfast.train (the full suite lives in the other test_training_*.py files):
parity with the numpy reference, the reference against finite differences, thread invariance,
divergence, and that the input network is left alone."""
from __future__ import annotations

import numpy as np
import pytest

import ntkfast
from ntkfast import reference

RNG = np.random.default_rng(20240601)


def _problem(depth, n_out, loss, activation="relu", parameterization="ntk", n=20, n0=4,
             width=16, dtype=np.float64, seed=1):
    net = ntkfast.init_mlp([n0] + [width] * (depth - 1) + [n_out], activation=activation,
                           parameterization=parameterization, bias_std=0.3, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n0))
    if loss == "mse":
        y = rng.normal(size=(n, n_out))
    else:
        y = np.eye(n_out)[rng.integers(0, n_out, n)]
    return net, x, y, rng.normal(size=(5, n0))


def _rel(a, b):
    return np.abs(np.asarray(a, float) - b).max() / max(np.abs(b).max(), 1e-300)


CASES = [(act, par, depth, n_out, loss)
         for act in ("relu", "tanh") for par in ("ntk", "standard") for depth in (1, 2, 3)
         for n_out, loss in ((1, "mse"), (3, "mse"), (3, "cross_entropy"))]
# More outputs than mlp_training.hpp's kFusedBackwardRank: the top layer back-propagates by a GEMM.
CASES += [("relu", "ntk", 2, 6, "cross_entropy"), ("tanh", "standard", 3, 6, "mse")]


@pytest.mark.parametrize("act,par,depth,n_out,loss", CASES)
def test_fast_matches_reference_float64(act, par, depth, n_out, loss):
    net, x, y, xt = _problem(depth, n_out, loss, act, par, n=40)  # > one 32-row pass tile
    kw = dict(lr=0.5, steps=20, loss=loss, x_test=xt, record_every=5, track_ntk=True, progress=False)
    fast = ntkfast.train(net, x, y, **kw)
    ref = reference.train(net, x, y, **kw)
    np.testing.assert_array_equal(fast.step, [0, 5, 10, 15, 20])
    np.testing.assert_array_equal(fast.t, 0.5 * fast.step)
    for name in ("loss", "f_train", "f_test", "ntk_drift"):
        assert _rel(getattr(fast, name), getattr(ref, name)) <= 1e-10, name
    for a, b in zip(fast.net.weights + fast.net.biases, ref.net.weights + ref.net.biases):
        assert _rel(a, b) <= 1e-10
    assert fast.loss[-1] < fast.loss[0]


def test_float32_close_to_reference():
    net, x, y, xt = _problem(3, 2, "mse", "tanh", dtype=np.float32, width=64)
    kw = dict(lr=0.5, steps=20, x_test=xt, progress=False)
    fast, ref = ntkfast.train(net, x, y, **kw), reference.train(net, x, y, **kw)
    assert fast.f_train.dtype == np.float32 and fast.net.dtype == np.float32
    assert _rel(fast.f_train, ref.f_train) <= 1e-4
    assert _rel(fast.loss, ref.loss) <= 1e-4


def test_reference_step_is_the_gradient():
    """One reference step moves every parameter by −lr × the finite-difference gradient of C."""
    net, x, y, _ = _problem(3, 2, "cross_entropy", "tanh", n=6, width=5)
    lr = 0.1
    moved = reference.train(net, x, y, lr=lr, steps=1, loss="ce", progress=False).net

    def cost(m):
        f = reference.apply(m, x)
        f = f - f.max(axis=1, keepdims=True)
        return -np.mean(np.sum(y * (f - np.log(np.exp(f).sum(axis=1, keepdims=True))), axis=1))

    h = 1e-6
    for group in ("weights", "biases"):
        for l, p in enumerate(getattr(net, group)):
            for idx in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
                plus, minus = net.copy(), net.copy()
                getattr(plus, group)[l][idx] += h
                getattr(minus, group)[l][idx] -= h
                grad = (cost(plus) - cost(minus)) / (2 * h)
                step = getattr(moved, group)[l][idx] - p[idx]
                assert step == pytest.approx(-lr * grad, rel=1e-6, abs=1e-10)


def test_thread_count_does_not_change_a_bit():
    # several GEMM row tiles (ntkfast.training.TILE_ROWS) in every product
    net, x, y, xt = _problem(3, 2, "mse", "relu", n=600, width=300, n0=8, dtype=np.float32)
    runs = [ntkfast.train(net, x, y, lr=0.3, steps=4, x_test=xt, progress=False, n_threads=t)
            for t in (1, 2, 3)]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.f_train, runs[0].f_train)
        np.testing.assert_array_equal(other.loss, runs[0].loss)
        for a, b in zip(other.net.weights + other.net.biases, runs[0].net.weights + runs[0].net.biases):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("impl", [ntkfast.train, reference.train])
def test_divergence_raises_with_history(impl):
    net, x, y, _ = _problem(3, 1, "mse", "relu", parameterization="standard")
    with pytest.raises(ntkfast.TrainingDivergedError) as info:
        impl(net, x, y[:, 0], lr=1e3, steps=200, record_every=1, progress=False)
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert "lr" in str(err) and "step" in str(err)
    h = err.history
    assert len(h.step) >= 1 and h.step[0] == 0
    assert np.isfinite(h.loss).all() and h.f_train.shape[1:] == (x.shape[0],)
    assert str(h.step[-1] + 1) in str(err)


@pytest.mark.parametrize("impl", [ntkfast.train, reference.train])
def test_input_network_is_unchanged(impl):
    net, x, y, _ = _problem(2, 3, "mse", "tanh")
    before = [a.copy() for a in net.weights + net.biases]
    h = impl(net, x, y, lr=0.5, steps=3, progress=False)
    for a, b in zip(net.weights + net.biases, before):
        np.testing.assert_array_equal(a, b)
    assert all(not np.shares_memory(a, b) for a, b in zip(h.net.weights, net.weights))
    np.testing.assert_allclose(h.net(x), h.f_train[-1], rtol=1e-12)


def test_callable_loss_and_activation_paths():
    net, x, y, _ = _problem(3, 2, "mse", "tanh")

    def my_mse(f, t):
        d = f - t
        return 0.5 * np.mean(np.sum(d * d, axis=1)), d

    base = ntkfast.train(net, x, y, lr=0.5, steps=5, progress=False)
    custom_loss = ntkfast.train(net, x, y, lr=0.5, steps=5, loss=my_mse, progress=False)
    assert _rel(custom_loss.f_train, base.f_train) <= 1e-12
    user_tanh = ntkfast.activations.custom(np.tanh, lambda z: 1 - np.tanh(z) ** 2)
    user_act = ntkfast.MLP(net.weights, net.biases, activation=user_tanh, bias_std=net.bias_std)
    numpy_path = ntkfast.train(user_act, x, y, lr=0.5, steps=5, progress=False)
    assert _rel(numpy_path.f_train, base.f_train) <= 1e-12


def test_records_and_shapes():
    net, x, y, xt = _problem(2, 1, "mse")
    h = ntkfast.train(net, x, y[:, 0], lr=0.1, steps=7, record_every=3, x_test=xt, progress=False)
    np.testing.assert_array_equal(h.step, [0, 3, 6, 7])
    assert h.f_train.shape == (4, 20) and h.f_test.shape == (4, 5) and h.ntk_drift is None
    h0 = ntkfast.train(net, x, y, lr=0.1, steps=0, progress=False)
    assert h0.f_train.shape == (1, 20, 1) and h0.step.tolist() == [0]


def test_progress_bar_only_when_asked(capsys):
    net, x, y, _ = _problem(2, 1, "mse")
    ntkfast.train(net, x, y, lr=0.1, steps=3, progress=True)
    assert "3/3" in capsys.readouterr().err
    ntkfast.train(net, x, y, lr=0.1, steps=3)  # stderr is not a terminal here
    assert capsys.readouterr().err == ""
