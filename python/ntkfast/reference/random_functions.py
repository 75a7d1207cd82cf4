"""ntkfast.random_functions in plain numpy, same signatures. Where the fast module is numpy
already it is written differently here so the two check each other: K̃ and F^lin by explicit
sums over the P functions, GD on θ by the reference's own RK4 (that of reference.kernel_gd) for
both losses (no SVD, the θ ODE summed function by function; the same default step as the fast
module), the prior draws by the same
factorizations written out separately and an explicit loop over draws, and the Monte Carlo
kernels from the reference EmpiricalKernel (the same networks, so fast and reference estimates
agree to rounding)."""
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
from .dynamics import _rk4 as rk4
from .empirical_kernel import EmpiricalKernel


def gp_prior_draws(kernel, n_draws, *, x=None, n_outputs=1, method="cholesky", seed=None,
                   n_threads=None) -> PriorDraws:
    k, n, p, o, method, rng = args.prior(kernel, n_draws, x, n_outputs, method, seed, n_threads)
    factor, jitter = _eigen_factor(k) if method == "eigh" else _cholesky_factor(k)
    m = k.shape[0]
    joint = m != n  # full blocks: one draw of order N·O per function
    z = rng.standard_normal((m, p) if joint else (m, p * o))  # the fast module's stream
    draws = []
    for q in range(p):
        if joint:
            draws.append((factor @ z[:, q]).reshape(n, m // n))
        else:
            draws.append(np.stack([factor @ z[:, q * o + j] for j in range(o)], axis=1))
    f = np.stack(draws)
    return PriorDraws(f[:, :, 0] if not joint and o == 1 else f, jitter, method)


def _cholesky_factor(k):
    """The jitter ladder of _prior_draws written as a plain loop over its rungs."""
    scale = float(np.trace(k)) / k.shape[0]
    eps = np.finfo(np.float64).eps
    rungs = [0.0, eps * scale]
    while len(rungs) < 64:
        rungs.append(10.0 * rungs[-1])  # by repeated products, as the fast ladder, to the last bit
    for jitter in rungs:
        if jitter > prior.MAX_JITTER_RTOL * scale or (jitter and not scale > 0):
            break
        try:
            return np.linalg.cholesky(k + jitter * np.eye(k.shape[0])), jitter
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError(
        f"kernel: Cholesky failed for every jitter up to {prior.MAX_JITTER_RTOL:g} of the mean "
        f"diagonal; use method='eigh'")


def _eigen_factor(k):
    lam, v = np.linalg.eigh(k)
    return v @ np.diag(np.sqrt(np.clip(lam, 0.0, None))), max(0.0, -float(lam.min()))


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
    out = _combination(args.theta(theta, ff.shape[0]), ff)
    return out[:, 0] if one else out


def _combination(theta, ff):
    """F^lin(θ) = P^(−1/2) Σ_p θ_p f^(p), as an explicit sum over the functions ff (P, N, O)."""
    return sum(theta[q] * ff[q] for q in range(ff.shape[0])) / np.sqrt(ff.shape[0])


def flin_gd(f, y, t, *, loss="mse", theta0=None, dt=None) -> FlinGDResult:
    ff, one, yy, ts, th0, kind, dt = args.flin_gd(f, y, t, loss, theta0, dt)
    if np.isinf(ts).any():
        raise ValueError("t: the reference integrates the θ ODE step by step; give finite times")
    p, n, _ = ff.shape
    value, derivative = flin_ode.loss_functions(kind)

    def rhs(theta):  # ∂_t θ_p = −P^(−1/2) (1/N) Σ_i ⟨d(x_i), f^(p)(x_i)⟩
        d = derivative(_combination(theta, ff), yy)
        return np.array([-float(np.sum(d * ff[q])) / (np.sqrt(p) * n) for q in range(p)]), None

    if dt is None:  # the fast module's default step, so both take the same steps
        frob = float(np.sum(ff * ff)) / p
        dt = flin_ode.DT_FRACTION * n / frob if frob > 0 else 1.0
    thetas = rk4(rhs, th0.copy(), None, ts, dt, np.inf)[0]  # the reference's own integrator
    f_train = np.stack([_combination(th, ff) for th in thetas])
    losses = np.array([value(fj, yy) for fj in f_train])
    return FlinGDResult(ts, np.stack(thetas), f_train[:, :, 0] if one else f_train, losses)


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
