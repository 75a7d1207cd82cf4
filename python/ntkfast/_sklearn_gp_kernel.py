"""NTKGPKernel: the infinite-width NTK or NNGP as a ``sklearn.gaussian_process.kernels.Kernel``
with σ_w² and β² as hyperparameters, so GaussianProcessRegressor can learn them by maximising the
marginal likelihood. The gradient it hands over is analytic: ∂K/∂log σ_w² and ∂K/∂log β² from the
C++ core alongside the kernel (InfiniteWidthKernel.value_and_gradient). ``analytic_gradient=False``
replaces it by central finite differences (the comparison of ``ntkfast bench --suite sklearn``).
"""
from __future__ import annotations

import numpy as np
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel

from .kernel_objects import InfiniteWidthKernel

_AXIS = {"weight_variance": 0, "bias_variance": 1}  # of InfiniteWidthKernel.value_and_gradient
# Step in log-space of the finite-difference gradient (central: error ~h² relative).
FD_STEP = 1e-5


class NTKGPKernel(Kernel):
    """k(x, x') = Θ^(L)(x, x') (``kernel="ntk"``) or Σ^(L)(x, x') (``"nngp"``) of a
    fully-connected network of ``depth`` weight layers, with hyperparameters

    weight_variance : σ_w² > 0 (bounds ``weight_variance_bounds``, log-space; "fixed" allowed)
    bias_variance : β² (``bias_variance_bounds``); 0 only with bounds "fixed" (log-space
        optimisation cannot reach 0).

    ``diag(X)`` is O(N·L); the kernel is not stationary. Composes with ConstantKernel,
    WhiteKernel, sums and products like any scikit-learn kernel. ``n_threads`` as in ntkfast.
    """

    def __init__(self, depth=3, activation="relu", kernel="ntk", weight_variance=1.0,
                 bias_variance=0.1, weight_variance_bounds=(1e-2, 1e2),
                 bias_variance_bounds=(1e-5, 1e2), analytic_gradient=True, n_threads=None):
        self.depth = depth
        self.activation = activation
        self.kernel = kernel
        self.weight_variance = weight_variance
        self.bias_variance = bias_variance
        self.weight_variance_bounds = weight_variance_bounds
        self.bias_variance_bounds = bias_variance_bounds
        self.analytic_gradient = analytic_gradient
        self.n_threads = n_threads

    @property
    def hyperparameter_weight_variance(self):
        return Hyperparameter("weight_variance", "numeric", self.weight_variance_bounds)

    @property
    def hyperparameter_bias_variance(self):
        return Hyperparameter("bias_variance", "numeric", self.bias_variance_bounds)

    def _kernel_object(self, weight_variance=None, bias_variance=None) -> InfiniteWidthKernel:
        if self.kernel not in ("ntk", "nngp"):
            raise ValueError(f"kernel: expected 'ntk' or 'nngp', got {self.kernel!r}")
        wv = self.weight_variance if weight_variance is None else weight_variance
        bv = self.bias_variance if bias_variance is None else bias_variance
        if not (np.isfinite(wv) and wv > 0):
            raise ValueError(f"weight_variance: expected a positive finite number, got {wv!r}")
        if not (np.isfinite(bv) and bv >= 0):
            raise ValueError(f"bias_variance: expected a finite number >= 0, got {bv!r}")
        return InfiniteWidthKernel(depth=self.depth, activation=self.activation,
                                   weight_std=float(np.sqrt(wv)), bias_std=float(np.sqrt(bv)),
                                   get=self.kernel)

    def __call__(self, X, Y=None, eval_gradient=False):
        """K(X, Y) (Y None: K(X, X)); with ``eval_gradient`` (Y must be None) also
        ∂K/∂log θ, shape (N, N, number of non-fixed hyperparameters), in the order of
        ``self.hyperparameters`` (scikit-learn's: by name, bias_variance first)."""
        X = np.atleast_2d(X)
        if not eval_gradient:
            return self._kernel_object()(X, None if Y is None else np.atleast_2d(Y),
                                         n_threads=self.n_threads)
        if Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        # scikit-learn orders hyperparameters by name (bias_variance first): θ and the gradient's
        # last axis follow that order, the core's axis is (weight, bias)
        free = [_AXIS[h.name] for h in self.hyperparameters if not h.fixed]
        if _AXIS["bias_variance"] in free and self.bias_variance == 0:
            raise ValueError("bias_variance: 0 cannot be optimised in log-space; give a positive "
                             "value or bias_variance_bounds='fixed'")
        if self.analytic_gradient:
            k, grad = self._kernel_object().value_and_gradient(X, n_threads=self.n_threads)
        else:
            k = self._kernel_object()(X, n_threads=self.n_threads)
            grad = self._finite_differences(X, free)
        return k, np.ascontiguousarray(grad[:, :, free])

    def _finite_differences(self, X, free) -> np.ndarray:
        grad = np.zeros(X.shape[:1] * 2 + (2,))
        values = (self.weight_variance, self.bias_variance)
        for p in free:
            sides = []
            for sign in (1, -1):
                changed = list(values)
                changed[p] = values[p] * np.exp(sign * FD_STEP)
                sides.append(self._kernel_object(*changed)(X, n_threads=self.n_threads))
            grad[:, :, p] = (sides[0] - sides[1]) / (2 * FD_STEP)
        return grad

    def diag(self, X):
        return self._kernel_object().diag(np.atleast_2d(X), n_threads=self.n_threads)

    def is_stationary(self):
        return False

    @property
    def requires_vector_input(self):
        return True

    def __repr__(self):
        return (f"{type(self).__name__}(depth={self.depth}, activation={self.activation!r}, "
                f"kernel={self.kernel!r}, weight_variance={self.weight_variance:.3g}, "
                f"bias_variance={self.bias_variance:.3g})")
