"""ntkfast.random_functions in plain numpy, same signatures. Where the fast module is numpy
already it is written differently here so the two check each other: K̃ and F^lin by explicit
sums over the P functions, GD on θ by RK4 for both losses (no SVD), the prior draws by the same
factorizations but an explicit loop over draws, and the Monte Carlo kernels from the reference
EmpiricalKernel (the same networks, so fast and reference estimates agree to rounding)."""
from __future__ import annotations

import numpy as np

from .. import _flin as flin_ode
from .. import _monte_carlo as mc
from .. import _prior_draws as prior
from .. import _random_function_args as args
from .._flin import FlinGDResult
from .._monte_carlo import MonteCarloKernels
from .._prior_draws import PriorDraws
from ..networks import init_mlp
from .empirical import apply
from .empirical_kernel import EmpiricalKernel


def gp_prior_draws(kernel, n_draws, *, x=None, n_outputs=1, method="cholesky", seed=None,
                   n_threads=None) -> PriorDraws:
    k, n, p, o, method, rng = args.prior(kernel, n_draws, x, n_outputs, method, seed, n_threads)
    return prior.draw(k, n, p, o, method, rng)


def network_draws(widths, x, n_draws, *, activation="relu", weight_std=1.0, bias_std=0.0,
                  seed=None, n_threads=None) -> np.ndarray:
    widths, p, seeds = args.networks(widths, n_draws, seed)
    out = [apply(init_mlp(widths, activation=activation, weight_std=weight_std,
                          bias_std=bias_std, seed=s), x) for s in seeds]
    return np.stack(out).astype(np.float64, copy=False)


def random_kernel(f) -> np.ndarray:
    ff, one = args.functions(f)
    p, n, o = ff.shape
    k = np.zeros((n, n, o, o))
    for fp in ff:
        k += np.einsum("ia,jb->ijab", fp, fp)
    k /= p
    return k[:, :, 0, 0] if one else k


def flin(theta, f) -> np.ndarray:
    ff, one = args.functions(f)
    th = args.theta(theta, ff.shape[0])
    out = sum(th[p] * ff[p] for p in range(ff.shape[0])) / np.sqrt(ff.shape[0])
    return out[:, 0] if one else out


def flin_gd(f, y, t, *, loss="mse", theta0=None, dt=None) -> FlinGDResult:
    ff, one, yy, ts, th0, kind, dt = args.flin_gd(f, y, t, loss, theta0, dt)
    if np.isinf(ts).any():
        raise ValueError("t: the reference integrates the θ ODE step by step; give finite times")
    m = flin_ode.design(ff)
    value, derivative = flin_ode.loss_functions(kind)
    thetas = flin_ode.rk4_thetas(m, yy, ts, th0, ff.shape[1], derivative, dt)
    f_train = np.stack([(m @ th).reshape(yy.shape) for th in thetas])
    losses = np.array([value(fj, yy) for fj in f_train])
    return FlinGDResult(ts, thetas, f_train[:, :, 0] if one else f_train, losses)


def monte_carlo_kernels(x1, x2=None, *, depth, width, n_networks, n_outputs=1, activation="relu",
                        weight_std=1.0, bias_std=0.0, seed=None, memory_budget=None,
                        n_threads=None) -> MonteCarloKernels:
    x1, x2, widths, n, seeds, budget = args.monte_carlo(x1, x2, depth, width, n_networks,
                                                        n_outputs, seed, memory_budget)

    def make_net(ws, s):
        return init_mlp(ws, activation=activation, weight_std=weight_std, bias_std=bias_std,
                        seed=s)

    def make_kernel(net, mem):
        return EmpiricalKernel(net, memory_budget=mem)

    return mc.estimate(x1, x2, widths, n, seeds, budget, make_net, make_kernel, n_threads)
