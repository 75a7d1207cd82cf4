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
Entries with |ρ| < 1 need fewer terms (the n-th is damped by |ρ|^n): the core stops each block of
entries at the count its largest |ρ| needs for a further error of at most PAIR_TOL (rho_limits).

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
PAIR_TOL = 1e-13  # extra truncation allowed per entry where |ρ| < 1 (see rho_limits)
MAX_TERMS = 400
_PROBE_DEG = 640
_MIN_DEG = 64
_POINTS_PER_BLOCK = 2048


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


def hermite_table(deg: int, n_max: int) -> np.ndarray:
    """(n_max+1, deg/2): sqrt(w_p) h_n(x_p) at the positive nodes (bounded by 1 in magnitude)."""
    return _full_hermite_table(deg)[: n_max + 1]


@functools.lru_cache(maxsize=16)
def _full_hermite_table(deg: int) -> np.ndarray:
    n_max = MAX_TERMS + 1
    x, sw = gauss_hermite(deg)
    out = np.empty((n_max + 1, x.size))
    out[0] = sw
    if n_max >= 1:
        out[1] = x * sw
    for n in range(1, n_max):
        out[n + 1] = (x * out[n] - math.sqrt(n) * out[n - 1]) / math.sqrt(n + 1)
    out.setflags(write=False)
    return out


def numpy_project(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    return values @ table.T


def coefficients(fn, k: np.ndarray, n_max: int, deg: int, odd: bool = False,
                 project=numpy_project, derivative=None) -> np.ndarray:
    """c_n(k_i) for n = 0..n_max, shape (len(k), n_max+1).

    ``odd=True`` promises φ(-z) = -φ(z) (tanh): φ is then evaluated at the positive nodes only
    and the even coefficients are exactly 0, as the folded sums would give anyway.
    ``project(values, rows)`` computes values @ rows.T (numpy here; the fast path passes the
    core's thread-count-invariant loop).

    With a trusted ``derivative`` (built-in activations), points of variance below STEIN_BELOW
    take every c_n with n >= 1 from φ′ by Stein's identity, c_n = sqrt(k/n) · c′_{n-1} (c′: the
    coefficients of φ′). Projected from φ itself they carry absolute rounding errors ~eps while
    their true size is ~k^(n/2), and the pair kernels divide them by sqrt(k): at tiny variance
    that cost digits (sigmoid and softplus at Σ(x, x) ~ 1e-24 lost 5 of Σ̇ against the stated
    error bound). From φ′ their errors are ~sqrt(k)·eps. Above STEIN_BELOW the loss is below
    1e-14 and evaluating φ′ would double the work.
    """
    x, sqrt_w = gauss_hermite(deg)
    table = hermite_table(deg, n_max)
    even_rows, odd_rows = np.ascontiguousarray(table[0::2]), np.ascontiguousarray(table[1::2])
    c = np.zeros((k.size, n_max + 1))
    # Blocks of points bound the (points × nodes) temporaries to a few MB whatever N is.
    for start in range(0, k.size, _POINTS_PER_BLOCK):
        block = slice(start, start + _POINTS_PER_BLOCK)
        arg = np.sqrt(np.maximum(k[block], 0.0))[:, None] * x[None, :]
        plus = _checked(fn, arg)
        if odd:
            c[block, 1::2] = project(2 * plus * sqrt_w, odd_rows)
            continue
        minus = _checked(fn, -arg)
        c[block, 0::2] = project((plus + minus) * sqrt_w, even_rows)
        c[block, 1::2] = project((plus - minus) * sqrt_w, odd_rows)
        tiny = np.flatnonzero(k[block] < STEIN_BELOW) if derivative is not None else ()
        if len(tiny):
            rows = start + tiny
            d_plus, d_minus = _checked(derivative, arg[tiny]), _checked(derivative, -arg[tiny])
            c_prime = np.empty((tiny.size, n_max + 1))
            c_prime[:, 0::2] = project((d_plus + d_minus) * sqrt_w, even_rows)
            c_prime[:, 1::2] = project((d_plus - d_minus) * sqrt_w, odd_rows)
            orders = np.arange(1, n_max + 1)
            c[rows, 1:] = np.sqrt(np.maximum(k[rows], 0.0))[:, None] / np.sqrt(orders) * c_prime[:, :-1]
    return c


# Below this variance the coefficients n >= 1 of built-in activations come from φ′ (coefficients).
STEIN_BELOW = 1e-4


def _checked(fn, arg: np.ndarray) -> np.ndarray:
    values = np.asarray(fn(arg), dtype=float)
    if values.shape != arg.shape:
        raise ValueError(f"activation: the function must act elementwise, got shape {values.shape} for input {arg.shape}")
    if not np.isfinite(values).all():
        raise ValueError("activation: the function returned NaN or infinity on Gaussian quadrature nodes")
    return values


def _tails(fn, derivative, c: np.ndarray, k: float, deg: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative tails of Σ c_n² (the φ series) and Σ n c_n² (the φ' series) beyond each order M.

    The totals come from the quadrature itself, E[φ(sqrt(k) g)²] and k E[φ'(sqrt(k) g)²] (Parseval
    and Stein), not from the computed coefficients: when the series is still far from converged at
    the last computed order, the mass beyond it is then counted instead of silently missed.
    Without φ' the derivative total falls back to the computed coefficients.
    """
    x, sqrt_w = gauss_hermite(deg)
    z = np.sqrt(k) * x

    def gauss_mean_sq(f):
        # Σ_p (sqrt(w_p) φ(±z_p))², not w_p φ²: φ(z)² alone overflows at the outer nodes of
        # variances near float64's limit, where sqrt(w_p) is tiny.
        return float(np.sum(np.square(sqrt_w * _checked(f, z)) + np.square(sqrt_w * _checked(f, -z))))

    sq = c * c
    n = np.arange(c.size)
    val_total = max(gauss_mean_sq(fn), float(sq.sum()))
    der_total = k * gauss_mean_sq(derivative) if derivative is not None else 0.0
    der_total = max(der_total, float((n * sq).sum()))
    tiny = np.finfo(float).tiny
    rel_val = np.maximum(val_total - np.cumsum(sq), 0.0) / max(val_total, tiny)
    rel_der = np.maximum(der_total - np.cumsum(n * sq), 0.0) / max(der_total, tiny)
    return rel_val, rel_der  # index M: what orders > M leave out


@dataclass(frozen=True)
class SeriesPlan:
    """Truncation order and quadrature degree for one layer step."""

    n_max: int     # highest power of ρ kept
    deg: int       # Gauss–Hermite nodes used for c_n
    tail: float    # relative truncation bound achieved (<= TAIL_TOL unless capped)


def plan_series(fn, k_max: float, odd: bool = False, derivative=None,
                project=numpy_project) -> SeriesPlan:
    """Smallest order whose tails (φ and φ' series) are below TAIL_TOL at variance k_max."""
    if k_max <= 0.0:
        return SeriesPlan(1, _MIN_DEG, 0.0)
    c = coefficients(fn, np.array([k_max]), MAX_TERMS, _PROBE_DEG, odd, project)[0]
    rel_val, rel_der = _tails(fn, derivative, c, k_max, _PROBE_DEG)
    ok = (rel_val <= TAIL_TOL) & (rel_der <= TAIL_TOL)
    ok[0] = False  # keep at least c_0 and c_1
    n_max = int(np.argmax(ok)) if ok.any() else MAX_TERMS
    tail = float(max(rel_val[n_max], rel_der[n_max]))
    # Degrees rounded up to multiples of 64: few distinct rules, each built once and cached.
    deg = int(min(_PROBE_DEG, max(_MIN_DEG, 2 * (n_max + 24))))
    deg = -(-deg // 64) * 64
    return SeriesPlan(n_max, deg, tail)


def tail_minima(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For coefficients c (points × orders n = 0..M) of one layer: per order M, the smallest
    share Σ_{n<=M} w_n / Σ_n w_n over the points, with w_n = c_n² (the φ series) and n c_n² (the
    φ' series); +inf where no point has a non-zero total. A minimum, so blocks of points reduce
    with np.minimum to the value of all of them (rho_limits_from_minima turns it into limits)."""
    sq = c * c
    out = []
    for w in (sq, sq * np.arange(c.shape[1], dtype=float)):
        total = w.sum(axis=1)
        w = w[total > 0] / total[total > 0, None]
        out.append(np.cumsum(w, axis=1).min(axis=0) if w.size else np.full(c.shape[1], np.inf))
    return out[0], out[1]


def rho_limits_from_minima(val_min: np.ndarray, der_min: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """Per number q of kept stored terms (the powers n in ``powers``): the largest |ρ| for which
    dropping the rest costs at most PAIR_TOL (relative to sqrt(K(x,x) K(x',x'))) in both series.

    Keeping powers n <= M, the dropped part of F is at most |ρ|^(M+1) R(M) sqrt(E1 E2) and that of
    F'/sqrt(k1 k2) at most |ρ|^M R_D(M) sqrt(Ė1 Ė2), where R(M) = max over points of
    Σ_{n>M} c_n² / Σ_n c_n² (= 1 − the minimum share of :func:`tail_minima`) and R_D likewise with
    weights n (Cauchy–Schwarz, as in the module docstring). Entries away from ρ = ±1 thus need far
    fewer terms than the diagonal does; the core picks the count per block of entries from their
    largest |ρ|. Rounding leaves ~1e-16 of noise in R, far below PAIR_TOL.
    """
    tiny = np.finfo(float).tiny
    with np.errstate(invalid="ignore"):  # 1 - inf: no point, no tail
        r_val = np.maximum(1.0 - val_min, 0.0)
        r_der = np.maximum(1.0 - der_min, 0.0)
    m = powers.astype(float)
    with np.errstate(divide="ignore", over="ignore"):
        lim_val = np.where(r_val > 0, (PAIR_TOL / np.maximum(r_val, tiny)) ** (1.0 / (m + 1)), np.inf)
        lim_der = np.where(r_der > 0, (PAIR_TOL / np.maximum(r_der, tiny)) ** (1.0 / np.maximum(m, 1)), np.inf)
    lim_der = np.where((powers == 0) & (r_der > PAIR_TOL), 0.0, lim_der)
    out = np.maximum.accumulate(np.minimum(lim_val, lim_der))
    out[-1] = np.inf  # all stored terms: only the global truncation (TAIL_TOL) remains
    return out


def derivative_at_zero(act) -> float:
    """φ'(0): the given derivative, else a 4th-order central difference (error ~1e-11)."""
    if act.derivative is not None:
        return float(np.asarray(act.derivative(np.zeros(1)), dtype=float)[0])
    h = 1e-3
    z = np.array([-2 * h, -h, h, 2 * h])
    f = np.asarray(act.fn(z), dtype=float)
    return float((f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h))
