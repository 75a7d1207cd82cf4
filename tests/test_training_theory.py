"""Issue item 6: the finite network follows the kernel (Jacot et al. 2018, Thm. 2).

(a) A width-2048 ReLU network (depth 3) trained by gradient descent for t = 50 with a small lr
    stays within a few percent of kernel_gd_mse's prediction made with its own initial empirical
    NTK and its own initial outputs, at the training points and at test points. One output
    (trace = the kernel) and two outputs (output="full", the (N·O)×(N·O) Gram matrix).
(b) The kernel at time t approaches the infinite-width NTK like width^(-1/2), and the drift
    ||Θ_t − Θ_0||_F / ||Θ_0||_F shrinks with width (widths 128 → 2048, seeds averaged,
    log-log slope fitted).
(c) (the closed form solves the ODE) is in test_dynamics_truth.py::test_closed_form_solves_the_ode.

Measured on this setup (ReLU, depth 3, 16 points, float32): (a) largest deviation over the
trajectory 0.9 % (train) and 2.0 % (test) with one output, 0.9 % / 0.8 % with two; (b) slope
of ||Θ_t − Θ^∞|| −0.44, slope of the drift −0.68 … −0.75 over three data sets. The drift falls
faster than the width^(-1/2) bound: the O(n^(-1/2)) change of the parameters moves Θ only at
second order for smooth activations (tanh measured −0.9 … −1.05 here, consistent with
dΘ/dt = O(1/n) in Dyer & Gur-Ari 2019), and ReLU's jumps in φ' add a part between the two.
So the drift is held to [−1.0, −0.35] (it shrinks, no faster than 1/n), while the issue's
width^(-1/2) window [−0.65, −0.35] is asserted for the distance to the limit kernel.
"""
from __future__ import annotations

import ntkfast
import numpy as np
import pytest

N, M = 16, 8


def circle(n, seed):
    g = np.random.default_rng(seed).uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(g), np.sin(g)], axis=1), g


def gram(theta_full):
    """(N1, N2, O, O) → (N1·O, N2·O), rows ordered like f.reshape(-1) of an (N, O) array."""
    n1, n2, o, _ = theta_full.shape
    return theta_full.transpose(0, 2, 1, 3).reshape(n1 * o, n2 * o)


def kernel_prediction(net, x, xs, y, times):
    """kernel_gd_mse with the net's own initial empirical NTK and outputs, (T, N, O) / (T, M, O).

    With O outputs the (N·O)×(N·O) Gram matrix is passed as one flattened problem of N·O
    "points"; kernel_gd_mse then divides by N·O instead of N, so the kernels are scaled by O.
    """
    o = net.widths[-1]
    k = gram(ntkfast.empirical_ntk(net, x, output="full"))
    kt = gram(ntkfast.empirical_ntk(net, xs, x, output="full"))
    f0, f0t = net(x).astype(np.float64), net(xs).astype(np.float64)
    res = ntkfast.kernel_gd_mse(o * k, y.reshape(-1), times, f0_train=f0.reshape(-1),
                                k_test_train=o * kt, f0_test=f0t.reshape(-1))
    return res.f_train.reshape(len(times), N, o), res.f_test.reshape(len(times), M, o), f0, f0t


@pytest.mark.parametrize("n_out", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_wide_network_follows_its_initial_kernel(n_out):
    x, g = circle(N, 1)
    xs, _ = circle(M, 2)
    y = 0.5 * np.stack([np.sin(3 * g), np.cos(2 * g)], axis=1)[:, :n_out]
    # float32: half the memory traffic of these bandwidth-bound steps, deviations unchanged
    net = ntkfast.init_mlp([2, 2048, 2048, n_out], seed=3, dtype=np.float32)
    # λ_max(Θ)/N ≈ 0.16 here: lr·λ_max/N = 0.08 keeps gradient descent within ~1 % of the flow
    hist = ntkfast.train(net, x, y, lr=0.5, steps=100, record_every=10, x_test=xs, progress=False)
    np.testing.assert_allclose(hist.t[-1], 50.0)
    f_train, f_test, f0, f0t = kernel_prediction(net, x, xs, y, hist.t)

    moved = np.linalg.norm(f_train[-1] - f0)
    assert moved > 0.3 * np.linalg.norm(y - f0), "the kernel prediction barely moves: no test"
    assert np.linalg.norm(hist.f_train[-1] - f0) > 0.3 * np.linalg.norm(y - f0)

    train_dev = max(np.linalg.norm(a - b) for a, b in zip(hist.f_train, f_train))
    train_dev /= np.linalg.norm(y - f0)
    test_dev = max(np.linalg.norm(a - b) for a, b in zip(hist.f_test, f_test))
    test_dev /= np.linalg.norm(f_test[-1] - f0t)
    assert train_dev < 0.03, f"train outputs deviate by {train_dev:.2%} from the kernel"
    assert test_dev < 0.05, f"test outputs deviate by {test_dev:.2%} from the kernel"


WIDTHS = [128, 256, 512, 1024, 2048]
SEEDS = {128: 12, 256: 8, 512: 6, 1024: 4, 2048: 3}  # fluctuations shrink with width


@pytest.mark.slow
def test_kernel_drift_shrinks_with_width():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 3))
    y = np.sin(x.sum(axis=1))
    limit = ntkfast.ntk(x, depth=3)
    drift, distance = [], []
    for w in WIDTHS:
        d, e = [], []
        for s in range(SEEDS[w]):
            net = ntkfast.init_mlp([3, w, w, 1], seed=[s, w], dtype=np.float32)
            hist = ntkfast.train(net, x, y, lr=1.0, steps=20, record_every=20, track_ntk=True,
                                 progress=False)
            d.append(hist.ntk_drift[-1])
            theta_t = ntkfast.empirical_ntk(hist.net, x)
            e.append(np.linalg.norm(theta_t - limit) / np.linalg.norm(limit))
        drift.append(np.mean(d))
        distance.append(np.mean(e))
    logw = np.log(WIDTHS)
    drift_slope = np.polyfit(logw, np.log(drift), 1)[0]
    distance_slope = np.polyfit(logw, np.log(distance), 1)[0]
    assert -0.65 <= distance_slope <= -0.35, (
        f"||Θ_t − Θ^∞|| slope {distance_slope:.3f} (means {np.round(distance, 4)})")
    assert -1.0 <= drift_slope <= -0.35, (
        f"drift slope {drift_slope:.3f} (means {np.round(drift, 4)})")
    assert drift[-1] < 0.05, "a width-2048 kernel should barely move"
