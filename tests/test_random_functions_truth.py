"""The Monte Carlo truths of paper §3.1 and Thm. 1: averaged empirical kernels of random networks
estimate the analytic NNGP and NTK within their standard errors, K̃ → K as P^(−1/2), and the
empirical NTK → Θ∞ as width^(−1/2). Seeds are fixed: each check is one deterministic draw."""
from __future__ import annotations

import numpy as np
import pytest

import ntkfast

X = np.random.default_rng(0).normal(size=(5, 3))
CLOSED_FORMS = ["relu", "leaky_relu", "abs", "erf", "identity", "sin", "elu"]


@pytest.mark.slow
@pytest.mark.parametrize("activation", CLOSED_FORMS)
def test_monte_carlo_within_four_standard_errors(activation):
    """Width 512, 32 networks. Depth 1 is deterministic (standard error 0: equal to rounding);
    depth 2 is unbiased at any width; depths 3-4 carry an O(1/width) bias, well below the
    standard errors (~1% of the kernel) at this width."""
    for depth in (1, 2, 3, 4):
        mc = ntkfast.monte_carlo_kernels(X, depth=depth, width=512, n_networks=32,
                                         activation=activation, bias_std=0.2, seed=depth,
                                         n_threads=1)
        exact = ntkfast.kernels(X, depth=depth, activation=activation, bias_std=0.2)
        for got, se, want in ((mc.nngp, mc.nngp_se, exact.nngp), (mc.ntk, mc.ntk_se, exact.ntk)):
            rounding = 1e-12 * np.abs(want).max()
            assert np.all(np.abs(got - want) <= 4 * se + rounding), (depth, np.max(np.abs(got - want) / se))
            if depth == 1:
                assert se.max() <= rounding


def fitted_slope(sizes, errors):
    return np.polyfit(np.log(sizes), np.log(errors), 1)[0]


@pytest.mark.slow
def test_random_kernel_error_falls_as_p_to_minus_half():
    """E‖K̃ − K‖²_F = (1/P) Σ_ij (K_ij² + K_ii K_jj) for Gaussian draws: the RMS error over 20
    repeats per P has slope −1/2 on log-log axes."""
    k = ntkfast.nngp(X, depth=3, activation="erf", bias_std=0.2)
    sizes = np.array([16, 64, 256, 1024, 4096])
    rng = np.random.default_rng(1)
    errors = []
    for p in sizes:
        sq = [np.sum((ntkfast.random_kernel(ntkfast.gp_prior_draws(k, p, seed=rng).f) - k) ** 2)
              for _ in range(20)]
        errors.append(np.sqrt(np.mean(sq)))
    assert -0.6 <= fitted_slope(sizes, errors) <= -0.4


@pytest.mark.slow
def test_empirical_ntk_error_falls_as_width_to_minus_half():
    """Thm. 1: ‖Θ_emp − Θ∞‖_F / ‖Θ∞‖_F, RMS over 6 networks per width, depth 3 ReLU."""
    exact = ntkfast.ntk(X, depth=3, activation="relu", bias_std=0.1)
    widths = np.array([64, 128, 256, 512, 1024])
    errors = []
    for w in widths:
        sq = []
        for s in range(6):
            net = ntkfast.init_mlp([3, w, w, 1], activation="relu", bias_std=0.1, seed=1000 * w + s)
            sq.append(np.sum((ntkfast.empirical_ntk(net, X, n_threads=1) - exact) ** 2))
        errors.append(np.sqrt(np.mean(sq)) / np.linalg.norm(exact))
    assert -0.6 <= fitted_slope(widths, errors) <= -0.4
