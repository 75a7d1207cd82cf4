"""Infinite-width NNGP and NTK kernels of fully-connected networks (fast C++ path).

Conventions (ntk-math.md §1-2): NTK parametrization, ``depth`` = L weight layers, ``weight_std`` =
σ_w, ``bias_std`` = β. ``x2=None`` computes the symmetric Gram matrix of ``x1`` (upper triangle,
mirrored; diagonal from the per-point recursion with angle exactly 0).
"""
from __future__ import annotations

import numpy as np

from ._kernel_args import KernelResult, make_result, n_output_arrays, parse, parse_diag
from ._kernel_passes import projector, run, table_budget
from ._threads import resolve_n_threads

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
    threads = resolve_n_threads(n_threads)
    call = parse(x1, x2, depth, activation, weight_std, bias_std, dtype,
                 n_output_arrays(depth, layerwise), projector(threads),
                 table_budget=None if layerwise else table_budget)
    out = run(call, want_nngp=True, want_ntk=True, layerwise=layerwise, threads=threads)
    return make_result(out, call, layerwise)


def nngp(x1, x2=None, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
         dtype=np.float64, n_threads=None) -> np.ndarray:
    """The NNGP kernel Σ^(L)(x1, x2), shape (N1, N2). See :func:`kernels`."""
    threads = resolve_n_threads(n_threads)
    call = parse(x1, x2, depth, activation, weight_std, bias_std, dtype, 1, projector(threads),
                 need_ntk=False, table_budget=table_budget)
    return run(call, want_nngp=True, want_ntk=False, layerwise=False, threads=threads)["nngp"]


def ntk(x1, x2=None, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
        dtype=np.float64, n_threads=None) -> np.ndarray:
    """The neural tangent kernel Θ^(L)(x1, x2), shape (N1, N2). See :func:`kernels`."""
    threads = resolve_n_threads(n_threads)
    call = parse(x1, x2, depth, activation, weight_std, bias_std, dtype, 1, projector(threads),
                 table_budget=table_budget)
    return run(call, want_nngp=False, want_ntk=True, layerwise=False, threads=threads)["ntk"]


def nngp_diag(x, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
              dtype=np.float64, n_threads=None) -> np.ndarray:
    """Σ^(L)(x_i, x_i) for every row of x, shape (N,), in O(N·L). Equal, bit for bit, to the
    diagonal of ``nngp(x)``."""
    prep, dt = parse_diag(x, depth, activation, weight_std, bias_std, dtype,
                          projector(resolve_n_threads(n_threads)), need_ntk=False)
    return prep.last[0].sigma[-1].astype(dt)


def ntk_diag(x, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
             dtype=np.float64, n_threads=None) -> np.ndarray:
    """Θ^(L)(x_i, x_i) for every row of x, shape (N,), in O(N·L). Equal, bit for bit, to the
    diagonal of ``ntk(x)``."""
    prep, dt = parse_diag(x, depth, activation, weight_std, bias_std, dtype,
                          projector(resolve_n_threads(n_threads)))
    return prep.last[0].theta[-1].astype(dt)
