"""ntkfast: neural tangent kernels from numpy, computed by a C++/OpenMP core.

    >>> import numpy as np, ntkfast
    >>> x = np.random.default_rng(0).normal(size=(100, 8))
    >>> K = ntkfast.ntk(x, depth=3, activation="relu")      # Θ^(3), shape (100, 100)

See ``ntkfast.reference`` for the plain-numpy versions and ntk-math.md for the conventions.
"""
import importlib

import scipy_openblas32  # noqa: F401  (loads the OpenBLAS that _core links against)

from . import activations, reference
from ._threads import get_num_threads, set_num_threads
from ._validation import OutputTooLargeError
from .kernels import KernelResult, kernels, nngp, nngp_diag, ntk, ntk_diag
from .kernel_objects import InfiniteWidthKernel
from .empirical import EmpiricalNTK, apply, empirical_nngp, empirical_ntk
from .empirical_kernel import EmpiricalKernel
from .networks import MLP, init_mlp
from .dynamics import EnsembleResult, KernelGDResult, infinite_ensemble, kernel_gd, kernel_gd_mse
from .training import TrainingDivergedError, TrainingHistory, train
from . import _core

__version__ = "0.1.0"
openmp_enabled = _core.openmp_enabled()

# ntkfast.regression loads scipy (about 0.2 s): imported on first use of one of its names.
_REGRESSION = ("nystrom_krr", "cg_krr", "nystrom_preconditioner", "NystromModel", "CGResult",
               "NystromPreconditioner")


def __getattr__(name):
    if name == "dask":  # the optional integration (ntkfast[dask]): loaded on first use only
        return importlib.import_module(".dask", __name__)
    if name in _REGRESSION or name == "regression":
        # import_module, not `from . import`: that asks this module for the attribute first
        regression = importlib.import_module(".regression", __name__)
        return regression if name == "regression" else getattr(regression, name)
    raise AttributeError(f"module 'ntkfast' has no attribute {name!r}")


__all__ = [
    "InfiniteWidthKernel", "kernels", "nngp", "ntk", "nngp_diag", "ntk_diag", "KernelResult", "activations",
    "MLP", "init_mlp", "apply", "empirical_ntk", "empirical_nngp", "EmpiricalNTK", "EmpiricalKernel",
    "kernel_gd_mse", "kernel_gd", "infinite_ensemble", "KernelGDResult", "EnsembleResult",
    "train", "TrainingHistory", "TrainingDivergedError",
    "nystrom_krr", "cg_krr", "nystrom_preconditioner", "NystromModel", "CGResult",
    "NystromPreconditioner",
    "reference", "set_num_threads", "get_num_threads", "OutputTooLargeError", "openmp_enabled",
]
