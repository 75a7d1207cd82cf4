"""NTKRegressor and NTKClassifier: the prediction of an infinitely wide fully-connected network
trained by gradient descent for time t on the MSE (ntk-math.md §4, f_0 = 0), as scikit-learn
estimators. Imported by ntkfast.sklearn only (``import ntkfast`` never loads scikit-learn).
Input validation is scikit-learn's (validate_data, check_scalar, check_classification_targets);
the fitting is ntkfast._sklearn_solvers on the public kernel objects and solvers.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from . import _sklearn_solvers as solvers
from .kernel_objects import InfiniteWidthKernel

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn 1.3 to 1.5
    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)

KERNELS = ("ntk", "nngp")


class _NTKEstimator(BaseEstimator):
    """The parameters and the fit/predict machinery both estimators share."""

    def __init__(self, *, depth=3, activation="relu", weight_std=1.0, bias_std=0.0, kernel="ntk",
                 t=np.inf, ridge=1e-6, solver="auto", n_centers=None, tol=1e-7,
                 memory_budget=None, random_state=None, n_threads=None):
        self.depth = depth
        self.activation = activation
        self.weight_std = weight_std
        self.bias_std = bias_std
        self.kernel = kernel
        self.t = t
        self.ridge = ridge
        self.solver = solver
        self.n_centers = n_centers
        self.tol = tol
        self.memory_budget = memory_budget
        self.random_state = random_state
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    # --- parameters ------------------------------------------------------------------------
    def _checked(self, n_samples: int) -> dict:
        """The parameters validated for a fit on n_samples points (errors name the parameter)."""
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel: expected one of {KERNELS}, got {self.kernel!r}")
        if self.solver not in solvers.SOLVERS:
            raise ValueError(f"solver: expected one of {solvers.SOLVERS}, got {self.solver!r}")
        t = check_scalar(self.t, "t", numbers.Real, min_val=0.0)
        if math.isnan(t):
            raise ValueError("t: expected a time >= 0 or np.inf, got nan")
        ridge = check_scalar(self.ridge, "ridge", numbers.Real, min_val=0.0)
        if not math.isfinite(ridge):
            raise ValueError(f"ridge: expected a finite number >= 0, got {ridge!r}")
        tol = check_scalar(self.tol, "tol", numbers.Real, min_val=0.0, include_boundaries="neither")
        n_centers = self.n_centers
        if n_centers is not None:
            n_centers = check_scalar(n_centers, "n_centers", numbers.Integral, min_val=1)
            if n_centers > n_samples:
                raise ValueError(f"n_centers: expected at most n_samples = {n_samples} centers, "
                                 f"got {n_centers}")
        solver = solvers.resolve(self.solver, float(t), n_samples, self.memory_budget)
        if solver in ("cholesky", "cg") and not math.isinf(t):
            raise ValueError(f"solver: {solver!r} solves t = inf (kernel ridge regression) only; "
                             f"use 'eigh' or 'nystrom' for t = {t!r}")
        return dict(solver=solver, t=float(t), ridge=float(ridge), tol=float(tol),
                    n_centers=n_centers, random_state=_seed(self.random_state))

    def _make_kernel(self) -> InfiniteWidthKernel:
        return InfiniteWidthKernel(depth=self.depth, activation=self.activation,
                                   weight_std=self.weight_std, bias_std=self.bias_std,
                                   get=self.kernel)

    # --- fit / predict on (N, O) targets -----------------------------------------------------
    def _fit_targets(self, x: np.ndarray, y2d: np.ndarray):
        p = self._checked(x.shape[0])
        kernel = self._make_kernel()
        self._fitted = solvers.fit(kernel, x, y2d, memory_budget=self.memory_budget,
                                   n_threads=self.n_threads, **p)
        self.kernel_ = kernel
        self.solver_ = self._fitted.solver
        if self._fitted.nystrom is None:
            self.X_fit_ = self._fitted.points
            self.dual_coef_ = self._fitted.coef
        else:
            self.nystrom_model_ = self._fitted.nystrom
        return self

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self)
        x = _validate_data(self, X, reset=False, dtype=np.float64, accept_sparse=False)
        return self._fitted.predict(self.kernel_, x, self.n_threads)


class NTKRegressor(RegressorMixin, _NTKEstimator):
    """Kernel regression with the infinite-width NTK (or NNGP) of a fully-connected network: the
    mean prediction of infinitely wide networks trained by gradient descent on the MSE for time
    ``t`` from f_0 = 0 (``t=np.inf``: kernel ridge regression with ``ridge`` on the diagonal).

    Parameters
    ----------
    depth, activation, weight_std, bias_std : the network (``ntkfast.InfiniteWidthKernel``).
    kernel : "ntk" (gradient descent of every layer) or "nngp" (the last layer alone).
    t : training time >= 0 (learning rate × steps, 1/N convention of ``kernel_gd_mse``), np.inf.
    ridge : >= 0, added to the kernel's diagonal (the dynamics use K + ridge·I).
    solver : "auto", "cholesky" (t = inf), "eigh", "cg" (t = inf, matrix-free) or "nystrom";
        "auto" picks cholesky / eigh while three N×N float64 arrays fit ``memory_budget``
        (default: half the available memory), nystrom beyond.
    n_centers : Nyström centers ("nystrom"; also the preconditioner of "cg"), default
        min(N, 2000); at most n_samples.
    tol : relative residual at which "cg" and "nystrom" stop.
    random_state : the draw of the Nyström centers.
    n_threads : threads of every kernel call (None: ntkfast's default).

    Attributes
    ----------
    kernel_ : the ``InfiniteWidthKernel``; solver_ : the solver used; X_fit_, dual_coef_ (dense
    and CG solvers; predictions are kernel_(X, X_fit_) @ dual_coef_) or nystrom_model_;
    n_features_in_, feature_names_in_.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6 reads its tags here
        return {"multioutput": True}

    def fit(self, X, y):
        x, y = _validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True,
                              accept_sparse=False)
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        self._y_fit = y
        return self._fit_targets(x, y.reshape(y.shape[0], -1))

    def predict(self, X, return_std=False, return_cov=False):
        """Mean prediction, (n,) or (n, n_outputs). With ``return_std`` / ``return_cov`` also the
        standard deviation (n,) / covariance (n, n) over random initializations of the infinitely
        wide network at time t (``ntkfast.infinite_ensemble``: f_0 ~ GP(0, NNGP), trained with
        the NTK or the NNGP; shared by every output). Those need the training points, so the
        "nystrom" solver refuses them; they compute the dense kernels of the training and test
        points together and one eigendecomposition (O((N + n)²) memory, O(N³) time) per call."""
        if return_std and return_cov:
            raise ValueError("predict: at most one of return_std and return_cov can be requested")
        f = self._outputs(X)
        mean = f[:, 0] if self._y_1d else f
        if not (return_std or return_cov):
            return mean
        if self._fitted.nystrom is not None:
            raise ValueError("predict: return_std / return_cov need the training points; the "
                             "'nystrom' solver does not keep them (use 'cholesky' or 'eigh')")
        from .dynamics import infinite_ensemble
        x = _validate_data(self, X, reset=False, dtype=np.float64, accept_sparse=False)
        ens = infinite_ensemble(self.X_fit_, self._y_fit, x, self.t, get=self.kernel,
                                depth=self.depth, activation=self.activation,
                                weight_std=self.weight_std, bias_std=self.bias_std,
                                ridge=self.ridge, covariance=bool(return_cov),
                                n_threads=self.n_threads)
        if return_cov:
            return mean, ens.cov[0]
        return mean, np.sqrt(ens.var[0])


class NTKClassifier(ClassifierMixin, _NTKEstimator):
    """Classification by NTK (or NNGP) regression of centred one-hot targets, the standard recipe
    of the NTK literature: an infinitely wide network trained by gradient descent on the MSE
    for time ``t`` towards e_c − 1/C; the predicted class is the largest output.

    Parameters as :class:`NTKRegressor`. Labels may be any values ``numpy.unique`` orders
    (strings included); at least 2 classes.

    There is deliberately no ``predict_proba``: the outputs are least-squares regression values,
    not probabilities (they are unbounded and need not be positive), and no transformation of them
    is the network's probability of a class. Use ``decision_function``, or wrap the classifier in
    ``sklearn.calibration.CalibratedClassifierCV`` for calibrated probabilities.

    Attributes: ``classes_``, and those of :class:`NTKRegressor`.
    """

    def fit(self, X, y):
        x, y = _validate_data(self, X, y, dtype=np.float64, accept_sparse=False)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        c = self.classes_.size
        if c < 2:
            raise ValueError(f"NTKClassifier needs samples of at least 2 classes; got 1 class: "
                             f"{self.classes_[0]!r}")
        targets = np.full((x.shape[0], c), -1.0 / c)
        targets[np.arange(x.shape[0]), index] += 1.0
        return self._fit_targets(x, targets)

    def decision_function(self, X):
        """The network's outputs, (n, C); for 2 classes the score of ``classes_[1]``, (n,)
        (output 1 minus output 0)."""
        f = self._outputs(X)
        return f[:, 1] - f[:, 0] if f.shape[1] == 2 else f

    def predict(self, X):
        f = self._outputs(X)
        return self.classes_[np.argmax(f, axis=1)]


def _seed(random_state):
    """None, an int or a numpy Generator pass through (ntkfast takes them); scikit-learn's
    RandomState instances give an int drawn from them."""
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.Generator)):
        return random_state
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
