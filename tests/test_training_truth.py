"""Independent truth for ntkfast.train and ntkfast.reference.train: full-batch gradient descent
θ ← θ − lr·∇_θ C with C(θ) = (1/N) Σ_i ℓ(f_θ(x_i), y_i), t = lr × step.

(a) One step against central finite differences of C written here (own forward pass, own
    losses), for every parameter: weights and biases, both parameterizations, mse / ce / a
    callable loss, smooth and kinked activations.
(b) A depth-1 network is linear in its parameters, so its NTK is constant and gradient descent
    is exactly the discrete kernel iteration f ← f − (lr/N) Θ (f − y): checks the 1/N and lr
    conventions over many steps.
(c) What is recorded: steps, times, losses and outputs at the recorded steps, the trained copy
    (input untouched), ntk_drift against ntkfast.empirical_ntk.
"""
from __future__ import annotations

import math

import ntkfast
from conftest import mlp_forward, mlp_scales
import numpy as np
import pytest
from ntkfast import activations, reference

IMPLS = [pytest.param(ntkfast.train, id="fast"), pytest.param(reference.train, id="reference")]

_erf = np.vectorize(math.erf, otypes=[np.float64])
PHI = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "erf": _erf,
       "custom": lambda z: np.tanh(z) + 0.1 * z}


def _custom_prime(z):
    return 1.0 - np.tanh(z) ** 2 + 0.1


def spec(name):
    return activations.custom(PHI["custom"], _custom_prime) if name == "custom" else name


def own_forward(ws, bs, net, x, act):
    """f(x) for parameters ws, bs with the net's scales (ntk-math.md §1 / networks.py)."""
    widths = [ws[0].shape[1]] + [w.shape[0] for w in ws]
    sw, sb = mlp_scales(widths, net.parameterization, net.weight_std, net.bias_std)
    return mlp_forward(ws, bs, sw, sb, PHI[act], x)


def make_net(widths, act="tanh", parameterization="ntk", seed=0, dtype=np.float64,
             bias_std=0.5, weight_std=1.2):
    net = ntkfast.init_mlp(list(widths), activation=spec(act), parameterization=parameterization,
                           weight_std=weight_std, bias_std=bias_std, seed=seed, dtype=dtype)
    return net


def softmax(f):
    e = np.exp(f - f.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def c_mse(f, y):
    return float(0.5 * ((f - y) ** 2).sum(axis=1).mean())


def c_ce(f, y):
    m = f.max(axis=-1, keepdims=True)
    logp = f - m - np.log(np.exp(f - m).sum(axis=-1, keepdims=True))
    return float(-(y * logp).sum(axis=1).mean())


def logcosh(f, y):
    """A user's loss: ℓ = Σ_k log cosh(f_k − y_k), d = tanh(f − y)."""
    assert f.shape == y.shape and f.ndim == 2
    return float(np.log(np.cosh(f - y)).sum(axis=1).mean()), np.tanh(f - y)


LOSSES = {"mse": ("mse", c_mse), "ce": ("cross_entropy", c_ce),
          "callable": (logcosh, lambda f, y: logcosh(f, y)[0])}


def data(n, n_in, n_out, loss, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in))
    if loss == "ce":
        y = softmax(2 * rng.standard_normal((n, n_out)))  # soft targets
        y[0] = np.eye(n_out)[1]
    else:
        y = rng.standard_normal((n, n_out))
    return x, y


def fd_gradient(net, act, x, y, cost, h=1e-6):
    """Central differences of C(θ) for every weight and bias (float64)."""
    ws = [w.astype(np.float64) for w in net.weights]
    bs = [b.astype(np.float64) for b in net.biases]
    grads = []
    for arr in ws + bs:
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + h
            up = cost(own_forward(ws, bs, net, x, act), y)
            arr[idx] = old - h
            down = cost(own_forward(ws, bs, net, x, act), y)
            arr[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return grads


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("loss", ["mse", "ce", "callable"])
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("act", ["tanh", "relu", "erf", "custom"])
def test_one_step_is_a_gradient_step(impl, loss, parameterization, act):
    widths = [3, 4, 5, 3]
    net = make_net(widths, act, parameterization, seed=[2, len(act)])
    x, y = data(6, 3, 3, loss)
    lr = 0.05
    spec_loss, cost = LOSSES[loss]
    hist = impl(net, x, y, lr=lr, steps=1, loss=spec_loss, progress=False)
    fd = fd_gradient(net, act, x, y, cost)
    before = net.weights + net.biases
    after = hist.net.weights + hist.net.biases
    scale = max(np.abs(g).max() for g in fd)
    for i, (b, a, g) in enumerate(zip(before, after, fd)):
        step_grad = (b - a) / lr
        err = np.abs(step_grad - g).max() / scale
        assert err < 1e-7, f"parameter array {i}: gradient error {err:.3g}"
    # and the step did something to every array that the loss depends on
    assert all(not np.array_equal(b, a) for b, a in zip(before, after) if np.abs(b).max() > 0)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_depth_one_is_the_discrete_kernel_iteration(impl, parameterization):
    # f = s_w W x + s_b b is linear in θ: Θ is constant, f_{k+1} = f_k − (lr/N) Θ (f_k − y) exactly.
    n, n_in, n_out, lr, steps = 12, 4, 2, 0.3, 40
    net = make_net([n_in, n_out], "tanh", parameterization, seed=3, bias_std=0.7)
    x, y = data(n, n_in, n_out, "mse", seed=4)
    theta = ntkfast.empirical_ntk(net, x, output="full")  # (N, N, O, O)
    big = theta.transpose(0, 2, 1, 3).reshape(n * n_out, n * n_out)
    f = net(x).reshape(-1)
    expected = [f.copy()]
    for _ in range(steps):
        f = f - lr / n * big @ (f - y.reshape(-1))
        expected.append(f.copy())
    hist = impl(net, x, y, lr=lr, steps=steps, record_every=1, progress=False)
    got = hist.f_train.reshape(steps + 1, -1)
    assert np.abs(got - np.array(expected)).max() < 1e-12 * np.abs(expected).max()
    assert not np.allclose(got[-1], got[0]), "nothing moved"


@pytest.mark.parametrize("impl", IMPLS)
def test_records_losses_outputs_and_times(impl):
    net = make_net([3, 6, 6, 2], "tanh", seed=5)
    x, y = data(7, 3, 2, "mse", seed=6)
    xs = np.random.default_rng(7).standard_normal((4, 3))
    copy_w = [w.copy() for w in net.weights]
    hist = impl(net, x, y, lr=0.2, steps=10, record_every=3, x_test=xs, progress=False)
    np.testing.assert_array_equal(hist.step, [0, 3, 6, 9, 10])
    assert np.issubdtype(np.asarray(hist.step).dtype, np.integer)
    np.testing.assert_allclose(hist.t, 0.2 * np.array([0, 3, 6, 9, 10]), rtol=1e-15)
    assert hist.f_train.shape == (5, 7, 2) and hist.f_test.shape == (5, 4, 2)
    assert hist.loss.shape == (5,) and hist.ntk_drift is None
    # input untouched; the first record is the input net, the last the trained net
    for w, c in zip(net.weights, copy_w):
        np.testing.assert_array_equal(w, c)
    assert hist.net is not net and isinstance(hist.net, ntkfast.MLP)
    np.testing.assert_allclose(hist.f_train[0], net(x), rtol=0, atol=1e-14)
    np.testing.assert_allclose(hist.f_test[0], net(xs), rtol=0, atol=1e-14)
    np.testing.assert_allclose(hist.f_train[-1], hist.net(x), rtol=0, atol=1e-13)
    np.testing.assert_allclose(hist.f_test[-1], hist.net(xs), rtol=0, atol=1e-13)
    np.testing.assert_allclose(hist.loss, [c_mse(f, y) for f in hist.f_train], rtol=1e-13)
    assert np.all(np.diff(hist.loss) < 0)
    # the trained network keeps the input's activation, scales and parameterization
    assert (hist.net.widths, hist.net.weight_std, hist.net.bias_std, hist.net.parameterization) == (
        net.widths, net.weight_std, net.bias_std, net.parameterization)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("steps,expected", [
    (0, [0]), (1, [0, 1]), (5, [0, 1, 2, 3, 4, 5]), (250, list(range(0, 251, 2))),
    (301, list(range(0, 301, 3)) + [301]),
])
def test_default_record_every(impl, steps, expected):
    net = make_net([2, 3, 1], "tanh", seed=8)
    x, y = data(4, 2, 1, "mse", seed=9)
    hist = impl(net, x, y[:, 0], lr=0.01, steps=steps, progress=False)
    np.testing.assert_array_equal(hist.step, expected)
    assert hist.f_train.shape == (len(expected), 4)  # 1-D y: the output axis is dropped
    if steps == 0:
        for w, v in zip(hist.net.weights, net.weights):
            np.testing.assert_array_equal(w, v)


@pytest.mark.parametrize("impl", IMPLS)
def test_training_composes(impl):
    net = make_net([3, 5, 4, 2], "erf", seed=10)
    x, y = data(6, 3, 2, "ce", seed=11)
    whole = impl(net, x, y, lr=0.3, steps=7, loss="ce", progress=False)
    part = impl(impl(net, x, y, lr=0.3, steps=4, loss="ce", progress=False).net, x, y, lr=0.3,
                steps=3, loss="ce", progress=False)
    for a, b in zip(whole.net.weights + whole.net.biases, part.net.weights + part.net.biases):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
    assert whole.loss[-1] == pytest.approx(part.loss[-1], rel=1e-13)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("track", [True, "trace", "full"])
def test_ntk_drift(impl, track):
    net = make_net([3, 16, 16, 2], "relu", seed=12, bias_std=0.3)
    x, y = data(8, 3, 2, "mse", seed=13)
    hist = impl(net, x, y, lr=0.5, steps=12, record_every=5, track_ntk=track, progress=False)
    output = "full" if track == "full" else "trace"
    k0 = ntkfast.empirical_ntk(net, x, output=output)
    k1 = ntkfast.empirical_ntk(hist.net, x, output=output)
    assert hist.ntk_drift.shape == (4,)
    assert hist.ntk_drift[0] == 0.0
    expected = np.linalg.norm(k1 - k0) / np.linalg.norm(k0)
    assert hist.ntk_drift[-1] == pytest.approx(expected, rel=1e-9)
    assert expected > 1e-4  # the kernel did move at width 16


@pytest.mark.parametrize("impl", IMPLS)
def test_ce_alias_and_output_sum_of_gradient(impl):
    net = make_net([3, 6, 3], "tanh", seed=14)
    x, y = data(5, 3, 3, "ce", seed=15)
    a = impl(net, x, y, lr=0.4, steps=5, loss="ce", progress=False)
    b = impl(net, x, y, lr=0.4, steps=5, loss="cross_entropy", progress=False)
    np.testing.assert_array_equal(a.f_train, b.f_train)
    np.testing.assert_allclose(a.loss, [c_ce(f, y) for f in a.f_train], rtol=1e-13)


@pytest.mark.parametrize("impl", IMPLS)
def test_float32_network_trains_in_float32(impl):
    net64 = make_net([3, 8, 8, 2], "tanh", seed=16)
    net32 = net64.astype(np.float32)
    x, y = data(6, 3, 2, "mse", seed=17)
    h32 = impl(net32, x, y, lr=0.3, steps=10, progress=False)
    h64 = impl(net64, x, y, lr=0.3, steps=10, progress=False)
    assert h32.net.dtype == np.float32
    assert np.abs(h32.f_train.astype(np.float64) - h64.f_train).max() < 1e-4
    assert h32.loss[-1] == pytest.approx(h64.loss[-1], rel=1e-4)
