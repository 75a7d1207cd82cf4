"""Placeholder (issue 4): kernel gradient descent in function space."""
__all__ = ["kernel_gd_mse", "kernel_gd", "infinite_ensemble", "KernelGDResult", "EnsembleResult"]


class KernelGDResult:  # placeholder
    pass


class EnsembleResult:  # placeholder
    pass


def kernel_gd_mse(*args, **kwargs):
    raise NotImplementedError


def kernel_gd(*args, **kwargs):
    raise NotImplementedError


def infinite_ensemble(*args, **kwargs):
    raise NotImplementedError
