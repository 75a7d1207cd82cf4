"""Bivariate normal probabilities and the ELU dual kernel in numpy (closed form).

ELU(α) is only C¹ (its second derivative jumps at 0), so its Hermite coefficients decay like a
power law and the Mehler series cannot reach 1e-8. Instead, with A = z·1{z>0}, B = e^z·1{z<0},
C = 1{z<0}, D = 1{z>0}, we have φ = A + α(B - C) and φ' = D + αB, and every cross expectation
E[X(u) Y(v)] is a closed form in Φ, the normal density and the bivariate normal CDF Φ2 (after an
exponential tilt e^u or e^v, which shifts the mean by a column of the covariance). Φ2 is computed
as in Drezner & Wesolowsky (1990) with Genz's (2004) treatment of |r| >= 0.925: Gauss–Legendre on
Sheppard's angle integral for moderate r; for |r| near 1, the integrand in t = cos θ is split into
exp(-(h-k)²/2t²)·(a quadratic in t²), integrated exactly, plus a smooth remainder integrated
numerically. Checked against mpmath to ~1e-16 (tests/test_truth.py).

This module serves the numpy reference and the per-point diagonal recursion; the C++ core has
the same formulas in src/cpp/ntkfast/bivariate_normal.hpp and dual_activations.hpp.
"""
from __future__ import annotations

import math

import numpy as np

_SQRT_2PI = math.sqrt(2 * math.pi)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def norm_cdf(x) -> np.ndarray:
    """Φ(x) with full relative accuracy in both tails (via erfc)."""
    return 0.5 * np.asarray(_erfc(-np.asarray(x, dtype=float) / math.sqrt(2)), dtype=float)


def norm_pdf(x) -> np.ndarray:
    return np.exp(-0.5 * np.square(x)) / _SQRT_2PI


def bvn_cdf(h, k, r) -> np.ndarray:
    """P(X < h, Y < k) for standard normals with correlation r in [-1, 1]; broadcasts."""
    h, k, r = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (h, k, r)))
    out = np.empty(h.shape)
    moderate = np.abs(r) < 0.925
    if moderate.any():
        out[moderate] = _bvn_moderate(h[moderate], k[moderate], r[moderate])
    if (~moderate).any():
        out[~moderate] = _bvn_strong(h[~moderate], k[~moderate], r[~moderate])
    return np.clip(out, 0.0, 1.0)


def _bvn_moderate(h, k, r):
    # Φ2 = Φ(h)Φ(k) + (1/2π) ∫_0^{asin r} exp(-(h² + k² - 2hk sin θ) / (2 cos² θ)) dθ
    a = np.arcsin(r)
    th = 0.5 * a[:, None] * (_GL_X + 1)
    hh, kk = h[:, None], k[:, None]
    f = np.exp(-(hh * hh + kk * kk - 2 * hh * kk * np.sin(th)) / (2 * np.cos(th) ** 2))
    return norm_cdf(h) * norm_cdf(k) + 0.5 * a / (2 * np.pi) * (f @ _GL_W)


def _bvn_strong(h, k, r):
    # For r > 0: Φ2 = Φ(min(h,k)) - (1/2π) ∫_0^T exp(-B/2t² - hk/(1+s)) / s dt, s = sqrt(1-t²),
    # T = sqrt(1-r²), B = (h-k)². The smooth factor is expanded as e^{-hk/2}(1 + c t² + cd t⁴)
    # and that part integrated exactly: I_m = ∫_0^T e^{-B/2t²} t^{2m} dt obeys
    # (2m+1) I_m = T^{2m+1} e^{-B/2T²} - B I_{m-1}, I_0 = T e^{-B/2T²} - sqrt(2πB) Φ(-sqrt(B)/T).
    # r < 0 follows from Φ2(h,k;r) = Φ(h) - Φ2(h,-k;-r).
    neg = r < 0
    k = np.where(neg, -k, k)
    rr = np.abs(r)
    T = np.sqrt((1 - rr) * (1 + rr))
    hk = h * k
    B = (h - k) ** 2
    c = (4 - hk) / 8
    cd = (48 - 16 * hk + hk * hk) / 128
    safe_T = np.where(T > 0, T, 1.0)
    with np.errstate(over="ignore", under="ignore"):
        e_T = np.where(T > 0, np.exp(-B / (2 * safe_T**2) - hk / 2), 0.0)
        # Below hk = -160 this term is far below rounding of the result (and e^{-hk/2} overflows).
        tail = np.where(hk > -160,
                        np.exp(-np.maximum(hk, -160) / 2) * np.sqrt(2 * np.pi * B) * norm_cdf(-np.sqrt(B) / safe_T),
                        0.0)
    i0 = T * e_T - tail
    i1 = (T**3 * e_T - B * i0) / 3
    i2 = (T**5 * e_T - B * i1) / 5
    exact = i0 + c * i1 + cd * i2
    t = 0.5 * T[:, None] * (_GL_X + 1)
    s = np.sqrt((1 - t) * (1 + t))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        w = np.exp(-B[:, None] / (2 * t * t))
        f = w * (np.exp(-hk[:, None] / (1 + s)) / s
                 - np.exp(-hk[:, None] / 2) * (1 + c[:, None] * t * t + cd[:, None] * t**4))
    f = np.where(np.isfinite(f), f, 0.0)
    remainder = 0.5 * T * (f @ _GL_W)
    p = norm_cdf(np.minimum(h, k)) - (exact + remainder) / (2 * np.pi)
    return np.where(neg, norm_cdf(h) - p, p)


def elu_dual(k1, k2, k12, alpha: float, *, same_point: bool = False, rho=None, r=None):
    """E[φ(u)φ(v)] and E[φ'(u)φ'(v)] for φ = ELU(α), (u,v) ~ N(0, [[k1,k12],[k12,k2]]).

    ``same_point=True`` is the diagonal: ρ = 1 exactly, not k/(sqrt(k) sqrt(k)), which can round
    below 1 and, φ' having a jump at 0 when α != 1, shift Σ̇ by ~1e-9. ``rho`` and
    ``r`` = sqrt(1 − ρ²), when given, replace k12 (r then carries the digits near ρ = ±1).
    A zero-variance point gets the limit k -> 0 (for α != 1 this takes φ'(0) = (1+α)/2).
    """
    k1, k2, k12 = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k1, k2, k12)))
    s1, s2 = np.sqrt(k1), np.sqrt(k2)
    ss = s1 * s2
    if rho is not None:
        rho = np.asarray(rho, dtype=float)
    elif same_point:
        rho = np.where(ss > 0, 1.0, 0.0)
    else:
        rho = np.clip(np.where(ss > 0, k12 / np.where(ss > 0, ss, 1.0), 0.0), -1.0, 1.0)
    c = rho * ss
    r = np.sqrt(np.maximum((1 - rho) * (1 + rho), 0.0)) if r is None else np.asarray(r, dtype=float)
    theta = np.arctan2(r, rho)
    e_aa = ss * (r + (np.pi - theta) * rho) / (2 * np.pi)
    e_cc = (np.pi - theta) / (2 * np.pi)  # also E[D(u)D(v)]
    e_ac = s1 * (1 - rho) / (2 * _SQRT_2PI)
    e_ca = s2 * (1 - rho) / (2 * _SQRT_2PI)
    p1 = bvn_cdf(-s1, -rho * s1, rho)  # P(u<0, v<0) under the tilt e^u
    p2 = bvn_cdf(-rho * s2, -s2, rho)  # ... under the tilt e^v
    q1, q2 = norm_cdf(-s1) - p1, norm_cdf(-s2) - p2
    t1, t2 = np.exp(k1 / 2), np.exp(k2 / 2)
    e_bc, e_cb = t1 * p1, t2 * p2
    e_bd, e_db = t1 * q1, t2 * q2
    e_bb = np.exp((k1 + k2) / 2 + c) * bvn_cdf(-(s1 + rho * s2), -(s2 + rho * s1), rho)
    e_ab = t2 * (c * q2 + s1 * (norm_pdf(rho * s2) * norm_cdf(-r * s2) - rho * norm_pdf(s2) / 2))
    e_ba = t1 * (c * q1 + s2 * (norm_pdf(rho * s1) * norm_cdf(-r * s1) - rho * norm_pdf(s1) / 2))
    a = float(alpha)
    e = e_aa + a * (e_ab + e_ba - e_ac - e_ca) + a * a * (e_bb - e_bc - e_cb + e_cc)
    ed = e_cc + a * (e_db + e_bd) + a * a * e_bb
    return e, ed
