"""The dual kernels F = E[φ(u)φ(v)], G = E[φ'(u)φ'(v)] of a pair and their partial derivatives in
(k11, k22, k12), for whole (N1, N2) arrays: the numpy twin of the C++ core's
src/cpp/ntkfast/dual_partials.hpp, used by ntkfast.reference's gradient.

Closed forms (s = sqrt(k11 k22), ρ = k12/s, θ = arccos ρ; a, b the slopes of a·min(z,0) + b·max(z,0)):

    relu family  F = s J(θ), G = [(a²+b²)(π−θ) + 2abθ]/2π, F_12 = G,
                 F_11 = (a−b)² sin θ sqrt(k22/k11) / 4π   (from F − k12 G = s (a−b)² sin θ / 2π),
                 G_12 = (a−b)² / (2π s sin θ), G_11 = −ρ s G_12 / (2 k11)
    erf          p_i = 1 + 2k_ii, D = p1 p2 − 4k12², F_11 = −k12 G / p1,
                 G_12 = (16/π) k12 D^(−3/2), G_11 = −(4/π) p2 D^(−3/2)
    identity     F_12 = 1, everything else 0
    sin          F_11 = −F/2, G_12 = F, G_11 = −G/2

Mehler series (ntkfast._gradient_tables): F_11 = ½ Σ c''_n(k11) c_n(k22) ρ^n and so on.
A pair with sin θ = 0 (collinear inputs) has G_12 = G_11 = 0 here: there ρ cannot move to first
order, so the terms they multiply vanish.
"""
from __future__ import annotations

import math

import numpy as np


def pair_partials(act, k11, k22, k12, coef1=None, coef2=None):
    """(F, G, F_11, F_22, G_11, G_22, G_12) for k11 (N1, 1), k22 (1, N2), k12 (N1, N2); F_12 = G.
    ``coef1``/``coef2``: (4, N, T) Hermite coefficients of φ..φ''' for the Mehler path."""
    if act.dual == "mehler":
        return _mehler(k11, k22, k12, coef1, coef2)
    if act.dual == "relu_like":
        return _relu_like(act.slopes, k11, k22, k12)
    zero = np.zeros_like(k12)
    if act.dual == "identity":
        return k12.copy(), np.ones_like(k12), zero, zero, zero, zero, zero
    if act.dual == "erf":
        p1, p2 = 1 + 2 * k11, 1 + 2 * k22
        d = p1 * p2 - 4 * k12 * k12
        f = (2 / math.pi) * np.arcsin(np.clip(2 * k12 / np.sqrt(p1 * p2), -1.0, 1.0))
        g = (4 / math.pi) / np.sqrt(d)
        d32 = d ** -1.5
        return (f, g, -k12 * g / p1, -k12 * g / p2, -(4 / math.pi) * p2 * d32,
                -(4 / math.pi) * p1 * d32, (16 / math.pi) * k12 * d32)
    if act.dual == "sin":
        h = np.exp(-0.5 * (k11 + k22))
        f, g = h * np.sinh(k12), h * np.cosh(k12)
        return f, g, -0.5 * f, -0.5 * f, -0.5 * g, -0.5 * g, f
    raise AssertionError(act.dual)


def _relu_like(slopes, k11, k22, k12):
    a, b = slopes
    r1, r2 = np.sqrt(k11), np.sqrt(k22)
    s = r1 * r2
    pos = s > 0
    rho = np.where(pos, np.clip(k12 / np.where(pos, s, 1.0), -1.0, 1.0), 0.0)
    sin = np.sqrt(np.maximum(0.0, (1 - rho) * (1 + rho)))
    theta = np.arctan2(sin, rho)
    sq, ab = a * a + b * b, 2 * a * b
    two_pi = 2 * math.pi
    f = s * (sq * (sin + (math.pi - theta) * rho) - ab * (sin - theta * rho)) / two_pi
    g = (sq * (math.pi - theta) + ab * theta) / two_pi
    c = (a - b) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        f11 = np.where(pos, c * sin * (r2 / r1) / (2 * two_pi), 0.0)
        f22 = np.where(pos, c * sin * (r1 / r2) / (2 * two_pi), 0.0)
        ok = pos & (sin > 0)
        g12 = np.where(ok, c / (two_pi * s * sin), 0.0)
        g11 = np.where(ok, -rho * s * g12 / (2 * k11), 0.0)
        g22 = np.where(ok, -rho * s * g12 / (2 * k22), 0.0)
    return f, g, f11, f22, g11, g22, g12


def _mehler(k11, k22, k12, coef1, coef2):
    r = np.sqrt(k11) * np.sqrt(k22)
    pos = r > 0
    rho = np.where(pos, np.clip(k12 / np.where(pos, r, 1.0), -1.0, 1.0), 0.0)

    def series(i, j):  # Σ_n c^(i)_n(k11) c^(j)_n(k22) ρ^n by Horner
        a, b = coef1[i], coef2[j]
        out = np.zeros_like(rho)
        for n in range(a.shape[1] - 1, -1, -1):
            out = out * rho + np.outer(a[:, n], b[:, n])
        return out

    return (series(0, 0), series(1, 1), 0.5 * series(2, 0), 0.5 * series(0, 2),
            0.5 * series(3, 1), 0.5 * series(1, 3), series(2, 2))
