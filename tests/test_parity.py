"""The compiled kernels (ntkfast.*) against the plain-numpy reference (ntkfast.reference.*).

The reference is itself checked against quadrature and Monte Carlo in test_truth.py; here we only
ask that the C++ core computes the same numbers, to rounding (conftest.TOL).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import ntkfast
from ntkfast import activations, reference

from conftest import assert_normalised_close, reference_diagonals, tol_for


def _tanh_plus(z):
    return np.tanh(z) + 0.1 * z


def _tanh_plus_prime(z):
    return 1.0 - np.tanh(z) ** 2 + 0.1


# Every way of naming an activation: all registered names, parametrised factories, a bare
# callable (derivative estimated by finite differences) and a custom() with its derivative.
ACTIVATIONS = [(name, name) for name in activations.NAMES] + [
    ("leaky_relu(0.2)", activations.leaky_relu(0.2)),
    ("elu(0.5)", activations.elu(0.5)),
    ("callable", _tanh_plus),
    ("custom+derivative", activations.custom(_tanh_plus, _tanh_plus_prime)),
]
ACT_IDS = [a for a, _ in ACTIVATIONS]
SPEC = dict(ACTIVATIONS)

BIAS_WEIGHT = [(b, w) for b in (0.0, 0.1, 1.0) for w in (1.0, math.sqrt(2.0))]


def _cases():
    """All depths 1..10 for relu (closed form) and tanh (Mehler series), three for the rest (depth
    1 of every activation is test_truth.py::test_depth_one_is_the_affine_kernel); (bias_std,
    weight_std) cycle through all six combinations so each activation sees several."""
    out = []
    for a_index, act in enumerate(ACT_IDS):
        depths = range(1, 11) if act in ("relu", "tanh") else (2, 5, 10)
        for d_index, depth in enumerate(depths):
            b, w = BIAS_WEIGHT[(a_index + d_index) % len(BIAS_WEIGHT)]
            out.append(pytest.param(act, depth, b, w, id=f"{act}-L{depth}-b{b}-w{w:.3g}"))
    return out


def _check_against_reference(x1, x2, act, depth, b, w, dtype=np.float64):
    kw = dict(depth=depth, activation=SPEC[act], bias_std=b, weight_std=w)
    fast = ntkfast.kernels(x1, x2, layerwise=True, dtype=dtype, **kw)
    ref = reference.kernels(x1, x2, layerwise=True, dtype=dtype, **kw)
    d1, d2 = reference_diagonals(x1, x2, **kw)
    n1, n2 = len(x1), len(x1 if x2 is None else x2)
    tol = tol_for(dtype)

    assert fast.sigma.shape == (depth, n1, n2)
    assert fast.sigma_dot.shape == (depth - 1, n1, n2)
    assert fast.theta.shape == (depth, n1, n2)
    for name in ("nngp", "ntk", "sigma", "sigma_dot", "theta"):
        assert getattr(fast, name).dtype == dtype, name

    assert_normalised_close(fast.nngp, ref.nngp, d1["nngp"], d2["nngp"], tol, "nngp")
    assert_normalised_close(fast.ntk, ref.ntk, d1["ntk"], d2["ntk"], tol, "ntk")
    for layer in range(depth):
        assert_normalised_close(fast.sigma[layer], ref.sigma[layer], d1["sigma"][layer],
                                d2["sigma"][layer], tol, f"sigma[{layer}]")
        assert_normalised_close(fast.theta[layer], ref.theta[layer], d1["theta"][layer],
                                d2["theta"][layer], tol, f"theta[{layer}]")
    for layer in range(depth - 1):
        assert_normalised_close(fast.sigma_dot[layer], ref.sigma_dot[layer],
                                d1["sigma_dot"][layer], d2["sigma_dot"][layer], tol,
                                f"sigma_dot[{layer}]")

    # The last layer of the layerwise output is the final result, and asking for less (one
    # kernel, no layers) must not change a single bit: same core, same summation order.
    np.testing.assert_array_equal(fast.sigma[-1], fast.nngp)
    np.testing.assert_array_equal(fast.theta[-1], fast.ntk)
    plain = ntkfast.kernels(x1, x2, dtype=dtype, **kw)
    assert plain.sigma is None and plain.sigma_dot is None and plain.theta is None
    np.testing.assert_array_equal(plain.nngp, fast.nngp)
    np.testing.assert_array_equal(plain.ntk, fast.ntk)
    np.testing.assert_array_equal(ntkfast.ntk(x1, x2, dtype=dtype, **kw), plain.ntk)
    np.testing.assert_array_equal(ntkfast.nngp(x1, x2, dtype=dtype, **kw), plain.nngp)
    return fast


@pytest.mark.parametrize("act, depth, b, w", _cases())
@pytest.mark.parametrize("symmetric", [True, False], ids=["x2=None", "x2"])
def test_matches_reference(points, act, depth, b, w, symmetric):
    x1, x2 = points
    _check_against_reference(x1, None if symmetric else x2, act, depth, b, w)


@pytest.mark.parametrize("act", ["relu", "erf", "sin", "tanh", "elu(0.5)"])
@pytest.mark.parametrize("b, w", BIAS_WEIGHT)
def test_bias_weight_grid(points, act, b, w):
    """The full bias x weight grid for a few activations at depth 3, x2 given."""
    x1, x2 = points
    _check_against_reference(x1, x2, act, 3, b, w)


@pytest.mark.parametrize("act", ["relu", "abs", "erf", "identity", "sin", "tanh", "sigmoid"])
def test_many_tiles(rng, act):
    """Sizes beyond one C++ tile (32 rows x 256 columns) and not multiples of the register blocks,
    so tile edges, the symmetric triangle and the scalar remainder loops are all exercised."""
    x1 = rng.standard_normal((70, 3))
    x2 = rng.standard_normal((300, 3))
    _check_against_reference(x1, x2, act, 3, 0.1, 1.0)
    _check_against_reference(x2, None, act, 3, 0.1, 1.0)


def _with_duplicates(rng):
    """x1 and x2 sharing rows, plus near-duplicates: the float32 worst case (rho ~ 1)."""
    x1 = rng.standard_normal((9, 4)).astype(np.float32)
    near = x1[:3] * np.float32(1 + 1e-4)
    x2 = np.concatenate([x1[:3], near, rng.standard_normal((2, 4)).astype(np.float32)])
    return x1, np.concatenate([x1, near]), x2


@pytest.mark.parametrize("act", ACT_IDS)
@pytest.mark.parametrize("depth", [2, 10])
def test_float32_matches_reference(rng, act, depth):
    x1, x_sym, x2 = _with_duplicates(rng)
    b, w = BIAS_WEIGHT[(ACT_IDS.index(act) + depth) % len(BIAS_WEIGHT)]
    _check_against_reference(x1, x2, act, depth, b, w, dtype=np.float32)
    _check_against_reference(x_sym, None, act, depth, b, w, dtype=np.float32)


@pytest.mark.parametrize("act", ACT_IDS)
def test_zero_input_row_without_bias(rng, act):
    """A zero input with bias 0 has Sigma(x, x) = 0: rho must be defined (as 0), not 0/0."""
    x1 = rng.standard_normal((5, 3))
    x1[2] = 0.0
    x2 = np.concatenate([np.zeros((1, 3)), rng.standard_normal((3, 3))])
    for depth in (2, 4):
        fast = _check_against_reference(x1, None, act, depth, 0.0, 1.0)
        for name in ("nngp", "ntk", "sigma", "sigma_dot", "theta"):
            assert np.isfinite(getattr(fast, name)).all(), name
        fast = _check_against_reference(x1, x2, act, depth, 0.0, 1.0)
        for name in ("nngp", "ntk", "sigma", "sigma_dot", "theta"):
            assert np.isfinite(getattr(fast, name)).all(), name


@pytest.mark.parametrize("act", ["relu", "erf", "tanh", "callable"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [40, 150, 200])  # in one 64-row mirror band; past two, ragged
def test_symmetric_output_exactly_symmetric_with_exact_diagonal(rng, act, dtype, n):
    x = rng.standard_normal((n, 6))
    kw = dict(depth=4, activation=SPEC[act], bias_std=0.1, dtype=dtype)
    res = ntkfast.kernels(x, layerwise=True, **kw)
    # Above the diagonal the entries of the cross kernel K(x, x') with x' a copy of x, bit for bit:
    # the mirror copies them down, not up.
    cross = ntkfast.kernels(x, x.copy(), **kw)
    upper = np.triu_indices(n, 1)
    for name in ("nngp", "ntk"):
        k = getattr(res, name)
        np.testing.assert_array_equal(k[upper], getattr(cross, name)[upper], err_msg=name)
        np.testing.assert_array_equal(k, k.T, err_msg=name)
    for name in ("sigma", "sigma_dot", "theta"):
        for layer, k in enumerate(getattr(res, name)):
            np.testing.assert_array_equal(k, k.T, err_msg=f"{name}[{layer}]")
    # The diagonal comes from the per-point recursion (angle exactly 0), bit for bit.
    np.testing.assert_array_equal(np.diagonal(res.nngp), ntkfast.nngp_diag(x, **kw))
    np.testing.assert_array_equal(np.diagonal(res.ntk), ntkfast.ntk_diag(x, **kw))
    np.testing.assert_array_equal(np.diagonal(ntkfast.nngp(x, **kw)), ntkfast.nngp_diag(x, **kw))
    np.testing.assert_array_equal(np.diagonal(ntkfast.ntk(x, **kw)), ntkfast.ntk_diag(x, **kw))


@pytest.mark.parametrize("act", ACT_IDS)
def test_diag_matches_reference_pair_kernel(rng, act):
    """nngp_diag/ntk_diag are shared with the reference, so compare them with something else:
    the reference's *pair* formula at x' = x (x2 given). That evaluates the dual kernel at a
    rounded rho = 1 - O(eps) where arccos is ill-conditioned (theta ~ sqrt(2 eps) ~ 2e-8), so
    only ~sqrt(eps) agreement per layer is possible: 100 sqrt(eps64) = 1.5e-6 covers depth 10."""
    x = rng.standard_normal((6, 4))
    kw = dict(depth=10, activation=SPEC[act], bias_std=0.1)
    pair = reference.kernels(x, x, **kw)
    tol = 100 * math.sqrt(np.finfo(np.float64).eps)
    for got, full in ((ntkfast.nngp_diag(x, **kw), pair.nngp), (ntkfast.ntk_diag(x, **kw), pair.ntk)):
        want = np.diagonal(full)
        np.testing.assert_array_less(np.abs(got - want), tol * np.abs(want))
    # float32 diagonals: the input is rounded to float32, the O(N L) recursion runs in float64
    # and the result is rounded once.
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(ntkfast.nngp_diag(x32, dtype=np.float32, **kw),
                                  ntkfast.nngp_diag(x32.astype(np.float64), **kw).astype(np.float32))
    np.testing.assert_array_equal(ntkfast.ntk_diag(x, dtype=np.float32, **kw),
                                  ntkfast.ntk_diag(x32.astype(np.float64), **kw).astype(np.float32))


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_input_forms_accepted(rng, act):
    """Lists, strided views, Fortran order, float32 and integer inputs give the same result as
    the equivalent C-contiguous float64 array, bit for bit (they are converted before the core)."""
    wide = rng.standard_normal((6, 8))
    x = np.ascontiguousarray(wide[:, ::2])
    x_int = rng.integers(-3, 4, size=(6, 4))
    x_f32 = rng.standard_normal((6, 4)).astype(np.float32)
    kw = dict(depth=3, activation=act, bias_std=0.1)
    base = ntkfast.ntk(x, **kw)
    for variant in (x.tolist(), wide[:, ::2], np.asfortranarray(x), x.T.copy().T):
        np.testing.assert_array_equal(ntkfast.ntk(variant, **kw), base)
        np.testing.assert_array_equal(ntkfast.ntk(x[:4], variant, **kw), ntkfast.ntk(x[:4], x, **kw))
    np.testing.assert_array_equal(ntkfast.ntk(x_int, **kw), ntkfast.ntk(x_int.astype(float), **kw))
    np.testing.assert_array_equal(ntkfast.ntk(x_f32, **kw), ntkfast.ntk(x_f32.astype(float), **kw))
    np.testing.assert_array_equal(ntkfast.ntk(x_int.tolist(), x_f32, **kw),
                                  ntkfast.ntk(x_int.astype(float), x_f32.astype(float), **kw))
    np.testing.assert_array_equal(ntkfast.ntk_diag(wide[:, ::2], **kw), ntkfast.ntk_diag(x, **kw))
    # And the reference agrees on the converted inputs too.
    d = ntkfast.ntk_diag(x_int, **kw)
    assert_normalised_close(ntkfast.ntk(x_int, **kw), reference.ntk(x_int.tolist(), **kw), d, d,
                            tol_for(np.float64), "int list")
