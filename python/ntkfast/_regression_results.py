"""What ntkfast.regression returns: the fitted Nyström model (small, picklable, predicts in row
blocks) and the result of conjugate gradients on the full system."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from . import _regression_args as args

# predict(block_rows=None): rows per kernel call, so that one block K(x_b, C) takes about this.
PREDICT_BLOCK_BYTES = 64 << 20


@dataclass(eq=False)
class NystromModel:
    """f(x) = K(x, C) α: kernel ridge regression (t = ∞) or kernel gradient descent at time t,
    fitted by :func:`ntkfast.regression.nystrom_krr`. State O(M·d + M·O); picklable when the
    kernel object is.

    Attributes
    ----------
    kernel : the kernel object.
    centers : (M, d) float64, the Nyström centers C.
    coefficients : (M,) or (M, O) float64, α (1-D when y was 1-D).
    center_indices : (M,) rows of x the centers were drawn from (sorted), or None when given.
    ridge, t : the fit's ridge and training time (np.inf: ridge regression).
    n_train : N, the number of training points (the time scale: t is in units of lr × steps
        with the 1/N convention of ntk-math.md §4).
    solver : "falkon" (preconditioned CG), "cg" (preconditioner=False) or "spectral" (finite t).
    iterations : CG iterations (products with H), 0 for "spectral".
    residuals : (iterations + 1,) relative residual after each iteration (the largest over the
        outputs; see nystrom_krr for its norm); (0,) for "spectral".
    converged : whether every output reached tol (True for "spectral").
    jitter : added to K(C, C)'s diagonal for its Cholesky factor (0.0 when none was needed).
    kernel_passes : passes over K(X, C) the fit made (computed or read from memory).
    """

    kernel: Any
    centers: np.ndarray
    coefficients: np.ndarray
    center_indices: Optional[np.ndarray]
    ridge: float
    t: float
    n_train: int
    solver: str
    iterations: int
    residuals: np.ndarray
    converged: bool
    jitter: float
    kernel_passes: int

    @property
    def n_centers(self) -> int:
        return self.centers.shape[0]

    def predict(self, x, *, n_threads=None, block_rows=None) -> np.ndarray:
        """f(x) = K(x, C) α for x (n, d), in row blocks of ``block_rows`` rows (default: about
        64 MB of kernel values per block); shape (n,) or (n, O) like the training targets.
        Bit-identical for any ``n_threads``; another ``block_rows`` can change the last bits
        (BLAS may round products of other shapes differently). A Dask array x gives a Dask
        array, one task per row chunk (ntkfast.dask; ``block_rows`` then does not apply)."""
        if type(x).__module__.split(".")[0] == "dask":  # checked by name: dask is not imported here
            from ._dask_solver import predict

            return predict(self, x, n_threads=n_threads)
        x = args.points(x, "x", self.centers.shape[1], match="the centers")
        threads = args.n_threads(n_threads)
        m = self.centers.shape[0]
        if block_rows is None:
            block_rows = max(1, PREDICT_BLOCK_BYTES // (8 * m))
        else:
            block_rows = args.positive_int(block_rows, "block_rows")
        coef = self.coefficients.reshape(m, -1)
        out = np.empty((x.shape[0], coef.shape[1]))
        for start in range(0, x.shape[0], block_rows):
            stop = min(start + block_rows, x.shape[0])
            kb = np.asarray(self.kernel(x[start:stop], self.centers, n_threads=threads))
            np.matmul(kb.astype(np.float64, copy=False), coef, out=out[start:stop])
        return out[:, 0] if self.coefficients.ndim == 1 else out


@dataclass(eq=False)
class CGResult:
    """Conjugate gradients on (K + ridge·I) α = y (:func:`ntkfast.regression.cg_krr`).

    coefficients : (N,) or (N, O) α; predictions are K(x*, X) α.
    iterations : products with the operator.
    residuals : (iterations + 1,) relative residual ||y − A α||₂/||y||₂ after each iteration (the
        largest over the outputs).
    converged : whether every output reached tol.
    """

    coefficients: np.ndarray
    iterations: int
    residuals: np.ndarray
    converged: bool
