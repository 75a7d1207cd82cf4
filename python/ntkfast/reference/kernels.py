"""Plain-numpy infinite-width kernels: the specification the C++ core is tested against.

Same signatures as ``ntkfast.kernels``. Each layer is one vectorised numpy pass over full
(N1, N2) arrays, the way the recursion is usually hand-written; the per-point diagonals and
Mehler coefficients come from the shared ``ntkfast._recursion`` (their correctness is tested
against quadrature and Monte Carlo, not against this file). Computed in float64 and returned in
the requested dtype.
"""
from __future__ import annotations

import numpy as np

from .._kernel_args import Call, KernelResult, make_result, n_output_arrays, parse, parse_diag
from .._bivariate import elu_dual
from .._threads import check_unused_n_threads

__all__ = ["kernels", "nngp", "ntk", "nngp_diag", "ntk_diag"]


def _dual(call: Call, layer: int, k12, r1, r2, i1, i2):
    """E[φ(u)φ(v)] and E[φ'(u)φ'(v)] for a whole (N1, N2) layer; r = sqrt(k) per point."""
    act = call.act
    if act.dual == "relu_like":
        a, b = act.slopes
        s = np.outer(r1, r2)
        rho = np.clip(k12 * np.outer(i1, i2), -1.0, 1.0)
        sin_t = np.sqrt(np.maximum((1 - rho) * (1 + rho), 0.0))
        theta = np.arctan2(sin_t, rho)
        sq, ab = (a * a + b * b) / (2 * np.pi), 2 * a * b / (2 * np.pi)
        e = s * (sq * (sin_t + (np.pi - theta) * rho) - ab * (sin_t - theta * rho))
        return e, sq * (np.pi - theta) + ab * theta
    if act.dual == "erf":
        p = np.outer(1 + 2 * r1**2, 1 + 2 * r2**2)
        x = np.clip(2 * k12 / np.sqrt(p), -1.0, 1.0)
        # p1 p2 - 4 k12² = 1 + 2 k11 + 2 k22 + 4 (k11 k22 - k12²), the last term >= 0: no
        # cancellation for (nearly) coinciding points at large variance.
        rr = np.outer(r1, r2)
        gap = np.maximum((rr - k12) * (rr + k12), 0.0)
        root = np.sqrt(np.add.outer(1 + 2 * r1**2, 2 * r2**2) + 4 * gap)
        return (2 / np.pi) * np.arcsin(x), (4 / np.pi) / root
    if act.dual == "identity":
        return k12.copy(), np.ones_like(k12)
    if act.dual == "elu":
        return elu_dual(np.outer(r1**2, np.ones_like(r2)), np.outer(np.ones_like(r1), r2**2), k12,
                        act.alpha)
    if act.dual == "sin":
        h = 0.5 * np.add.outer(r1**2, r2**2)
        up, down = np.exp(k12 - h), np.exp(-k12 - h)
        return 0.5 * (up - down), 0.5 * (up + down)
    return _mehler_dual(call, layer, k12, i1, i2)


def _mehler_dual(call: Call, layer: int, k12, i1, i2):
    m = call.prepared.mehler
    sym = call.x2 is None
    first = sum(m.terms[:layer])
    rows = slice(first, first + m.terms[layer])
    a = m.coef[0][rows]
    b = (m.coef[0] if sym else m.coef[1])[rows]
    d0a = m.d0[0][layer]
    d0b = (m.d0[0] if sym else m.d0[1])[layer]
    scale = np.outer(i1, i2)
    rho = np.clip(k12 * scale, -1.0, 1.0)
    z = rho * rho if m.step == 2 else rho
    f = np.outer(a[-1], b[-1])
    g = np.zeros_like(f)
    for t in range(a.shape[0] - 2, -1, -1):
        g = g * z + f
        f = f * z + np.outer(a[t], b[t])
    if m.step == 1:
        e, fp = f, g
    elif m.offset == 1:
        e, fp = rho * f, f + 2 * z * g
    else:
        e, fp = f, 2 * rho * g
    ed = np.where(scale > 0, fp * scale, np.outer(d0a, d0b))
    return e, ed


def _compute(call: Call, layerwise: bool) -> dict:
    prep = call.prepared
    sym = call.x2 is None
    x1 = call.x1.astype(np.float64)
    x2 = x1 if sym else call.x2.astype(np.float64)
    sd1 = prep.sigma_diag[0]
    sd2 = sd1 if sym else prep.sigma_diag[1]
    k12 = call.weight_var * (x1 @ x2.T) / x1.shape[1] + call.bias_var
    theta = k12.copy()
    sigmas, sdots, thetas = [k12], [], [theta]
    for layer in range(call.depth - 1):
        k1, k2 = sd1[layer], sd2[layer]
        r1, r2 = np.sqrt(k1), np.sqrt(k2)
        i1 = np.where(r1 > 0, 1 / np.where(r1 > 0, r1, 1), 0.0)
        i2 = np.where(r2 > 0, 1 / np.where(r2 > 0, r2, 1), 0.0)
        e, ed = _dual(call, layer, k12, r1, r2, i1, i2)
        k12 = call.weight_var * e + call.bias_var
        sdot = call.weight_var * ed
        theta = theta * sdot + k12
        if layerwise:
            sigmas.append(k12)
            sdots.append(sdot)
            thetas.append(theta)
    if sym:
        # Exact diagonal (angle 0), as the fast path does.
        idx = np.arange(x1.shape[0])
        k12[idx, idx] = sd1[-1]
        theta[idx, idx] = prep.theta_diag[0][-1]
        if layerwise:
            for layer in range(call.depth):
                sigmas[layer][idx, idx] = sd1[layer]
                thetas[layer][idx, idx] = prep.theta_diag[0][layer]
                if layer + 1 < call.depth:
                    sdots[layer][idx, idx] = prep.sigma_dot_diag[0][layer]
    out = {"nngp": k12, "ntk": theta}
    if layerwise:
        n1, n2 = k12.shape
        out["sigma"] = np.stack(sigmas)
        out["theta"] = np.stack(thetas)
        out["sigma_dot"] = np.stack(sdots) if sdots else np.empty((0, n1, n2))
    return {k: v.astype(call.dtype, copy=False) for k, v in out.items()}


def kernels(x1, x2=None, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
            dtype=np.float64, n_threads=None, layerwise=False) -> KernelResult:
    """Reference for :func:`ntkfast.kernels` (``n_threads`` is validated like the fast path's,
    otherwise unused)."""
    check_unused_n_threads(n_threads)
    call = parse(x1, x2, depth, activation, weight_std, bias_std, dtype,
                 n_output_arrays(depth, layerwise) + 4)
    return make_result(_compute(call, layerwise), call, layerwise)


def nngp(x1, x2=None, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
         dtype=np.float64, n_threads=None) -> np.ndarray:
    """Reference for :func:`ntkfast.nngp`."""
    check_unused_n_threads(n_threads)
    call = parse(x1, x2, depth, activation, weight_std, bias_std, dtype, 1 + 4, need_ntk=False)
    # Θ is computed alongside and may overflow unchecked (the NNGP does not depend on it)
    with np.errstate(over="ignore", invalid="ignore"):
        return _compute(call, layerwise=False)["nngp"]


def ntk(x1, x2=None, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
        dtype=np.float64, n_threads=None) -> np.ndarray:
    """Reference for :func:`ntkfast.ntk`."""
    return kernels(x1, x2, depth=depth, activation=activation, weight_std=weight_std,
                   bias_std=bias_std, dtype=dtype, n_threads=n_threads).ntk


def nngp_diag(x, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
              dtype=np.float64, n_threads=None) -> np.ndarray:
    """Reference for :func:`ntkfast.nngp_diag`."""
    check_unused_n_threads(n_threads)
    prep, dt = parse_diag(x, depth, activation, weight_std, bias_std, dtype, need_ntk=False)
    return prep.sigma_diag[0][-1].astype(dt)


def ntk_diag(x, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
             dtype=np.float64, n_threads=None) -> np.ndarray:
    """Reference for :func:`ntkfast.ntk_diag`."""
    check_unused_n_threads(n_threads)
    prep, dt = parse_diag(x, depth, activation, weight_std, bias_std, dtype)
    return prep.theta_diag[0][-1].astype(dt)
