"""ntkfast.train (C++ forward/backward/update) against ntkfast.reference.train (plain numpy),
which test_training_truth.py checks against finite differences.

float64 agrees to rounding after 20 steps: 1e-10 relative (max |a − b| / max |b|) on outputs,
losses, drift and every parameter. float32 runs in float32 in both (different summation
orders): 1e-4. Also: bit-identical results for any thread count, and Ctrl-C in a long run.
"""
from __future__ import annotations

import _thread
import threading
import time

from conftest import digests_per_omp_threads, main_thread_ticks_while
import ntkfast
import numpy as np
import pytest
from ntkfast import activations, reference

F64_TOL = 1e-10
F32_TOL = 1e-4


def _bump(z):
    return np.tanh(z) + 0.3 * np.exp(-z * z)


def _bump_prime(z):
    return 1.0 - np.tanh(z) ** 2 - 0.6 * z * np.exp(-z * z)


ACTS = {"relu": "relu", "tanh": "tanh", "erf": "erf", "softplus": "softplus",
        "leaky_relu(0.2)": activations.leaky_relu(0.2), "custom": activations.custom(_bump, _bump_prime)}


def huber(f, y):
    r = f - y
    small = np.abs(r) <= 1
    return float(np.where(small, 0.5 * r * r, np.abs(r) - 0.5).sum(axis=1).mean()), \
        np.where(small, r, np.sign(r))


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    assert np.isfinite(a).all()
    scale = np.abs(b).max()
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(a).max())


def setup(depth, n_out, loss, act="tanh", parameterization="ntk", seed=0, n=10, n_in=4,
          width=9, dtype=np.float64, bias_std=0.3):
    widths = [n_in] + [width + l for l in range(depth - 1)] + [n_out]
    net = ntkfast.init_mlp(widths, activation=ACTS[act], parameterization=parameterization,
                           bias_std=bias_std, weight_std=1.3, seed=[seed, depth, n_out], dtype=dtype)
    rng = np.random.default_rng([seed, 99])
    x = rng.standard_normal((n, n_in))
    xs = rng.standard_normal((5, n_in))
    if loss in ("ce", "cross_entropy"):
        y = np.eye(n_out)[rng.integers(0, n_out, n)]
    else:
        y = rng.standard_normal((n, n_out))
        if n_out == 1 and seed % 2:
            y = y[:, 0]  # 1-D targets
    return net, x, y, xs


def assert_parity(fast, ref, tol):
    np.testing.assert_array_equal(fast.step, ref.step)
    np.testing.assert_array_equal(fast.t, ref.t)
    assert rel(fast.f_train, ref.f_train) <= tol, "f_train"
    assert rel(fast.loss, ref.loss) <= tol, "loss"
    if ref.f_test is None:
        assert fast.f_test is None
    else:
        assert rel(fast.f_test, ref.f_test) <= tol, "f_test"
    if ref.ntk_drift is None:
        assert fast.ntk_drift is None
    else:
        # drift is a small difference of kernels: compare against the kernel scale (1 = Θ_0)
        assert np.abs(fast.ntk_drift - ref.ntk_drift).max() <= 100 * tol, "ntk_drift"
    assert fast.net.dtype == ref.net.dtype
    for i, (a, b) in enumerate(zip(fast.net.weights + fast.net.biases,
                                   ref.net.weights + ref.net.biases)):
        assert a.dtype == b.dtype
        assert rel(a, b) <= tol, f"parameter array {i}"


LOSS = {"mse": "mse", "ce": "ce", "callable": huber}
GRID = [(act, par, loss) for act in ACTS for par in ("ntk", "standard")
        for loss in ("mse", "ce", "callable")]


@pytest.mark.parametrize("act,parameterization,loss", GRID)
def test_train_parity(act, parameterization, loss):
    i = GRID.index((act, parameterization, loss))
    depth = 1 + i % 4
    n_out = 3 if (loss == "ce" or i % 3 == 0) else 1
    net, x, y, xs = setup(depth, n_out, loss, act, parameterization, seed=i)
    lr = 0.5 if parameterization == "ntk" else 0.1
    kw = {"lr": lr, "steps": 20, "loss": LOSS[loss], "x_test": xs if i % 2 == 0 else None,
              "record_every": [None, 1, 3, 7][i % 4], "track_ntk": [False, True, "full", "trace"][i % 4],
              "progress": False}
    fast = ntkfast.train(net, x, y, n_threads=1, **kw)
    ref = reference.train(net, x, y, **kw)
    assert_parity(fast, ref, F64_TOL)
    assert fast.loss[-1] < fast.loss[0]


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("n_out", [1, 3])
@pytest.mark.parametrize("act", ["relu", "erf"])
def test_train_parity_depths_and_outputs(depth, n_out, act):
    net, x, y, xs = setup(depth, n_out, "mse", act, seed=depth * 10 + n_out, width=12, n=16)
    kw = {"lr": 0.7, "steps": 25, "x_test": xs, "record_every": 5, "progress": False}
    assert_parity(ntkfast.train(net, x, y, **kw), reference.train(net, x, y, **kw), F64_TOL)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_train_parity_float32(loss):
    net, x, y, xs = setup(3, 3, loss, "tanh", seed=3, dtype=np.float32, width=20, n=24)
    kw = {"lr": 0.5, "steps": 20, "loss": loss, "x_test": xs, "record_every": 4, "track_ntk": True,
          "progress": False}
    fast = ntkfast.train(net, x, y, **kw)
    ref = reference.train(net, x, y, **kw)
    assert fast.net.dtype == np.float32
    np.testing.assert_array_equal(fast.step, ref.step)
    assert rel(fast.f_train, ref.f_train) <= F32_TOL
    assert rel(fast.f_test, ref.f_test) <= F32_TOL
    assert rel(fast.loss, ref.loss) <= F32_TOL
    for a, b in zip(fast.net.weights, ref.net.weights):
        assert rel(a, b) <= F32_TOL


def test_train_parity_wide():
    # Widths and N beyond one GEMM row tile.
    net, x, y, xs = setup(3, 2, "mse", "relu", seed=4, width=200, n=150, n_in=6)
    kw = {"lr": 1.0, "steps": 10, "x_test": xs, "record_every": 5, "progress": False}
    assert_parity(ntkfast.train(net, x, y, **kw), reference.train(net, x, y, **kw), F64_TOL)


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_train_is_bit_identical_for_any_thread_count(dtype, loss):
    net, x, y, xs = setup(3, 3, loss, "tanh", seed=5, width=260, n=300, n_in=5, dtype=dtype)
    kw = {"lr": 0.5, "steps": 4, "loss": loss, "x_test": xs, "record_every": 2, "progress": False}
    runs = [ntkfast.train(net, x, y, n_threads=k, **kw) for k in (1, 2, 3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.f_train, runs[0].f_train)
        np.testing.assert_array_equal(r.f_test, runs[0].f_test)
        np.testing.assert_array_equal(r.loss, runs[0].loss)
        for a, b in zip(r.net.weights + r.net.biases, runs[0].net.weights + runs[0].net.biases):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_small_batch_wide_layers_split_by_columns():
    # N within one row tile and layers >= 512 wide: the products are cut by columns instead
    # (gemm_row_tiles); still bit-identical for any thread count, and equal to the reference.
    net, x, y, xs = setup(3, 2, "mse", "tanh", seed=6, width=1100, n=16, n_in=3)
    kw = {"lr": 0.5, "steps": 5, "x_test": xs, "record_every": 5, "progress": False}
    runs = [ntkfast.train(net, x, y, n_threads=k, **kw) for k in (1, 2, 3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.f_train, runs[0].f_train)
        for a, b in zip(r.net.weights + r.net.biases, runs[0].net.weights + runs[0].net.biases):
            np.testing.assert_array_equal(a, b)
    assert_parity(runs[0], reference.train(net, x, y, **kw), F64_TOL)


def test_ctrl_c_interrupts_a_long_train():
    # Minutes of work unimpeded; the interrupt after 0.5 s must stop the compiled loop.
    net = ntkfast.init_mlp([8, 512, 512, 1], seed=0)
    x = np.random.default_rng(0).standard_normal((512, 8))
    y = np.sin(x[:, 0])
    timer = threading.Timer(0.5, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ntkfast.train(net, x, y, lr=0.01, steps=100000, record_every=100000, progress=False,
                          n_threads=1)
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 5.0, "the interrupt was honoured only after the call"


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_divergence_parity(loss):
    net, x, y, xs = setup(3, 3, loss, "relu", seed=6, width=24, n=12)
    errors = []
    for impl in (ntkfast.train, reference.train):
        with pytest.raises(ntkfast.TrainingDivergedError) as info:
            impl(net, x, y, lr=150.0, steps=400, loss=loss, record_every=2, x_test=xs,
                 progress=False)
        errors.append(info.value)
    fast, ref = errors[0].history, errors[1].history
    np.testing.assert_array_equal(fast.step, ref.step)
    assert rel(fast.f_train, ref.f_train) <= 1e-8  # the last steps grow fast: rounding too
    assert rel(fast.loss, ref.loss) <= 1e-8


_ENV_SCRIPT = """
import hashlib, numpy as np, ntkfast
rng = np.random.default_rng(3)
x = rng.standard_normal((300, 5))
net = ntkfast.init_mlp([5, 260, 260, 2], seed=1)
h = ntkfast.train(net, x, np.sin(x[:, :2]), lr=0.5, steps=3, progress=False)
print(hashlib.sha256(h.f_train.tobytes() + h.net.weights[1].tobytes()).hexdigest())
"""


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_train_is_bit_identical_for_any_omp_num_threads():
    assert len(digests_per_omp_threads(_ENV_SCRIPT)) == 1


def test_train_releases_the_gil():
    net = ntkfast.init_mlp([8, 512, 512, 1], seed=0)
    x = np.random.default_rng(0).standard_normal((512, 8))
    ticks, elapsed = main_thread_ticks_while(
        lambda: ntkfast.train(net, x, np.sin(x[:, 0]), lr=0.01, steps=40, progress=False, n_threads=1))
    assert elapsed > 0.2, "too quick to tell"
    assert ticks >= 10, f"{ticks} ticks in {elapsed:.2f} s (1 if the GIL were held)"
