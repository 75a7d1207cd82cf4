"""Bad input to ntkfast.train and ntkfast.reference.train (issue item 8): every case raises
ValueError or TypeError naming the offending argument, before any training; a learning rate that
makes gradient descent blow up stops with TrainingDivergedError (a FloatingPointError) that says
so, suggests a smaller lr and carries the history up to the last good step.
"""
from __future__ import annotations

import re

from conftest import VALID_CALLABLES, mse_value, raises_naming, strided
import ntkfast
import numpy as np
import pytest
from ntkfast import reference

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 3))
Y = RNG.standard_normal((6, 2))
Y_CE = np.eye(2)[[0, 1, 1, 0, 1, 0]]
NET = ntkfast.init_mlp([3, 5, 2], seed=0)
NET1 = ntkfast.init_mlp([3, 5, 1], seed=0)

TRAIN = [pytest.param(ntkfast.train, id="fast"), pytest.param(reference.train, id="reference")]


def _with(a, index, value):
    a = np.array(a, dtype=np.float64)
    a[index] = value
    return a


BAD = [  # (argument(s) named, net, x, y, keyword arguments)
    pytest.param("net", "not a net", X, Y, {}, id="net-type"),
    pytest.param("x", NET, X[:, :2], Y, {}, id="x-width"),
    pytest.param("x", NET, X[0], Y, {}, id="x-1d"),
    pytest.param("x", NET, X[None], Y, {}, id="x-3d"),
    pytest.param("x", NET, np.zeros((0, 3)), np.zeros((0, 2)), {}, id="x-empty"),
    pytest.param("x", NET, _with(X, (2, 1), np.nan), Y, {}, id="x-nan"),
    pytest.param("x", NET, _with(X, (0, 0), np.inf), Y, {}, id="x-inf"),
    pytest.param("x", NET, X + 1j, Y, {}, id="x-complex"),
    pytest.param("y", NET, X, Y[:5], {}, id="y-rows"),
    pytest.param("y", NET, X, Y[:, :1], {}, id="y-outputs"),
    pytest.param("y", NET, X, Y[:, 0], {}, id="y-1d-for-two-outputs"),
    pytest.param("y", NET, X, Y[None], {}, id="y-3d"),
    pytest.param("y", NET, X, _with(Y, (1, 1), np.nan), {}, id="y-nan"),
    pytest.param("y", NET1, X, _with(Y[:, 0], 3, -np.inf), {}, id="y-inf"),
    pytest.param("y", NET, X, Y.astype(str), {}, id="y-strings"),
    pytest.param("x_test", NET, X, Y, {"x_test": X[:, :2]}, id="x-test-width"),
    pytest.param("x_test", NET, X, Y, {"x_test": _with(X, (0, 2), np.nan)}, id="x-test-nan"),
    pytest.param("x_test", NET, X, Y, {"x_test": X[0]}, id="x-test-1d"),
    pytest.param("loss", NET, X, Y, {"loss": "hinge"}, id="loss-name"),
    pytest.param("loss", NET, X, Y, {"loss": None}, id="loss-none"),
    pytest.param("loss", NET, X, Y, {"loss": 2}, id="loss-int"),
    pytest.param("lr", NET, X, Y, {"lr": 0.0}, id="lr-zero"),
    pytest.param("lr", NET, X, Y, {"lr": -0.1}, id="lr-negative"),
    pytest.param("lr", NET, X, Y, {"lr": np.nan}, id="lr-nan"),
    pytest.param("lr", NET, X, Y, {"lr": np.inf}, id="lr-inf"),
    pytest.param("lr", NET, X, Y, {"lr": "0.1"}, id="lr-string"),
    pytest.param("lr", NET, X, Y, {"lr": np.array([0.1, 0.2])}, id="lr-array"),
    pytest.param("steps", NET, X, Y, {"steps": -1}, id="steps-negative"),
    pytest.param("steps", NET, X, Y, {"steps": 2.5}, id="steps-float"),
    pytest.param("steps", NET, X, Y, {"steps": "10"}, id="steps-string"),
    pytest.param("steps", NET, X, Y, {"steps": True}, id="steps-bool"),
    pytest.param("record_every", NET, X, Y, {"record_every": 0}, id="record-every-zero"),
    pytest.param("record_every", NET, X, Y, {"record_every": -2}, id="record-every-negative"),
    pytest.param("record_every", NET, X, Y, {"record_every": 1.5}, id="record-every-float"),
    pytest.param("track_ntk", NET, X, Y, {"track_ntk": "diagonal!"}, id="track-ntk-name"),
    pytest.param("track_ntk", NET, X, Y, {"track_ntk": 2}, id="track-ntk-int"),
    pytest.param("n_threads", NET, X, Y, {"n_threads": 0}, id="n-threads"),
    # the reference validated neither (it ignores the count, but must refuse what train refuses)
    pytest.param("n_threads", NET, X, Y, {"n_threads": "a"}, id="n-threads-string"),
    pytest.param("n_threads", NET, X, Y, {"n_threads": 1.5}, id="n-threads-float"),
]


@pytest.mark.parametrize("fn", TRAIN)
@pytest.mark.parametrize("arg,net,x,y,kw", BAD)
def test_train_rejects(fn, arg, net, x, y, kw):
    kw = {"lr": 0.1, "steps": 3, "progress": False, **kw}
    raises_naming(arg, fn, net, x, y, **kw)


BAD_CE = [  # (names accepted, net, y)
    pytest.param(("y",), NET, Y_CE * 2, id="rows-sum-to-2"),
    pytest.param(("y",), NET, Y_CE - 0.5, id="negative"),
    pytest.param(("y",), NET, np.full((6, 2), 0.25), id="rows-sum-below-1"),
    pytest.param(("y", "loss"), NET1, np.ones(6), id="one-output"),
]


@pytest.mark.parametrize("fn", TRAIN)
@pytest.mark.parametrize("names,net,y", BAD_CE)
@pytest.mark.parametrize("loss", ["ce", "cross_entropy"])
def test_cross_entropy_needs_probability_rows(fn, names, net, y, loss):
    raises_naming(names, fn, net, X, y, lr=0.1, steps=2, loss=loss, progress=False)


# What a user's loss may return: the table shared with kernel_gd, in test_dynamics_training_losses.py.


@pytest.mark.parametrize("fn", TRAIN)
def test_callable_loss_exceptions_propagate(fn):
    class Boom(Exception):
        pass

    def boom(f, y):
        raise Boom("from the user's loss")

    with pytest.raises(Boom):
        fn(NET, X, Y, lr=0.1, steps=3, loss=boom, progress=False)


@pytest.mark.parametrize("fn", TRAIN)
def test_bad_input_leaves_the_network_alone(fn):
    before = [w.copy() for w in NET.weights]
    with pytest.raises(ValueError):
        fn(NET, X, Y[:5], lr=0.1, steps=3, progress=False)
    for w, b in zip(NET.weights, before):
        np.testing.assert_array_equal(w, b)


# ---------------------------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", TRAIN)
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_divergence_stops_and_says_so(fn, loss):
    # The NTK bound for MSE is lr < 2N/λ_max(Θ); lr = 200 is far above it for this net.
    net = ntkfast.init_mlp([3, 32, 32, 2], seed=1, bias_std=0.5)
    y = Y_CE if loss == "ce" else Y
    with pytest.raises(ntkfast.TrainingDivergedError) as info:
        fn(net, X, y, lr=200.0, steps=500, loss=loss, record_every=1, progress=False)
    err = info.value
    assert isinstance(err, FloatingPointError)
    msg = str(err)
    assert re.search(r"\blr\b", msg), msg
    assert "200" in msg, f"message does not show the learning rate: {msg!r}"
    assert re.search(r"smaller", msg), msg
    hist = err.history
    assert isinstance(hist, ntkfast.TrainingHistory)
    assert len(hist.step) >= 1 and hist.step[0] == 0
    assert np.isfinite(hist.loss).all() and np.isfinite(hist.f_train).all()
    assert 0 < hist.step[-1] < 500, "history stops at the last good step, before the end"
    assert str(int(hist.step[-1]) + 1) in msg or str(int(hist.step[-1])) in msg, \
        f"message does not name the step: {msg!r}"
    np.testing.assert_allclose(hist.t, 200.0 * np.asarray(hist.step))


@pytest.mark.parametrize("fn", TRAIN)
def test_large_but_stable_lr_is_not_divergence(fn):
    # lr just below the NTK bound 2N/λ_max: the loss oscillates but must not be flagged.
    net = ntkfast.init_mlp([3, 64, 1], seed=2)
    theta = ntkfast.empirical_ntk(net, X)
    bound = 2 * len(X) / np.linalg.eigvalsh(theta)[-1]
    hist = fn(net, X, Y[:, 0], lr=0.8 * bound, steps=30, progress=False)
    assert np.isfinite(hist.loss).all() and hist.loss[-1] < hist.loss[0]


# ---------------------------------------------------------------------------------------------
# Unusual but valid input
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", TRAIN)
def test_layouts_lists_and_numpy_scalars_give_the_same_result(fn):
    plain = fn(NET, X, Y, lr=0.1, steps=3, x_test=X[:2], progress=False)
    fortran_net = NET.copy()
    fortran_net.weights[0] = np.asfortranarray(fortran_net.weights[0])
    variants = [
        (NET, np.asfortranarray(X), np.asfortranarray(Y), X[:2].copy(order="F"), 0.1, 3),
        (NET, strided(X), strided(Y), strided(X[:2]), np.float64(0.1), np.int64(3)),
        (NET, X.tolist(), Y.tolist(), X[:2].tolist(), 0.1, 3),
        (fortran_net, X, Y, X[:2], 0.1, 3),
    ]
    for net, x, y, xs, lr, steps in variants:
        got = fn(net, x, y, lr=lr, steps=steps, x_test=xs, progress=False)
        np.testing.assert_allclose(got.f_train, plain.f_train, rtol=1e-15, atol=0)
        np.testing.assert_allclose(got.f_test, plain.f_test, rtol=1e-15, atol=0)
    with pytest.raises(AttributeError):
        plain.t = None  # a frozen record


@pytest.mark.parametrize("fn", TRAIN)
def test_callable_loss_sees_float64_for_a_float32_net(fn):
    seen = []

    def mse(f, y):
        seen.append((f.dtype, y.dtype, f.shape, y.shape))
        return float(0.5 * ((f - y) ** 2).sum(axis=1).mean()), f - y

    net32 = NET1.astype(np.float32)
    fn(net32, X, Y[:, 0], lr=0.1, steps=2, loss=mse, progress=False)
    assert set(seen) == {(np.dtype(np.float64), np.dtype(np.float64), (6, 1), (6, 1))}


@pytest.mark.parametrize("fn", TRAIN)
def test_progress_bar_only_when_asked(fn, capfd):
    fn(NET, X, Y, lr=0.1, steps=30, progress=False)
    assert capfd.readouterr().err == ""
    fn(NET, X, Y, lr=0.1, steps=30)  # stderr is not a terminal under pytest
    assert capfd.readouterr().err == ""
    fn(NET, X, Y, lr=0.1, steps=30, progress=True)
    err = capfd.readouterr().err
    assert "30" in err, f"no progress shown: {err!r}"


@pytest.mark.parametrize("fn", TRAIN)
@pytest.mark.parametrize("loss", VALID_CALLABLES)
def test_callable_loss_returns_in_any_layout(fn, loss):
    plain = fn(NET, X, Y, lr=0.1, steps=3, progress=False)
    got = fn(NET, X, Y, lr=0.1, steps=3, loss=loss, progress=False)
    np.testing.assert_allclose(got.f_train, plain.f_train, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("fn", TRAIN)
@pytest.mark.parametrize("y", [Y[:, 0], Y[:, :1]], ids=["y-1d", "y-column"])
def test_callable_loss_may_return_d_as_a_vector_for_one_output(fn, y):
    # f is (N, 1); d as (N,) means the same, as in kernel_gd
    def loss(f, yy):
        return mse_value(f, yy), (f - yy)[:, 0]

    plain = fn(NET1, X, y, lr=0.1, steps=3, progress=False)
    got = fn(NET1, X, y, lr=0.1, steps=3, loss=loss, progress=False)
    np.testing.assert_allclose(got.f_train, plain.f_train, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got.loss, plain.loss, rtol=1e-13)


def test_a_record_schedule_too_large_for_memory_is_refused_before_allocating():
    # 1e11 records of the outputs cannot fit: a clear refusal, not numpy's MemoryError
    with pytest.raises(ValueError, match="records"):
        ntkfast.train(NET, X, Y, lr=1e-3, steps=10**11, record_every=1, progress=False)


# ---------------------------------------------------------------------------------------------
# Regressions from the second review
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", TRAIN)
def test_step_0_blames_the_targets_when_only_the_loss_overflows(fn):
    # The net is float64 and its outputs finite: the MSE of y·1e300 overflows. The message said
    # "its outputs overflow in float64 (try net.astype(np.float64)...)".
    with pytest.raises(ntkfast.TrainingDivergedError) as info:
        fn(NET, X, Y * 1e300, lr=0.5, steps=3, progress=False)
    msg = str(info.value)
    assert "outputs are finite" in msg and "rescale y" in msg, msg
    assert "astype" not in msg and "outputs overflow" not in msg, msg


@pytest.mark.parametrize("fn", TRAIN)
def test_step_0_overflowing_outputs_are_reported_as_such(fn):
    big = ntkfast.init_mlp([3, 5, 2], seed=0, dtype=np.float32)
    big = ntkfast.MLP([w * 1e20 for w in big.weights], big.biases)
    with pytest.raises(ntkfast.TrainingDivergedError) as info:
        fn(big, X * 1e10, Y, lr=0.5, steps=3, progress=False)
    msg = str(info.value)
    assert "outputs overflow in float32" in msg and "astype(np.float64)" in msg, msg


@pytest.mark.parametrize("fn", TRAIN)
def test_step_0_nan_from_a_users_activation_names_it(fn):
    act = ntkfast.activations.custom(lambda z: np.where(z > 0, np.nan, z), lambda z: np.ones_like(z),
                                     name="holey")
    net = ntkfast.init_mlp([3, 5, 2], seed=0, activation=act)
    # caught where φ returns it (activations.custom checks its outputs), not as a divergence
    with pytest.raises(ValueError, match="activation: holey's φ returned nan for the finite input"):
        fn(net, X, Y, lr=0.5, steps=3, progress=False)


@pytest.mark.parametrize("fn", TRAIN)
def test_numpy_bools_are_accepted_where_python_bools_are(fn):
    a = fn(NET, X, Y, lr=0.1, steps=2, track_ntk=np.True_, progress=np.False_)
    b = fn(NET, X, Y, lr=0.1, steps=2, track_ntk=True, progress=False)
    np.testing.assert_array_equal(a.ntk_drift, b.ntk_drift)
    c = fn(NET, X, Y, lr=0.1, steps=2, track_ntk=np.False_, progress=False)
    assert c.ntk_drift is None


# ---- activation callables that write into their argument (issue 11, item 5) -----------------
def _tanh_in_place(z):
    return np.tanh(z, out=z)


def _tanh_prime_in_place(z):
    np.tanh(z, out=z)
    np.square(z, out=z)
    return np.subtract(1.0, z, out=z)


@pytest.mark.parametrize("fn", TRAIN)
def test_in_place_activation_trains_like_a_plain_one(fn):
    # The numpy engine computes φ′(z) then φ(z) from one z: an in-place φ′ fed φ its own result.
    act = ntkfast.activations.custom(_tanh_in_place, _tanh_prime_in_place)
    plain = ntkfast.activations.custom(lambda z: np.tanh(z), lambda z: 1.0 - np.tanh(z) ** 2)
    a = fn(ntkfast.init_mlp([3, 5, 2], seed=0, activation=act), X, Y, lr=0.5, steps=4, x_test=X[:2])
    b = fn(ntkfast.init_mlp([3, 5, 2], seed=0, activation=plain), X, Y, lr=0.5, steps=4, x_test=X[:2])
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.f_train, b.f_train)
    np.testing.assert_array_equal(a.f_test, b.f_test)
