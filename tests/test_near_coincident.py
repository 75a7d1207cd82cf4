"""Entries of (nearly) coinciding and (nearly) opposite points: the angle near ρ = ±1.

The ReLU family's and ELU's Σ̇ are linear in the angle θ = arccos ρ near θ = 0, and arccos of a
rounded cosine loses half the digits there (θ error ~ sqrt(2 eps)). The kernels therefore carry
1 ∓ ρ with full relative accuracy through the recursion. Checked here against

- the symmetric Gram's diagonal, computed with the angle exactly 0 (duplicated rows of a cross
  call must agree with it to a few ulps, for any number of features), and
- an independent 50-digit evaluation of the plain closed forms (mpmath), which needs no care
  near ρ = 1 because its own rounding is 1e-50: the error of fast and reference at points
  1e-4 .. 1e-12 apart (and nearly antipodal) must be at rounding level.
"""
import math

import mpmath
import numpy as np
import pytest

import ntkfast
from ntkfast import activations, reference

IMPLS = {"fast": ntkfast, "reference": reference}
GAP_ACTIVATIONS = {
    "relu": "relu",
    "abs": "abs",
    "leaky_relu": activations.leaky_relu(0.1),
    "elu": "elu",
    "elu_0.5": activations.elu(alpha=0.5),
}
EPS = {np.dtype(np.float32): float(np.finfo(np.float32).eps), np.dtype(np.float64): float(np.finfo(np.float64).eps)}


def _normalised_gap(cross, sym):
    """max |cross − sym| / sqrt(sym_ii sym_jj) in float64."""
    cross, sym = np.asarray(cross, dtype=np.float64), np.asarray(sym, dtype=np.float64)
    d = np.sqrt(np.abs(np.diagonal(sym)))
    return float(np.max(np.abs(cross - sym) / np.outer(d, d)))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", [10, 1000, 100_000])
@pytest.mark.parametrize("act", GAP_ACTIVATIONS)
def test_duplicates_of_a_cross_call_match_the_symmetric_gram(impl, dtype, n_features, act):
    # Before the gaps were carried: float32 relu/abs/leaky off by 2e-4 (d = 10) to 1e-2 (d = 1e6),
    # float64 by 1e-9 to 3e-8. Now a few roundings: 16 eps of the dtype leaves a 2-3x margin
    # over the measured worst case (leaky_relu float32, 5 eps).
    x = np.random.default_rng(n_features).standard_normal((5, n_features))
    fn = IMPLS[impl]
    kw = dict(depth=5, activation=GAP_ACTIVATIONS[act], dtype=dtype, bias_std=0.2)
    for get in ("ntk", "nngp"):
        sym = getattr(fn, get)(x, **kw)
        cross = getattr(fn, get)(x, x, **kw)
        assert _normalised_gap(cross, sym) <= 16 * EPS[np.dtype(dtype)], get


# ---------------------------------------------------------------------------------------------
# 50-digit truth of the relu-like recursion (ntk-math.md §2), written from the paper's formulas
# alone: ρ, θ = acos ρ, J(θ), no gaps.
# ---------------------------------------------------------------------------------------------
mpmath.mp.dps = 50


def _truth(x, y, depth, a, b, weight_var, bias_var):
    """(Σ^(L), Θ^(L)) of the pair (x, y) and of (x, x), (y, y) in 50 digits."""
    x = [mpmath.mpf(float(v)) for v in x]
    y = [mpmath.mpf(float(v)) for v in y]
    n0 = len(x)
    wv, bv = mpmath.mpf(weight_var), mpmath.mpf(bias_var)
    k11 = wv * sum(v * v for v in x) / n0 + bv
    k22 = wv * sum(v * v for v in y) / n0 + bv
    k12 = wv * sum(u * v for u, v in zip(x, y)) / n0 + bv
    t11, t22, t12 = k11, k22, k12
    a, b = mpmath.mpf(a), mpmath.mpf(b)
    pi = mpmath.pi
    for _ in range(depth - 1):
        def dual(ka, kb, kab):
            s = mpmath.sqrt(ka * kb)
            rho = max(min(kab / s, mpmath.mpf(1)), mpmath.mpf(-1))
            th = mpmath.acos(rho)
            j = (a * a + b * b) * (mpmath.sin(th) + (pi - th) * mpmath.cos(th)) \
                - 2 * a * b * (mpmath.sin(th) - th * mpmath.cos(th))
            return s * j / (2 * pi), ((a * a + b * b) * (pi - th) + 2 * a * b * th) / (2 * pi)
        e11, d11 = (a * a + b * b) / 2 * k11, (a * a + b * b) / 2
        e22, d22 = (a * a + b * b) / 2 * k22, (a * a + b * b) / 2
        e12, d12 = dual(k11, k22, k12)
        k11, k22, k12 = wv * e11 + bv, wv * e22 + bv, wv * e12 + bv
        t11, t22, t12 = t11 * wv * d11 + k11, t22 * wv * d22 + k22, t12 * wv * d12 + k12
    return [float(v) for v in (k12, t12, k11, t11, k22, t22)]


RELU_LIKE = {"relu": (0.0, 1.0), "abs": (-1.0, 1.0), "leaky_relu": (0.1, 1.0)}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("act", RELU_LIKE)
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("distance", [1e-4, 1e-8, 1e-12])
def test_near_coincident_and_antipodal_pairs_match_50_digit_truth(impl, act, sign, distance):
    # y = ±x + distance·v: ρ within ~distance² of ±1 at layer 1 (and, for abs, antipodal points
    # coincide from layer 2 on). The old arccos of the rounded cosine was off by up to ~1e-8
    # relative in Θ here (sqrt(eps)); the carried gaps keep rounding level.
    rng = np.random.default_rng(7)
    x = rng.standard_normal(6)
    y = sign * x + distance * rng.standard_normal(6)
    a, b = RELU_LIKE[act]
    phi = activations.leaky_relu(a) if act == "leaky_relu" else act
    kw = dict(depth=6, activation=phi, weight_std=1.3, bias_std=0.4)
    k12, t12, k11, t11, k22, t22 = _truth(x, y, 6, a, b, 1.3**2, 0.4**2)
    got = IMPLS[impl].kernels(x[None], y[None], **kw)
    scale_k, scale_t = math.sqrt(k11 * k22), math.sqrt(t11 * t22)
    assert abs(got.nngp[0, 0] - k12) <= 1e-14 * scale_k
    assert abs(got.ntk[0, 0] - t12) <= 1e-14 * scale_t


@pytest.mark.parametrize("impl", IMPLS)
def test_abs_antipodal_points_coincide_from_the_second_layer(impl):
    # abs is even and without bias x and -x give the same hidden features, so Σ of the pair equals
    # the diagonal from layer 2 on (the gap 1 - ρ' is 0 through J(0) - J(π) = 0, written without
    # cancellation). So does Θ: Θ^(2) = Θ^(1) Σ̇^(2) + Σ^(2) with Θ^(1) = -Σ^(1)(x, x) and
    # Σ̇^(2) = E[sign(u) sign(-u)] = -1 for the pair, +Σ^(1)(x, x) and +1 on the diagonal.
    x = np.random.default_rng(3).standard_normal((1, 8))
    fn = IMPLS[impl]
    pair = fn.kernels(x, -x, depth=4, activation="abs")
    diag = fn.kernels(x, depth=4, activation="abs")
    assert pair.nngp[0, 0] == pytest.approx(diag.nngp[0, 0], rel=8 * EPS[np.dtype(np.float64)])
    assert pair.ntk[0, 0] == pytest.approx(diag.ntk[0, 0], rel=8 * EPS[np.dtype(np.float64)])
