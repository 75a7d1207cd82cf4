"""The hyperparameter gradient (InfiniteWidthKernel.value_and_gradient, NTKGPKernel): the numpy
reference against central finite differences of the kernel itself (independent truth), the C++
core against the reference, and the scikit-learn GP kernel's contract (hyperparameters, bounds,
composition, clone_with_theta, recovery of known σ_w², β² from GP samples)."""
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


# --- the scikit-learn GP kernel -------------------------------------------------------------
sk = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor  # noqa: E402
from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel  # noqa: E402

from ntkfast.sklearn import NTKGPKernel  # noqa: E402


def test_gp_kernel_gradient_is_the_core_gradient_and_matches_finite_differences():
    k = NTKGPKernel(depth=3, activation="erf", weight_variance=1.7, bias_variance=0.3)
    value, grad = k(X1, eval_gradient=True)
    fd_value, fd = k.set_params(analytic_gradient=False)(X1, eval_gradient=True)
    np.testing.assert_allclose(value, fd_value, rtol=1e-12)
    assert grad.shape == (7, 7, 2)
    assert np.max(np.abs(grad - fd)) <= FD_TOL * np.abs(fd).max()
    np.testing.assert_allclose(k.diag(X1), np.diagonal(value), rtol=1e-13)
    assert not k.is_stationary()
    assert [h.name for h in k.hyperparameters] == ["bias_variance", "weight_variance"]
    np.testing.assert_allclose(k.theta, np.log([0.3, 1.7]))  # scikit-learn's order: by name


def test_gp_kernel_fixed_hyperparameter_and_composition():
    k = NTKGPKernel(depth=2, bias_variance=0.2, bias_variance_bounds="fixed")
    value, grad = k(X1, eval_gradient=True)
    assert grad.shape == (7, 7, 1)
    full = NTKGPKernel(depth=2, bias_variance=0.2)(X1, eval_gradient=True)[1]
    np.testing.assert_array_equal(grad[..., 0], full[..., 1])  # full: (bias, weight)
    composed = ConstantKernel(2.0) * NTKGPKernel(depth=2) + WhiteKernel(0.1)
    value, grad = composed(X1, eval_gradient=True)
    assert grad.shape == (7, 7, 4)
    twin = composed.clone_with_theta(composed.theta + 0.1)
    assert not np.allclose(twin(X1), value)
    np.testing.assert_allclose(twin.theta, composed.theta + 0.1)
    assert clone(k).get_params() == k.get_params()


def test_gp_recovers_known_variances():
    """Samples of the NTK-GP with σ_w² = 2, β² = 0.5 (relu, depth 2, several independent outputs):
    the marginal-likelihood optimum lands near them."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((250, 3)) * rng.uniform(0.3, 2.0, (250, 1))
    truth = NTKGPKernel(depth=2, weight_variance=2.0, bias_variance=0.5)
    k = truth(x) + 1e-4 * np.eye(250)
    y = np.linalg.cholesky(k) @ rng.standard_normal((250, 8))
    start = NTKGPKernel(depth=2, weight_variance=0.5, bias_variance=0.05) + WhiteKernel(1e-4, "fixed")
    gp = GaussianProcessRegressor(start, optimizer="fmin_l_bfgs_b").fit(x, y)
    learned = gp.kernel_.k1
    assert learned.weight_variance == pytest.approx(2.0, rel=0.15)
    assert learned.bias_variance == pytest.approx(0.5, rel=0.3)
