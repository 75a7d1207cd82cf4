"""The hyperparameter gradient (InfiniteWidthKernel.value_and_gradient): the numpy reference
against central finite differences of the kernel itself (independent truth), the C++ core
against the reference (parity, thread invariance, symmetry). The scikit-learn GP kernel built on
it: test_sklearn_gp_kernel.py."""
from __future__ import annotations

import numpy as np
import pytest

import ntkfast
from ntkfast import reference

FD_STEP = 1e-4   # central differences in log-variance: truncation ~1e-9 relative
FD_TOL = 1e-6    # the bound, relative to the largest derivative
PARITY_TOL = 1e-12

RNG = np.random.default_rng(11)
X1 = RNG.standard_normal((7, 4))
X2 = RNG.standard_normal((5, 4)) * 1.5


def finite_differences(kernel, x1, x2):
    """∂K/∂log σ_w², ∂K/∂log β² by central differences of the kernel (std · e^(±h/2))."""
    out = []
    for name in ("weight_std", "bias_std"):
        std = getattr(kernel, name)
        if std == 0:
            out.append(np.zeros((x1.shape[0], (x1 if x2 is None else x2).shape[0])))
            continue
        up = kernel.replace(**{name: std * np.exp(FD_STEP / 2)})(x1, x2)
        down = kernel.replace(**{name: std * np.exp(-FD_STEP / 2)})(x1, x2)
        out.append((up - down) / (2 * FD_STEP))
    return np.stack(out, axis=-1)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("bias_std", [0.0, 0.4])
def test_reference_gradient_matches_finite_differences(activation, depth, bias_std):
    get = "ntk" if depth % 2 else "nngp"  # both kernels, alternating to keep the suite short
    params = dict(depth=depth, activation=activation, weight_std=1.3, bias_std=bias_std, get=get)
    fast = ntkfast.InfiniteWidthKernel(**params)
    for x2 in (None, X2):
        value, grad = reference.InfiniteWidthKernel(**params).value_and_gradient(X1, x2)
        want = finite_differences(fast, X1, x2)
        assert np.max(np.abs(grad - want)) <= FD_TOL * np.max(np.abs(want))
        np.testing.assert_allclose(value, fast(X1, x2), rtol=1e-10, atol=1e-12 * np.abs(value).max())
        if bias_std == 0:
            assert not grad[..., 1].any()


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "abs", "erf", "identity", "sin",
                                        "tanh", "gelu", "softplus"])
@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_core_matches_reference(activation, get):
    for depth in (1, 2, 4):
        params = dict(depth=depth, activation=activation, weight_std=0.9, bias_std=0.3, get=get)
        for x2 in (None, X2):
            v_ref, g_ref = reference.InfiniteWidthKernel(**params).value_and_gradient(X1, x2)
            v, g = ntkfast.InfiniteWidthKernel(**params).value_and_gradient(X1, x2)
            assert np.max(np.abs(v - v_ref)) <= PARITY_TOL * np.abs(v_ref).max()
            assert np.max(np.abs(g - g_ref)) <= PARITY_TOL * np.abs(g_ref).max()


def test_core_is_thread_invariant_and_symmetric():
    x = RNG.standard_normal((70, 6))
    k = ntkfast.InfiniteWidthKernel(depth=3, activation="tanh", bias_std=0.2)
    v1, g1 = k.value_and_gradient(x, n_threads=1)
    v2, g2 = k.value_and_gradient(x, n_threads=2)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(g1, np.swapaxes(g1, 0, 1))
    # the diagonal from the per-point recursion (its own full Hermite series: rounding apart)
    np.testing.assert_allclose(np.diagonal(v1), k.diag(x), rtol=1e-12)
