"""Infinite-width NNGP and NTK kernels of fully-connected networks (fast C++ path).

Conventions (ntk-math.md §1-2): NTK parametrization, ``depth`` = L weight layers, ``weight_std`` =
σ_w, ``bias_std`` = β. ``x2=None`` computes the symmetric Gram matrix of ``x1`` (upper triangle,
mirrored; diagonal from the per-point recursion with angle exactly 0).
"""
from __future__ import annotations

import numpy as np

from ._kernel_args import KernelResult
from .kernel_objects import InfiniteWidthKernel

__all__ = ["kernels", "nngp", "ntk", "nngp_diag", "ntk_diag", "KernelResult"]


def kernels(x1, x2=None, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
            dtype=np.float64, n_threads=None, layerwise=False) -> KernelResult:
    """NNGP Σ^(L) and NTK Θ^(L) in one pass; with ``layerwise=True`` every layer too.

    Parameters
    ----------
    x1 : array_like, shape (N1, n0)
    x2 : array_like, shape (N2, n0), optional. None: the symmetric Gram matrix of x1.
    depth : int >= 1, the number of weight layers L.
    activation : name, ``ntkfast.activations`` object or callable. Closed forms for relu,
        leaky_relu, abs, erf, identity, sin; a Mehler series with a stated error otherwise.
    weight_std, bias_std : σ_w and β of the NTK parametrization.
    dtype : numpy.float64 (default) or numpy.float32 (computed in float32 throughout).
    n_threads : None (the ntkfast / OpenMP default), a positive count, or negative (all CPUs
        but |n|-1).
    """
    kernel = InfiniteWidthKernel(depth=depth, activation=activation, weight_std=weight_std,
                                 bias_std=bias_std, dtype=dtype)
    return kernel.kernels(x1, x2, layerwise=layerwise, n_threads=n_threads)


def nngp(x1, x2=None, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
         dtype=np.float64, n_threads=None) -> np.ndarray:
    """The NNGP kernel Σ^(L)(x1, x2), shape (N1, N2). See :func:`kernels`."""
    kernel = InfiniteWidthKernel(depth=depth, activation=activation, weight_std=weight_std,
                                 bias_std=bias_std, get="nngp", dtype=dtype)
    return kernel(x1, x2, n_threads=n_threads)


def ntk(x1, x2=None, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
        dtype=np.float64, n_threads=None) -> np.ndarray:
    """The neural tangent kernel Θ^(L)(x1, x2), shape (N1, N2). See :func:`kernels`."""
    kernel = InfiniteWidthKernel(depth=depth, activation=activation, weight_std=weight_std,
                                 bias_std=bias_std, get="ntk", dtype=dtype)
    return kernel(x1, x2, n_threads=n_threads)


def nngp_diag(x, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
              dtype=np.float64, n_threads=None) -> np.ndarray:
    """Σ^(L)(x_i, x_i) for every row of x, shape (N,), in O(N·L). Equal, bit for bit, to the
    diagonal of ``nngp(x)``."""
    kernel = InfiniteWidthKernel(depth=depth, activation=activation, weight_std=weight_std,
                                 bias_std=bias_std, get="nngp", dtype=dtype)
    return kernel.diag(x, n_threads=n_threads)


def ntk_diag(x, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
             dtype=np.float64, n_threads=None) -> np.ndarray:
    """Θ^(L)(x_i, x_i) for every row of x, shape (N,), in O(N·L). Equal, bit for bit, to the
    diagonal of ``ntk(x)``."""
    kernel = InfiniteWidthKernel(depth=depth, activation=activation, weight_std=weight_std,
                                 bias_std=bias_std, get="ntk", dtype=dtype)
    return kernel.diag(x, n_threads=n_threads)
