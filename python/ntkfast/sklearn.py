"""scikit-learn integration (``pip install ntkfast[sklearn]``): estimators and a Gaussian-process
kernel. ``import ntkfast`` does not import this module, nor scikit-learn.

    >>> from ntkfast.sklearn import NTKClassifier, NTKRegressor, NTKGPKernel
    >>> NTKClassifier(depth=3, ridge=1e-4).fit(X, y).predict(X_test)
    >>> GaussianProcessRegressor(NTKGPKernel(depth=3) + WhiteKernel()).fit(X, y)

NTKRegressor / NTKClassifier: the prediction of an infinitely wide fully-connected network trained
by gradient descent on the MSE for time t (kernel regression at t = inf), dense or Nyström
solvers chosen by problem size. NTKGPKernel: the NTK / NNGP with σ_w² and β² as hyperparameters
and their analytic gradient, for GaussianProcessRegressor.
"""
try:
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("ntkfast.sklearn needs scikit-learn >= 1.3: pip install 'ntkfast[sklearn]'") from exc

from ._sklearn_estimators import NTKClassifier, NTKRegressor
from ._sklearn_gp_kernel import NTKGPKernel

__all__ = ["NTKRegressor", "NTKClassifier", "NTKGPKernel"]
