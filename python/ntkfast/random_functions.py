"""Random functions whose covariance is a kernel, the random kernel K̃ and the linear model F^lin
they define, and Monte Carlo estimates of the infinite-width kernels (paper §3.1 and Thm. 1).

    >>> draws = ntkfast.gp_prior_draws(ntkfast.nngp(X, depth=3), 1000)    # f^(p) ~ N(0, Σ^(3))
    >>> k_tilde = ntkfast.random_kernel(draws.f)                          # (1/P) Σ f^(p) f^(p)ᵀ
    >>> ntkfast.flin(theta, draws.f)                                      # P^(−1/2) Σ θ_p f^(p)
    >>> ntkfast.flin_gd(draws.f, y, t)            # GD on θ; equals kernel_gd_mse(k_tilde, ...)
    >>> mc = ntkfast.monte_carlo_kernels(X, depth=3, width=512, n_networks=64)
    >>> mc.ntk, mc.ntk_se                         # estimate of ntkfast.ntk(X) and its errors

Functions are arrays f of shape (P, N) (one output) or (P, N, O): f[p, i] = f^(p)(x_i). Time
and loss conventions are those of ntkfast.kernel_gd (ntk-math.md §4).
"""
from __future__ import annotations

import numpy as np

from . import _flin as flin_ode
from . import _monte_carlo as mc
from . import _prior_draws as prior
from . import _random_function_args as args
from ._flin import FlinGDResult
from ._monte_carlo import MonteCarloKernels
from ._prior_draws import PriorDraws
from .empirical_kernel import EmpiricalKernel
from .networks import init_mlp

__all__ = ["gp_prior_draws", "network_draws", "random_kernel", "flin", "flin_gd",
           "monte_carlo_kernels", "PriorDraws", "FlinGDResult", "MonteCarloKernels"]


def gp_prior_draws(kernel, n_draws, *, x=None, n_outputs=1, method="cholesky", seed=None,
                   n_threads=None) -> PriorDraws:
    """P = ``n_draws`` functions on the points, Gaussian with covariance the kernel: for a scalar
    Gram (N, N), each of ``n_outputs`` outputs independently (K ⊗ Id); for full blocks
    (N, N, O, O), jointly. ``kernel``: a Gram, or a kernel object with the points ``x``.
    ``method``: "cholesky" (jittered: the smallest jitter that factors K + jitter·I, reported)
    or "eigh" (negative eigenvalues clipped to 0, the clipped amount reported as the jitter)."""
    k, n, p, o, method, rng = args.prior(kernel, n_draws, x, n_outputs, method, seed, n_threads)
    return prior.draw(k, n, p, o, method, rng)


def network_draws(widths, x, n_draws, *, activation="relu", weight_std=1.0, bias_std=0.0,
                  seed=None, n_threads=None) -> np.ndarray:
    """The outputs (P, N, n_L) of P random networks ``init_mlp(widths, ...)`` (NTK
    parametrization) at the points x: random functions whose covariance tends to the NNGP
    Σ^(L) ⊗ Id as the hidden widths grow (Prop. 1)."""
    widths, p, seeds = args.networks(widths, n_draws, seed)
    nets = (init_mlp(widths, activation=activation, weight_std=weight_std, bias_std=bias_std,
                     seed=s) for s in seeds)
    return np.stack([net(x, n_threads=n_threads) for net in nets]).astype(np.float64, copy=False)


def random_kernel(f) -> np.ndarray:
    """K̃ = (1/P) Σ_p f^(p) ⊗ f^(p): (N, N) for f (P, N), full blocks (N, N, O, O) for
    f (P, N, O), K̃_ab(x_i, x_j) = (1/P) Σ_p f^(p)_a(x_i) f^(p)_b(x_j)."""
    ff, one = args.functions(f)
    p, n, o = ff.shape
    flat = ff.reshape(p, n * o)
    k = (flat.T @ flat / p).reshape(n, o, n, o).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(k[:, :, 0, 0] if one else k)


def flin(theta, f) -> np.ndarray:
    """F^lin(θ) = P^(−1/2) Σ_p θ_p f^(p) on the points: (N,) for f (P, N), (N, O) for (P, N, O)."""
    ff, one = args.functions(f)
    th = args.theta(theta, ff.shape[0])
    out = np.tensordot(th, ff, axes=1) / np.sqrt(ff.shape[0])
    return out[:, 0] if one else out


def flin_gd(f, y, t, *, loss="mse", theta0=None, dt=None) -> FlinGDResult:
    """Gradient descent on θ for C ∘ F^lin (the θ ODE of §3.1; see ntkfast._flin), from θ_0
    (zeros by default). F^lin(θ_t) is the kernel-gradient-descent path with K̃ =
    ``random_kernel(f)``: ``kernel_gd_mse(K̃, y, t, f0_train=flin(θ_0, f))`` (MSE) and
    ``kernel_gd(K̃, y, t, loss="cross_entropy", ...)`` give the same function.

    loss : "mse" (exact: SVD of the functions) or "cross_entropy"/"ce" (RK4 on θ, steps <= dt;
        default 0.01·N/‖F‖²_F·P, about 1e-12 relative per unit time; y rows probabilities).
    t : scalar or 1-D non-decreasing finite times >= 0 (t = inf also allowed for MSE).
    """
    ff, one, yy, ts, th0, kind, dt = args.flin_gd(f, y, t, loss, theta0, dt)
    m = flin_ode.design(ff)
    n = ff.shape[1]
    if kind == "mse":
        thetas = flin_ode.mse_thetas(m, yy, ts, th0, n)
    else:
        _, derivative = flin_ode.loss_functions(kind)
        thetas = flin_ode.rk4_thetas(m, yy, ts, th0, n, derivative, dt)
    value, _ = flin_ode.loss_functions(kind)
    f_train = (thetas @ m.T).reshape(ts.size, *yy.shape)
    loss_values = np.array([value(fj, yy) for fj in f_train])
    return FlinGDResult(ts, thetas, f_train[:, :, 0] if one else f_train, loss_values)


def monte_carlo_kernels(x1, x2=None, *, depth, width, n_networks, n_outputs=1, activation="relu",
                        weight_std=1.0, bias_std=0.0, seed=None, memory_budget=None,
                        n_threads=None) -> MonteCarloKernels:
    """Estimates of ``ntkfast.nngp`` and ``ntkfast.ntk`` (same depth, activation, σ_w, β) as the
    means of the empirical kernels (``EmpiricalKernel``, output "trace") of ``n_networks`` >= 2
    random networks of hidden width ``width`` and ``n_outputs`` outputs, NTK parametrization,
    with per-entry standard errors. The row blocks of x1 and the networks' features are sized to
    ``memory_budget`` bytes (default: as ``empirical_ntk``'s); the four (N1, N2) outputs are
    allocated in full. Depth 1 (no hidden layer) is exact: standard errors 0."""
    call = args.monte_carlo(x1, x2, depth, width, n_networks, n_outputs, seed, memory_budget)
    x1, x2, widths, n, seeds, budget = call

    def make_net(ws, s):
        return init_mlp(ws, activation=activation, weight_std=weight_std, bias_std=bias_std,
                        seed=s)

    def make_kernel(net, mem):
        return EmpiricalKernel._borrowing(net, memory_budget=mem)

    return mc.estimate(x1, x2, widths, n, seeds, budget, make_net, make_kernel, n_threads)
