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
from .._recursion import GAP_DUALS
from .._thread_args import check_unused_n_threads
from . import _gaps

__all__ = ["kernels", "nngp", "ntk", "nngp_diag", "ntk_diag"]


def _dual(call: Call, layer: int, k12, r1, r2, i1, i2):
    """E[φ(u)φ(v)] and E[φ'(u)φ'(v)] for a whole (N1, N2) layer of the duals that take ρ from
    k12 (smooth in ρ); r = sqrt(k) per point."""
    act = call.act
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
    if act.dual == "sin":
        # e^{-h} sinh(k12) with the sinh by expm1 (two exponentials subtracted cancel at tiny
        # variance); every exponent <= 0 since |k12| <= h.
        h = 0.5 * np.add.outer(r1**2, r2**2)
        a = np.abs(k12)
        up, down = np.exp(np.minimum(a - h, 0.0)), np.exp(-a - h)  # rounding may put a above h
        return np.sign(k12) * (-0.5 * up * np.expm1(-2 * a)), 0.5 * (up + down)
    return _mehler_dual(call, layer, k12, i1, i2)


def _mehler_dual(call: Call, layer: int, k12, i1, i2):
    m = call.prepared.mehler
    full = call.prepared.full
    first = sum(m.terms(s) for s in range(layer))
    rows = slice(first, first + m.terms(layer))
    a = full[0].coef[rows]
    b = full[-1].coef[rows]
    d0a = full[0].d0[layer]
    d0b = full[-1].d0[layer]
    # k12 / sqrt(k11 k22) as (k12 / r1) / r2: the product of the inverse roots overflows at
    # subnormal variances
    i1c, i2r = i1[:, None], i2[None, :]
    rho = np.clip(k12 * i1c * i2r, -1.0, 1.0)
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
    ed = np.where((i1c > 0) & (i2r > 0), fp * i1c * i2r, np.outer(d0a, d0b))
    return e, ed


def _compute(call: Call, layerwise: bool) -> dict:
    prep = call.prepared
    sym = call.x2 is None
    x1 = call.x1.astype(np.float64)
    x2 = x1 if sym else call.x2.astype(np.float64)
    sd1 = prep.sigma_diag[0]
    sd2 = sd1 if sym else prep.sigma_diag[1]
    k12 = call.weight_var * (x1 @ x2.T) / x1.shape[1] + call.bias_var
    roots = [(_roots(sd1[layer]), _roots(sd2[layer])) for layer in range(call.depth)]
    gaps = call.depth > 1 and call.act.dual in GAP_DUALS
    if gaps:
        (r1, i1), (r2, i2) = roots[0]
        gm, gp = _gaps.first_layer(x1, x2, k12, r1, r2, i1, i2, call.weight_var, call.bias_var)
    theta = k12.copy()
    sigmas, sdots, thetas = [k12], [], [theta]
    for layer in range(call.depth - 1):
        (r1, i1), (r2, i2) = roots[layer]
        if gaps:
            (rn1, in1), (rn2, in2) = roots[layer + 1]
            e, ed, gm, gp = _gaps.step(call, gm, gp, r1, r2, rn1, in1, rn2, in2)
        else:
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


def _roots(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sqrt(k) and 1/sqrt(k) (0 where k = 0) per point."""
    r = np.sqrt(np.maximum(k, 0.0))
    return r, np.where(r > 0, 1 / np.where(r > 0, r, 1), 0.0)


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
    return prep.last[0].sigma[-1].astype(dt)


def ntk_diag(x, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
             dtype=np.float64, n_threads=None) -> np.ndarray:
    """Reference for :func:`ntkfast.ntk_diag`."""
    check_unused_n_threads(n_threads)
    prep, dt = parse_diag(x, depth, activation, weight_std, bias_std, dtype)
    return prep.last[0].theta[-1].astype(dt)
