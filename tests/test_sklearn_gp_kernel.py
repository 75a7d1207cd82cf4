"""NTKGPKernel, the scikit-learn GP kernel: its analytic gradient against its finite-difference
mode, the Kernel contract (hyperparameters in scikit-learn's order, bounds, "fixed", composition,
clone_with_theta), and the recovery of known σ_w², β² from samples of the NTK-GP."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor  # noqa: E402
from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel  # noqa: E402

from ntkfast.sklearn import NTKGPKernel  # noqa: E402

FD_TOL = 1e-6  # the bound, relative to the largest derivative
X1 = np.random.default_rng(11).standard_normal((7, 4))


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
