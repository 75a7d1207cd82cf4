"""Per-point part of the hyperparameter gradient of the infinite-width kernels, shared by the fast
path (ntkfast._kernel_gradients, pair part in C++) and the reference (reference/gradients.py).

Parameters a = σ_w² and b = β² (the kernel's weight_std² and bias_std²). Differentiating the
recursion of ntk-math.md §2 layer by layer (forward mode, two directions at once):

    Σ^(1) = a x·x'/n0 + b                 ∂_a Σ^(1) = x·x'/n0,  ∂_b Σ^(1) = 1
    Σ^(l+1) = a F(k11, k22, k12) + b       F = E[φ(u)φ(v)]
    Σ̇^(l+1) = a G(k11, k22, k12)          G = E[φ'(u)φ'(v)]
    Θ^(l+1) = Θ^(l) Σ̇^(l+1) + Σ^(l+1)

so ∂Σ^(l+1) = [∂a] F + a (F_11 ∂k11 + F_22 ∂k22 + F_12 ∂k12) + [∂b], likewise for Σ̇ with G, and
∂Θ^(l+1) = ∂Θ^(l) Σ̇ + Θ^(l) ∂Σ̇ + ∂Σ^(l+1). Price's theorem gives the partials of a Gaussian
expectation: F_12 = G, F_11 = ½ E[φ''(u) φ(v)], G_12 = E[φ''(u) φ''(v)], G_11 = ½ E[φ'''(u) φ'(v)].

This module computes what depends on one point only: Σ^(l)(x, x), Θ^(l)(x, x) and their
derivatives for every layer (the diagonal of a symmetric Gram and the k11, k22 of every pair),
and, for activations without a closed form, the Hermite coefficients of φ, φ', φ'', φ''' at
every point's variance. With c_n(k) those of φ (ntkfast._mehler), Stein's identity applied j
times gives the coefficients of φ^(j):

    c^(j)_n(k) = sqrt((n+1)(n+2)…(n+j)) c_{n+j}(k) / k^(j/2),

so every partial above is a Mehler sum Σ_n c^(i)_n(k11) c^(j)_n(k22) ρ^n of coefficients already
at hand (three more orders of the same quadrature). The series is planned per layer as the kernel
itself is (largest variance of all points, ntkfast._mehler.plan_series), without the compaction
to odd/even powers and without per-entry early stops: the gradient carries the full series.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _mehler
from .activations import Activation

# Duals with a closed-form gradient; every "mehler" activation goes through the series.
CLOSED_FORMS = ("relu_like", "erf", "identity", "sin")


@dataclass
class GradientTables:
    """Per-point values of one point set, layers 1..L along the first axis."""

    sigma: np.ndarray         # (L, n): Σ^(l)(x, x)
    d_sigma: np.ndarray       # (L, 2, n): ∂Σ/∂a, ∂Σ/∂b
    theta: np.ndarray         # (L, n): Θ^(l)(x, x)
    d_theta: np.ndarray       # (L, 2, n)
    coef: np.ndarray | None   # Mehler: (L-1, 4, n, T) coefficients of φ, φ', φ'', φ''' per step


def check_supported(act: Activation) -> None:
    if act.dual not in CLOSED_FORMS and act.dual != "mehler":
        raise ValueError(f"activation: the hyperparameter gradient of the {act.name} kernel is not "
                         f"implemented (closed forms: relu family, erf, identity, sin; and every "
                         f"activation computed by its Hermite series)")


def _diagonal_duals(act: Activation, k: np.ndarray, coef: np.ndarray | None):
    """E[φ²], E[φ'²] at variance k and their derivatives in k along the diagonal (u = v)."""
    if act.dual == "relu_like":
        a, b = act.slopes
        s = 0.5 * (a * a + b * b)
        return s * k, np.full_like(k, s), np.full_like(k, s), np.zeros_like(k)
    if act.dual == "erf":
        q = 1 + 4 * k
        e = (2 / math.pi) * np.arcsin(2 * k / (1 + 2 * k))
        return e, (4 / math.pi) / np.sqrt(q), (4 / math.pi) / ((1 + 2 * k) * np.sqrt(q)), -(8 / math.pi) * q ** -1.5
    if act.dual == "identity":
        return k.copy(), np.ones_like(k), np.ones_like(k), np.zeros_like(k)
    if act.dual == "sin":
        e = np.exp(-2 * k)
        return -0.5 * np.expm1(-2 * k), 0.5 * (1 + e), e, -e
    c0, c1, c2, c3 = coef
    dot = lambda p, q: np.einsum("in,in->i", p, q)  # noqa: E731
    return dot(c0, c0), dot(c1, c1), dot(c2, c0) + dot(c1, c1), dot(c3, c1) + dot(c2, c2)


def derivative_coefficients(act: Activation, k: np.ndarray, n_max: int, deg: int) -> np.ndarray:
    """(4, n, n_max+1): the Hermite coefficients of φ, φ', φ'', φ''' at each variance k (0 for the
    derivatives at k = 0, where their Stein form divides by zero; such a point has x = 0, β = 0)."""
    trusted = act.derivative if act.compiled is not None and not act.odd else None
    c = _mehler.coefficients(act.fn, k, n_max + 3, deg, act.odd, derivative=trusted)
    out = np.zeros((4, k.size, n_max + 1))
    out[0] = c[:, : n_max + 1]
    pos = k > 0
    inv_root = np.where(pos, 1 / np.sqrt(np.where(pos, k, 1.0)), 0.0)
    n = np.arange(n_max + 1, dtype=float)
    weight = np.ones(n_max + 1)
    for j in (1, 2, 3):
        weight = weight * np.sqrt(n + j)
        out[j] = c[:, j: j + n_max + 1] * weight * (inv_root ** j)[:, None]
    return out


def tables(act: Activation, point_sets: list[np.ndarray], depth: int, weight_var: float,
           bias_var: float) -> list[GradientTables]:
    """The per-point gradient tables of each point set, planned jointly (one Mehler order per
    layer for all sets, as the pair sums need)."""
    check_supported(act)
    sizes = [p.shape[0] for p in point_sets]
    x = np.concatenate([p.astype(np.float64, copy=False) for p in point_sets])
    sq = np.einsum("ij,ij->i", x, x) / x.shape[1]
    k = weight_var * sq + bias_var
    dk = np.stack([sq, np.ones_like(sq)])
    theta, dtheta = k.copy(), dk.copy()
    sig, dsig, th, dth, coefs = [k], [dk], [theta], [dtheta], []
    mehler = act.dual == "mehler"
    for _ in range(depth - 1):
        coef = None
        if mehler:
            plan = _mehler.plan_series(act.fn, float(k.max()), act.odd, act.derivative)
            n_max = min(plan.n_max, _mehler.MAX_TERMS - 2)
            coef = derivative_coefficients(act, k, n_max, plan.deg)
            coefs.append(coef)
        e, ed, de, ded = _diagonal_duals(act, k, coef)
        k_next = weight_var * e + bias_var
        dk_next = weight_var * de * dk
        dk_next[0] += e
        dk_next[1] += 1.0
        sd = weight_var * ed
        dsd = weight_var * ded * dk
        dsd[0] += ed
        dtheta = dtheta * sd + theta * dsd + dk_next
        theta = theta * sd + k_next
        k, dk = k_next, dk_next
        sig.append(k), dsig.append(dk), th.append(theta), dth.append(dtheta)
    cuts = np.cumsum(sizes)[:-1]
    parts = [np.split(np.stack(a), cuts, axis=-1) for a in (sig, dsig, th, dth)]
    coef_parts = [None] * len(sizes)
    if mehler and depth > 1:
        width = max(c.shape[2] for c in coefs) + 1  # one zero order: the core's odd loop reads it
        stacked = np.zeros((depth - 1, 4, x.shape[0], width))
        for l, c in enumerate(coefs):
            stacked[l, :, :, : c.shape[2]] = c
        coef_parts = np.split(stacked, cuts, axis=2)
    return [GradientTables(*(p[i] for p in parts), coef_parts[i]) for i in range(len(sizes))]


def log_space(value: np.ndarray, grad: np.ndarray, t1: GradientTables, symmetric: bool, get: str,
              weight_var: float, bias_var: float):
    """The pair part's (K, ∂K/∂a, ∂K/∂b) (grad: (N1, N2, 2)) made final: a symmetric Gram's
    diagonal from the per-point recursion (angle exactly 0, as the kernel itself does), and the
    derivatives turned into ∂K/∂log a = a ∂K/∂a and ∂K/∂log b = b ∂K/∂b, in place."""
    if symmetric:
        idx = np.arange(value.shape[0])
        diag, ddiag = (t1.theta, t1.d_theta) if get == "ntk" else (t1.sigma, t1.d_sigma)
        value[idx, idx] = diag[-1]
        grad[idx, idx, :] = ddiag[-1].T
    grad[..., 0] *= weight_var
    grad[..., 1] *= bias_var
    return value, grad
