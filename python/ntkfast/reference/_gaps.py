"""The duals whose angle is ill-conditioned near ρ = ±1 (the ReLU family and ELU), in numpy, with
the correlation carried as its gaps gm = 1 − ρ and gp = 1 + ρ: the same mathematics as the C++
core's (src/cpp/ntkfast/dual_activations.hpp, whose comments derive the formulas), written for
whole (N1, N2) layers. Layer 1 takes the gaps from the distance between the normalised inputs
where |ρ| > 0.9, every later layer from closed forms of 1 ∓ ρ' in the previous gaps.
"""
from __future__ import annotations

import numpy as np

from .._bivariate import elu_pair
NEAR = 0.9  # |ρ| above which layer 1 measures the distance instead of subtracting


def first_layer(x1, x2, k12, r1, r2, i1, i2, weight_var: float, bias_var: float):
    """(1 − ρ, 1 + ρ) of Σ^(1) for every pair; x float64 (n, d), r = sqrt(Σ^(1)(x, x)) and
    i = 1/r (0 at 0). Where |ρ| > NEAR, k12 (modified in place) becomes ±r r'(1 − gap), a few
    roundings against the dot product's error, which grows with the number of features."""
    rho = np.clip(k12 * i1[:, None] * i2[None, :], -1.0, 1.0)  # not outer(i1, i2): it overflows at tiny k
    gm, gp = 1 - rho, 1 + rho
    ii, jj = np.nonzero(np.abs(rho) > NEAR)
    if ii.size:
        scale = np.sqrt(weight_var / x1.shape[1])

        def unit(x, inv):  # (σ_w x / sqrt(n0), β) / sqrt(Σ^(1)(x, x))
            aug = np.concatenate([x * scale, np.full((x.shape[0], 1), np.sqrt(bias_var))], axis=1)
            return aug * inv[:, None]

        u1, u2 = unit(x1, i1), unit(x2, i2)
        sign = np.where(rho[ii, jj] > 0, -1.0, 1.0)
        half = np.empty(ii.size)
        for b in range(0, ii.size, 4096):  # bounded temporaries
            s = slice(b, b + 4096)
            diff = u1[ii[s]] + sign[s, None] * u2[jj[s]]
            half[s] = 0.5 * np.einsum("ij,ij->i", diff, diff)
        half = np.clip(half, 0.0, 2.0)
        pos = rho[ii, jj] > 0
        gm[ii, jj] = np.where(pos, half, 2 - half)
        gp[ii, jj] = np.where(pos, 2 - half, half)
        rr = r1[ii] * r2[jj]
        k12[ii, jj] = np.where(pos, rr * (1 - half), -(rr * (1 - half)))
    return gm, gp


def _sin_minus_t_cos(t, s, c):
    """sin t − t cos t for 0 <= t <= π/2: its series below t = 1, the difference above."""
    t2 = t * t
    series = t * t2 * np.polynomial.polynomial.polyval(t2, _H_COEFFICIENTS)
    return np.where(t < 1, series, s - t * c)


# (−1)^(k+1) 2k/(2k+1)!, k = 1..9.
_H_COEFFICIENTS = np.array([2 * k * (-1) ** (k + 1) / float(np.prod(np.arange(1, 2 * k + 2)))
                            for k in range(1, 10)])


def step(call, gm, gp, r1, r2, rn1, in1, rn2, in2):
    """One layer step: E[φφ], E[φ'φ'] and the next layer's gaps; r = sqrt(Σ(x, x)) per point of
    this layer, rn that of the next layer and in = 1/rn (0 at 0). Divisions by sqrt(Σ'Σ') are
    made point by point: at subnormal variances their product overflows."""
    wv, bv = call.weight_var, call.bias_var
    upper = gm <= gp
    rho = np.where(upper, 1 - gm, gp - 1)
    s = np.sqrt(gm * gp)
    theta = np.arctan2(s, rho)
    rr = np.outer(r1, r2)
    pos = (rn1 > 0)[:, None] & (rn2 > 0)[None, :]
    act = call.act
    if act.dual == "elu":
        e, ed = elu_pair(r1[:, None], r2[None, :], rho, s, act.alpha)
        same = (gm == 0) & (r1[:, None] == r2[None, :])
        rho_next = np.where(pos, np.clip((wv * e + bv) * in1[:, None] * in2[None, :], -1.0, 1.0), 0.0)
        return e, ed, np.where(same, 0.0, 1 - rho_next), np.where(same, 2.0, 1 + rho_next)
    a, b = act.slopes
    sq, ab2 = (a * a + b * b) / (2 * np.pi), 2 * a * b / (2 * np.pi)
    e = rr * (sq * (s + (np.pi - theta) * rho) - ab2 * (s - theta * rho))
    ed = sq * (np.pi - theta) + ab2 * theta
    # (J(0) ∓ J(θ)) / 2π through the small angle t = min(θ, π − θ) (dual_activations.hpp).
    half_a, b_pi = (a * a + b * b) / 2, (a - b) ** 2 / (2 * np.pi)
    t = np.where(upper, theta, np.pi - theta)
    u = np.where(upper, gm, gp)
    h = _sin_minus_t_cos(t, s, 1 - u)
    jm = np.where(upper, half_a * u - b_pi * h, (a + b) ** 2 / 2 - b_pi * h - a * b * u)
    jp = np.where(upper, half_a * (2 - u) + b_pi * h, (a - b) ** 2 / 2 + b_pi * h + a * b * u)
    m = wv * half_a * rr + bv
    dr = r1[:, None] - r2[None, :]
    den = np.outer(rn1, rn2) + m
    ig1, ig2 = in1[:, None], in2[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        g_minus_m = np.where(den > 0, wv * half_a * bv * dr * dr / den, 0.0) * ig1 * ig2  # (g − m)/g
    p = wv * (r1 * in1)[:, None] * (r2 * in2)[None, :]
    gm_next = np.where(pos, np.clip(g_minus_m + p * jm, 0.0, 2.0), 1.0)
    gp_next = np.where(pos, np.clip(g_minus_m + p * jp + 2 * bv * ig1 * ig2, 0.0, 2.0), 1.0)
    return e, ed, gm_next, gp_next
