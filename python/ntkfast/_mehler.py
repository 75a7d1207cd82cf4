"""Mehler / Hermite expansion of dual activations without a closed form (ntk-math.md §2).

For g ~ N(0, 1) and the orthonormal Hermite polynomials h_n = He_n / sqrt(n!),

    φ(sqrt(k) g) = Σ_n c_n(k) h_n(g),   c_n(k) = E[φ(sqrt(k) g) h_n(g)],
    E[φ(u) φ(v)] = Σ_n c_n(k11) c_n(k22) ρ^n                       (Mehler's formula),
    E[φ'(u) φ'(v)] = F'(ρ) / sqrt(k11 k22),  F(ρ) = Σ_n c_n(k11) c_n(k22) ρ^n,

the last by Stein's identity E[φ'(sqrt(k) g) h_n(g)] = sqrt((n+1)/k) c_{n+1}(k), so φ' itself is
never integrated. The coefficients depend on one point only (O(N·M·deg) per layer); each Gram
entry then costs O(M).

Truncation. We keep n <= M and define the kernel as the truncated series everywhere, the
diagonal included, so it stays exactly positive semi-definite and self-consistent. By
Cauchy–Schwarz the dropped part of E[φ(u)φ(v)] is at most sqrt(T(k11) T(k22)) with
T(k) = Σ_{n>M} c_n(k)², and likewise for φ' with the weights (n+1) c_{n+1}²/k. M is chosen per
layer, at the largest variance among the points, so that both tails are below TAIL_TOL relative to
the full sums: every entry is then within TAIL_TOL·sqrt(K(x,x) K(x',x')) of the exact expectation
per layer. If MAX_TERMS is not enough (very large variances) the achieved tail is reported.

Quadrature. c_n(k) is computed with `deg`-point Gauss–Hermite quadrature (probabilists'), nodes
from the Jacobi matrix, weights from the Christoffel function in log space (the eigenvector route
loses tiny weights). Nodes are made exactly symmetric and the sums folded over ±x, so an odd φ
(tanh, erf) gets even coefficients that are exactly 0 and the series runs in ρ² with half the terms.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

TAIL_TOL = 1e-11
MAX_TERMS = 400
_PROBE_DEG = 640
_MIN_DEG = 64


@functools.lru_cache(maxsize=16)
def gauss_hermite(deg: int) -> tuple[np.ndarray, np.ndarray]:
    """Positive nodes x_p and sqrt(w_p) of the `deg`-point rule for N(0, 1); deg is even."""
    if deg % 2:
        raise ValueError("deg must be even")
    off = np.sqrt(np.arange(1.0, deg))
    x = np.linalg.eigvalsh(np.diag(off, 1) + np.diag(off, -1))
    x = 0.5 * (x - x[::-1])  # exact symmetry
    # Christoffel function: 1/w = Σ_{n<deg} h_n(x)², accumulated with rescaling to avoid overflow.
    h_prev = np.zeros_like(x)
    h = np.ones_like(x)
    acc = np.ones_like(x)
    log_scale = np.zeros_like(x)
    for n in range(deg - 1):
        h_prev, h = h, (x * h - math.sqrt(n) * h_prev) / math.sqrt(n + 1)
        acc += h * h
        big = np.abs(h) > 1e100
        if big.any():
            h[big] *= 1e-100
            h_prev[big] *= 1e-100
            acc[big] *= 1e-200
            log_scale[big] += 200 * math.log(10.0)
    log_w = -(np.log(acc) + log_scale)
    half = deg // 2
    return x[half:].copy(), np.exp(0.5 * log_w[half:])


@functools.lru_cache(maxsize=16)
def hermite_table(deg: int, n_max: int) -> np.ndarray:
    """(n_max+1, deg/2): sqrt(w_p) h_n(x_p) at the positive nodes (bounded by 1 in magnitude)."""
    x, sw = gauss_hermite(deg)
    out = np.empty((n_max + 1, x.size))
    out[0] = sw
    if n_max >= 1:
        out[1] = x * sw
    for n in range(1, n_max):
        out[n + 1] = (x * out[n] - math.sqrt(n) * out[n - 1]) / math.sqrt(n + 1)
    out.setflags(write=False)
    return out


def coefficients(fn, k: np.ndarray, n_max: int, deg: int) -> np.ndarray:
    """c_n(k_i) for n = 0..n_max, shape (len(k), n_max+1)."""
    x, sqrt_w = gauss_hermite(deg)
    table = hermite_table(deg, n_max)
    arg = np.sqrt(np.maximum(k, 0.0))[:, None] * x[None, :]
    plus = np.asarray(fn(arg), dtype=float)
    minus = np.asarray(fn(-arg), dtype=float)
    if plus.shape != arg.shape or minus.shape != arg.shape:
        raise ValueError(f"activation: the function must act elementwise, got shape {plus.shape} for input {arg.shape}")
    if not (np.isfinite(plus).all() and np.isfinite(minus).all()):
        raise ValueError("activation: the function returned NaN or infinity on Gaussian quadrature nodes")
    c = np.empty((k.size, n_max + 1))
    even, odd = (plus + minus) * sqrt_w, (plus - minus) * sqrt_w
    c[:, 0::2] = even @ table[0::2].T
    c[:, 1::2] = odd @ table[1::2].T
    return c


def _tails(c: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Relative tails of Σ c_n² and Σ n c_n² (the φ' series) beyond each truncation order."""
    sq = c * c
    n = np.arange(c.size)
    val = np.cumsum(sq[::-1])[::-1]
    der = np.cumsum((n * sq)[::-1])[::-1]
    rel_val = val / max(val[0], np.finfo(float).tiny)
    rel_der = der / max(der[1] if c.size > 1 else 0.0, np.finfo(float).tiny)
    return rel_val, rel_der


@dataclass(frozen=True)
class SeriesPlan:
    """Truncation order and quadrature degree for one layer step."""

    n_max: int     # highest power of ρ kept
    deg: int       # Gauss–Hermite nodes used for c_n
    tail: float    # relative truncation bound achieved (<= TAIL_TOL unless capped)


def plan_series(fn, k_max: float) -> SeriesPlan:
    """Smallest order whose tails (φ and φ' series) are below TAIL_TOL at variance k_max."""
    if k_max <= 0.0:
        return SeriesPlan(1, _MIN_DEG, 0.0)
    c = coefficients(fn, np.array([k_max]), MAX_TERMS + 1, _PROBE_DEG)[0]
    rel_val, rel_der = _tails(c, k_max)
    # Order M keeps c_0..c_M; its φ' series uses c_1..c_{M}, so both tails start at M+1.
    ok = (rel_val[1:] <= TAIL_TOL) & (rel_der[1:] <= TAIL_TOL)
    if ok.any():
        n_max = max(1, int(np.argmax(ok)))
    else:
        n_max = MAX_TERMS
    tail = float(max(rel_val[n_max + 1], rel_der[n_max + 1]))
    deg = int(min(_PROBE_DEG, max(_MIN_DEG, 2 * (n_max + 24))))
    deg += deg % 2
    return SeriesPlan(n_max, deg, tail)


def derivative_at_zero(act) -> float:
    """φ'(0): the given derivative, else a 4th-order central difference (error ~1e-11)."""
    if act.derivative is not None:
        return float(np.asarray(act.derivative(np.zeros(1)), dtype=float)[0])
    h = 1e-3
    z = np.array([-2 * h, -h, h, 2 * h])
    f = np.asarray(act.fn(z), dtype=float)
    return float((f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h))
