"""Every public object pickles (issue 11, item 7): networks, activations (by name and
parameters, or the user's importable functions), results and errors, and a round trip keeps
its behaviour bit for bit. Dask and multiprocessing workers depend on it; the spawn-Pool test
runs the real thing.
"""
from __future__ import annotations

import copy
import multiprocessing
import pickle
import sys

import numpy as np
import pytest

import ntkfast
from ntkfast import activations, reference

X = np.random.default_rng(11).standard_normal((6, 3))
Y = np.random.default_rng(12).standard_normal((6, 2))
Z = np.linspace(-3.0, 3.0, 25)


def round_trip(obj, protocol=pickle.HIGHEST_PROTOCOL):
    return pickle.loads(pickle.dumps(obj, protocol=protocol))


# Module level, so pickle can store them by reference (and spawn workers import them).
def bump(z):
    return np.sin(z) + 0.5 * z


def bump_prime(z):
    return np.cos(z) + 0.5


BUILT_IN = [pytest.param(activations.get_activation(name), id=name) for name in activations.NAMES] + [
    pytest.param(activations.leaky_relu(0.2), id="leaky_relu(0.2)"),
    pytest.param(activations.elu(alpha=0.5), id="elu(alpha=0.5)"),
    pytest.param(activations.custom(bump, bump_prime, name="bump"), id="custom-module-level"),
    pytest.param(activations.custom(np.tanh), id="custom-ufunc-no-derivative"),
]


@pytest.mark.parametrize("act", BUILT_IN)
@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_activations_round_trip_with_their_behaviour(act, protocol):
    back = round_trip(act, protocol)
    assert type(back) is activations.Activation
    assert repr(back) == repr(act)
    for field in ("name", "dual", "slopes", "alpha", "odd", "compiled"):
        assert getattr(back, field) == getattr(act, field), field
    np.testing.assert_array_equal(back(Z), act(Z))
    assert (back.derivative is None) == (act.derivative is None)
    if act.derivative is not None:
        np.testing.assert_array_equal(back.derivative(Z), act.derivative(Z))
    np.testing.assert_array_equal(ntkfast.ntk(X, depth=3, activation=back),
                                  ntkfast.ntk(X, depth=3, activation=act))


def test_built_in_activations_pickle_as_their_factory_call():
    # by name and parameters: no function of ours is in the stream
    data = pickle.dumps(activations.leaky_relu(0.2))
    assert b"leaky_relu" in data and b"<lambda>" not in data and len(data) < 200


@pytest.fixture
def no_cloudpickle(monkeypatch):
    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # import cloudpickle -> ImportError


@pytest.mark.parametrize("make", [
    pytest.param(lambda: activations.custom(lambda z: z * 0.5, lambda z: 0.5 + 0 * z), id="custom-lambda"),
    pytest.param(lambda: activations.custom(bump, lambda z: np.cos(z) + 0.5), id="lambda-derivative"),
    pytest.param(lambda: activations.get_activation(lambda z: np.tanh(z)), id="plain-callable"),
    pytest.param(lambda: activations.Activation("direct", lambda z: np.tanh(z),
                                                lambda z: 1 - np.tanh(z) ** 2, "mehler"),
                 id="directly-built"),
])
def test_a_lambda_activation_without_cloudpickle_is_a_clear_error(no_cloudpickle, make):
    act = activations.get_activation(make())
    with pytest.raises(pickle.PicklingError, match=r"activation: cannot pickle .*module level"):
        pickle.dumps(act)
    if act.derivative is not None:  # and inside a network
        net = ntkfast.MLP([np.ones((1, 3)), np.ones((1, 1))], [np.zeros(1), np.zeros(1)],
                          activation=act)
        with pytest.raises(pickle.PicklingError, match=r"activation: cannot pickle"):
            pickle.dumps(net)


def test_a_lambda_activation_pickles_by_value_when_cloudpickle_is_installed():
    cloudpickle = pytest.importorskip("cloudpickle")
    act = activations.custom(lambda z: np.tanh(z) + 0.1 * z, lambda z: 1.1 - np.tanh(z) ** 2)
    for back in (round_trip(act), cloudpickle.loads(cloudpickle.dumps(act))):
        np.testing.assert_array_equal(back(Z), act(Z))
        np.testing.assert_array_equal(back.derivative(Z), act.derivative(Z))


def test_copies_of_networks_with_lambda_activations_still_work(no_cloudpickle):
    # copy/deepcopy go through __reduce_ex__: activations are immutable and shared instead
    act = activations.custom(lambda z: np.tanh(z), lambda z: 1 - np.tanh(z) ** 2)
    net = ntkfast.init_mlp([3, 4, 1], activation=act, seed=0)
    for dup in (copy.copy(net), copy.deepcopy(net)):
        np.testing.assert_array_equal(dup(X), net(X))


@pytest.mark.parametrize("kw", [
    dict(activation="relu"),
    dict(activation=activations.leaky_relu(0.2), bias_std=0.3, dtype=np.float32),
    dict(activation=activations.elu(alpha=0.5), parameterization="standard", weight_std=1.5),
    dict(activation=activations.custom(bump, bump_prime)),
    dict(activation="tanh", dtype=np.float32),
])
def test_networks_round_trip_bit_for_bit(kw):
    net = ntkfast.init_mlp([3, 7, 5, 2], seed=3, **kw)
    back = round_trip(net)
    assert type(back) is ntkfast.MLP and repr(back) == repr(net)
    for a, b in zip(back.weights + back.biases, net.weights + net.biases):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back(X), net(X))
    np.testing.assert_array_equal(ntkfast.empirical_ntk(back, X, output="full"),
                                  ntkfast.empirical_ntk(net, X, output="full"))
    np.testing.assert_array_equal(reference.apply(back, X), reference.apply(net, X))


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_same(u, v)
    else:
        assert a == b


def _fields(obj):
    return {k: v for k, v in vars(obj).items()}


def test_results_round_trip():
    net = ntkfast.init_mlp([3, 5, 2], seed=0)
    kr = ntkfast.kernels(X, depth=3, activation="tanh", layerwise=True)
    back = round_trip(kr)
    assert type(back) is type(kr)
    for name, value in _fields(kr).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(back, name), value)
        else:
            assert getattr(back, name) == value
    emp = ntkfast.empirical_ntk(net, X, per_layer=True)
    _assert_same(round_trip(emp), emp)
    assert isinstance(round_trip(emp), ntkfast.EmpiricalNTK)
    k = ntkfast.ntk(X, depth=2)
    for res in (ntkfast.kernel_gd_mse(k, Y, [0.0, 1.0, np.inf], k_test_train=k[:2]),
                ntkfast.kernel_gd(k, Y, [0.0, 1.0], loss="mse", k_test_train=k[:2])):
        back = round_trip(res)
        assert type(back) is ntkfast.KernelGDResult
        for name, value in _fields(res).items():
            _assert_same(getattr(back, name), value)
    ens = ntkfast.infinite_ensemble(X, Y, X[:2], [0.0, 1.0], depth=2)
    back = round_trip(ens)
    for name, value in _fields(ens).items():
        _assert_same(getattr(back, name), value)
    np.testing.assert_array_equal(back.quantile(0.9), ens.quantile(0.9))


def _assert_same_history(back, h):
    assert type(back) is ntkfast.TrainingHistory
    for name in ("t", "step", "loss", "f_train", "f_test", "ntk_drift"):
        _assert_same(getattr(back, name), getattr(h, name))
    np.testing.assert_array_equal(back.net(X), h.net(X))


def test_training_history_round_trips():
    net = ntkfast.init_mlp([3, 5, 2], seed=0, activation=activations.custom(bump, bump_prime))
    h = ntkfast.train(net, X, Y, lr=0.5, steps=3, x_test=X[:2], track_ntk=True, progress=False)
    _assert_same_history(round_trip(h), h)


@pytest.mark.parametrize("fn", [ntkfast.train, reference.train], ids=["fast", "reference"])
def test_training_diverged_error_pickles_with_its_history(fn):
    net = ntkfast.init_mlp([3, 20, 2], seed=0)
    with pytest.raises(ntkfast.TrainingDivergedError) as info:
        fn(net, X * 30, Y, lr=1e4, steps=50, record_every=1, progress=False)
    err = info.value
    assert err.history is not None and len(err.history.step) >= 1
    back = round_trip(err)
    assert type(back) is ntkfast.TrainingDivergedError and isinstance(back, FloatingPointError)
    assert str(back) == str(err) and back.args == err.args
    _assert_same_history(back.history, err.history)
    assert round_trip(ntkfast.TrainingDivergedError("plain")).history is None


def test_output_too_large_error_round_trips():
    with pytest.raises(ntkfast.OutputTooLargeError) as info:
        ntkfast.init_mlp([10**6, 10**6, 10**6])
    back = round_trip(info.value)
    assert type(back) is ntkfast.OutputTooLargeError
    assert isinstance(back, ValueError) and isinstance(back, MemoryError)
    assert str(back) == str(info.value)


# ---- a real spawn Pool: workers import ntkfast afresh and receive everything pickled ---------
def _worker_outputs(job):
    net, act, x = job
    return (ntkfast.apply(net, x), ntkfast.empirical_ntk(net, x),
            ntkfast.ntk(x, depth=2, activation=act), repr(act))


def test_spawn_pool_computes_the_same_bits():
    nets = [ntkfast.init_mlp([3, 6, 2], seed=s, activation=a)
            for s, a in enumerate(["relu", activations.elu(alpha=0.5),
                                   activations.custom(bump, bump_prime)])]
    acts = [activations.leaky_relu(0.2), activations.get_activation("tanh"),
            activations.custom(bump, bump_prime)]
    jobs = [(net, act, X) for net, act in zip(nets, acts)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        got = pool.map_async(_worker_outputs, jobs).get(timeout=240)
    for (net, act, x), (f, k, kernel, name) in zip(jobs, got):
        np.testing.assert_array_equal(f, net(x))
        np.testing.assert_array_equal(k, ntkfast.empirical_ntk(net, x))
        np.testing.assert_array_equal(kernel, ntkfast.ntk(x, depth=2, activation=act))
        assert name == repr(act)
