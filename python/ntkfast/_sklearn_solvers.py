"""How the scikit-learn estimators (ntkfast._sklearn_estimators) fit and predict: the MSE dynamics
of ntk-math.md §4 at time t with f_0 = 0, on the public kernel objects and solvers. scikit-learn
itself is not imported here.

Every solver leaves a linear predictor f(x*) = K(x*, Z) β over points Z (the training points, or
Nyström centers):

- "cholesky" (t = ∞): β = (K + ridge·I)⁻¹ y by ntkfast's blocked Cholesky (the path of
  ``kernel_gd_mse`` at t = ∞, handing over to "eigh" with its RuntimeWarning when K + ridge·I is
  numerically singular);
- "eigh" (any t): with K + ridge·I = V Λ Vᵀ, β = V [(1 − e^(−tΛ/N))/Λ] Vᵀ y, the bracket of
  ``kernel_gd_mse`` (the pseudo-inverse at t = ∞);
- "cg" (t = ∞): conjugate gradients on the matrix-free operator K + ridge·I (nothing N×N stored),
  preconditioned by Nyström/Woodbury when ridge > 0;
- "nystrom" (any t): ``ntkfast.nystrom_krr`` with ``n_centers`` centers.

"auto" takes "cholesky" (t = ∞) or "eigh" (finite t) while the dense N×N work fits the memory
budget, and "nystrom" beyond it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _dynamics_args as dyn_args
from . import _regression as regression
from . import _spectral as spectral
from ._cholesky import Solved, solve as cholesky_solve
from ._dynamics_args import HeldOut, Targets
from ._threads import resolve_n_threads
from . import _validation as V

SOLVERS = ("auto", "cholesky", "eigh", "cg", "nystrom")
# Dense N×N float64 arrays alive at once on the dense paths (K, its factor or eigenvectors, and a
# temporary): what "auto" checks against the memory budget.
DENSE_ARRAYS = 3
# Centers of the Nyström solver when n_centers is None (capped at N).
DEFAULT_CENTERS = 2000


@dataclass
class Fitted:
    """f(x*) = K(x*, points) coef (or the Nyström model's predict)."""

    solver: str
    points: np.ndarray | None     # (N, d) training points for the dense and CG paths
    coef: np.ndarray | None       # (N, O)
    nystrom: Any = None           # ntkfast.NystromModel for "nystrom"

    def predict(self, kernel, x: np.ndarray, n_threads) -> np.ndarray:
        if self.nystrom is not None:
            out = self.nystrom.predict(x, n_threads=n_threads)
            return out.reshape(x.shape[0], -1)
        return np.asarray(kernel.apply(x, self.points, self.coef, n_threads=n_threads)).reshape(x.shape[0], -1)


def default_budget() -> int:
    """Half of the memory available now."""
    return V.available_memory_bytes() // 2


def resolve(solver: str, t: float, n: int, memory_budget: int | None) -> str:
    """The solver "auto" stands for, for N points and time t."""
    if solver != "auto":
        return solver
    budget = default_budget() if memory_budget is None else memory_budget
    if DENSE_ARRAYS * 8 * n * n <= budget:
        return "cholesky" if math.isinf(t) else "eigh"
    return "nystrom"


def fit(kernel, x: np.ndarray, y: np.ndarray, *, solver: str, t: float, ridge: float,
        n_centers: int | None, tol: float, random_state, memory_budget, n_threads) -> Fitted:
    """Fit on x (N, d) float64 and y (N, O) float64 with a resolved solver."""
    if solver == "nystrom":
        m = min(x.shape[0], DEFAULT_CENTERS) if n_centers is None else n_centers
        from .regression import nystrom_krr
        model = nystrom_krr(kernel, x, y, ridge=ridge, n_centers=m, t=t, tol=tol,
                            random_state=random_state, memory_budget=memory_budget,
                            progress=False, n_threads=n_threads)
        return Fitted(solver, None, None, model)
    if solver == "cg":
        return Fitted(solver, x, _cg(kernel, x, y, ridge, n_centers, tol, random_state, n_threads))
    k = kernel(x, n_threads=n_threads)
    if solver == "cholesky":
        coef = _cholesky(k, y, ridge, n_threads)
        if coef is not None:
            return Fitted(solver, x, coef)
        solver = "eigh"  # handed over, with kernel_gd_mse's warning
    lam, v, zero = spectral.spectrum(k, ridge)
    del k
    g = spectral.bracket(lam, t, x.shape[0], zero)
    coef = v @ (g[:, None] * (v.T @ y))
    return Fitted(solver, x, coef)


def _cholesky(k: np.ndarray, y: np.ndarray, ridge: float, n_threads) -> np.ndarray | None:
    """(K + ridge·I)⁻¹ y, or None (after kernel_gd_mse's warning) when the eigen path must take
    over."""
    from .dynamics import _stats_with
    threads = resolve_n_threads(n_threads)
    # the same checks on K as kernel_gd_mse (square, symmetric, finite), compiled as there
    k = dyn_args.kernel_train(k, stats=_stats_with(threads)).k
    solved = cholesky_solve(k, ridge, Targets(y, False), np.zeros_like(y), HeldOut(None, None), threads)
    if isinstance(solved, Solved):
        return solved.alpha
    regression.warn_fallback(solved)
    return None


def _cg(kernel, x, y, ridge, n_centers, tol, random_state, n_threads) -> np.ndarray:
    from .regression import cg_krr, nystrom_preconditioner
    op = kernel.operator(x, ridge=ridge, n_threads=n_threads)
    pre = None
    if ridge > 0:
        m = min(x.shape[0], DEFAULT_CENTERS) if n_centers is None else n_centers
        pre = nystrom_preconditioner(kernel, x, ridge=ridge, n_centers=m,
                                     random_state=random_state, n_threads=n_threads)
    out = cg_krr(op, y, preconditioner=pre, tol=tol, progress=False)
    return out.coefficients.reshape(x.shape[0], -1)
