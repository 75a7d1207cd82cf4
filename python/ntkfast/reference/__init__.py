"""Pure-numpy implementations of every public ntkfast function, with the same signatures.

Tests check the compiled code against these; benchmarks time against them.
"""
from .empirical import apply, empirical_nngp, empirical_ntk
from .kernels import kernels, nngp, nngp_diag, ntk, ntk_diag
from .kernel_objects import InfiniteWidthKernel
from .empirical_kernel import EmpiricalKernel
from .dynamics import infinite_ensemble, kernel_gd, kernel_gd_mse
from .training import train

__all__ = ["InfiniteWidthKernel", "EmpiricalKernel", "kernels", "nngp", "ntk", "nngp_diag", "ntk_diag", "apply", "empirical_ntk",
           "empirical_nngp", "kernel_gd_mse", "kernel_gd", "infinite_ensemble", "train"]
