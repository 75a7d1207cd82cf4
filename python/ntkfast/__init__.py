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
# ntkfast.spectra and ntkfast.random_functions follow the same rule: spectra's Lanczos path loads
# scipy, and loading them lazily keeps `import ntkfast` as light as it was.
_LAZY = {
    "regression": ("nystrom_krr", "cg_krr", "nystrom_preconditioner", "NystromModel", "CGResult",
                   "NystromPreconditioner"),
    "spectra": ("pin_norm", "kernel_inner", "kernel_norm", "eigenpairs", "operator_norm",
                "definiteness", "Eigenpairs", "Definiteness", "SpectrumNotConvergedError"),
    "random_functions": ("gp_prior_draws", "network_draws", "random_kernel", "flin", "flin_gd",
                         "monte_carlo_kernels", "PriorDraws", "FlinGDResult", "MonteCarloKernels"),
    "dask": (),  # the optional integration (ntkfast[dask]): `ntkfast.dask` imports dask
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name):
    module = name if name in _LAZY else _LAZY_NAMES.get(name)
    if module is not None:
        # import_module, not `from . import`: that asks this module for the attribute first
        loaded = importlib.import_module(f".{module}", __name__)
        return loaded if name == module else getattr(loaded, name)
    raise AttributeError(f"module 'ntkfast' has no attribute {name!r}")


__all__ = [
    "InfiniteWidthKernel", "kernels", "nngp", "ntk", "nngp_diag", "ntk_diag", "KernelResult", "activations",
    "MLP", "init_mlp", "apply", "empirical_ntk", "empirical_nngp", "EmpiricalNTK", "EmpiricalKernel",
    "kernel_gd_mse", "kernel_gd", "infinite_ensemble", "KernelGDResult", "EnsembleResult",
    "train", "TrainingHistory", "TrainingDivergedError",
    "nystrom_krr", "cg_krr", "nystrom_preconditioner", "NystromModel", "CGResult",
    "NystromPreconditioner",
    *_LAZY["spectra"], *_LAZY["random_functions"],
    "reference", "set_num_threads", "get_num_threads", "OutputTooLargeError", "openmp_enabled",
]
