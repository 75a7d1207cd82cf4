"""Pure-numpy implementations of every public ntkfast function, with the same signatures.

Tests check the compiled code against these; benchmarks time against them.
"""
from .empirical import apply, empirical_nngp, empirical_ntk
from .kernels import kernels, nngp, nngp_diag, ntk, ntk_diag
from .kernel_objects import InfiniteWidthKernel
from .empirical_kernel import EmpiricalKernel
from .dynamics import infinite_ensemble, kernel_gd, kernel_gd_mse
from .training import train
from .spectra import (definiteness, eigenpairs, kernel_inner, kernel_norm, operator_norm,
                      pin_norm)
from .random_functions import (flin, flin_gd, gp_prior_draws, monte_carlo_kernels,
                               network_draws, random_kernel)

__all__ = ["InfiniteWidthKernel", "EmpiricalKernel", "kernels", "nngp", "ntk", "nngp_diag", "ntk_diag", "apply", "empirical_ntk",
           "empirical_nngp", "kernel_gd_mse", "kernel_gd", "infinite_ensemble", "train",
           "pin_norm", "kernel_inner", "kernel_norm", "eigenpairs", "operator_norm", "definiteness",
           "gp_prior_draws", "network_draws", "random_kernel", "flin", "flin_gd",
           "monte_carlo_kernels"]
