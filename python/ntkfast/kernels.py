"""Infinite-width NNGP and NTK kernels of fully-connected networks (fast C++ path).

Conventions (ntk-math.md §1-2): NTK parametrization, ``depth`` = L weight layers, ``weight_std`` =
σ_w, ``bias_std`` = β. ``x2=None`` computes the symmetric Gram matrix of ``x1`` (upper triangle,
mirrored; diagonal from the per-point recursion with angle exactly 0).
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._kernel_args import Call, KernelResult, make_result, n_output_arrays, parse, parse_diag
from ._threads import resolve_n_threads

__all__ = ["kernels", "nngp", "ntk", "nngp_diag", "ntk_diag", "KernelResult"]


def _projector(threads: int):
    """values @ rows.T in the core: one thread and summation order per entry, so the Mehler
    coefficients (and hence the kernels) do not depend on BLAS threading."""
    return lambda values, rows: _core.project_rows(values, rows, threads)


def _run(call: Call, *, want_nngp: bool, want_ntk: bool, layerwise: bool, threads: int) -> dict:
    dt = call.dtype
    prep = call.prepared
    cast = lambda a: np.ascontiguousarray(a, dtype=dt)  # noqa: E731
    symmetric = call.x2 is None
    m = prep.mehler
    act = call.act
    # With depth 1 there is no layer step: the activation never enters and no tables exist.
    kind = act.dual if call.depth > 1 else "identity"
    out = _core.infinite_width(
        kind=kind,
        depth=call.depth,
        weight_var=call.weight_var,
        bias_var=call.bias_var,
        param_a=act.alpha if act.dual == "elu" else act.slopes[0],
        param_b=act.slopes[1],
        x1=call.x1,
        sigma_diag1=cast(prep.sigma_diag[0]),
        x2=None if symmetric else call.x2,
        sigma_diag2=None if symmetric else cast(prep.sigma_diag[1]),
        theta_diag1=cast(prep.theta_diag[0]),
        sigma_dot_diag1=cast(prep.sigma_dot_diag[0]),
        mehler_offset=m.offset if m else 0,
        mehler_step=m.step if m else 1,
        mehler_terms=m.terms if m else [],
        mehler_rho_limits=m.rho_limits if m else [],
        coef1=cast(m.coef[0]) if m else None,
        d0_1=cast(m.d0[0]) if m else None,
        coef2=cast(m.coef[1]) if m and not symmetric else None,
        d0_2=cast(m.d0[1]) if m and not symmetric else None,
        want_nngp=want_nngp,
        want_ntk=want_ntk,
        layerwise=layerwise,
        n_threads=threads,
    )
    return out


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
                 n_output_arrays(depth, layerwise), _projector(threads))
    out = _run(call, want_nngp=True, want_ntk=True, layerwise=layerwise, threads=threads)
    return make_result(out, call, layerwise)


def nngp(x1, x2=None, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
         dtype=np.float64, n_threads=None) -> np.ndarray:
    """The NNGP kernel Σ^(L)(x1, x2), shape (N1, N2). See :func:`kernels`."""
    threads = resolve_n_threads(n_threads)
    call = parse(x1, x2, depth, activation, weight_std, bias_std, dtype, 1, _projector(threads),
                 need_ntk=False)
    return _run(call, want_nngp=True, want_ntk=False, layerwise=False, threads=threads)["nngp"]


def ntk(x1, x2=None, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
        dtype=np.float64, n_threads=None) -> np.ndarray:
    """The neural tangent kernel Θ^(L)(x1, x2), shape (N1, N2). See :func:`kernels`."""
    threads = resolve_n_threads(n_threads)
    call = parse(x1, x2, depth, activation, weight_std, bias_std, dtype, 1, _projector(threads))
    return _run(call, want_nngp=False, want_ntk=True, layerwise=False, threads=threads)["ntk"]


def nngp_diag(x, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
              dtype=np.float64, n_threads=None) -> np.ndarray:
    """Σ^(L)(x_i, x_i) for every row of x, shape (N,), in O(N·L). Equal, bit for bit, to the
    diagonal of ``nngp(x)``."""
    prep, dt = parse_diag(x, depth, activation, weight_std, bias_std, dtype,
                          _projector(resolve_n_threads(n_threads)), need_ntk=False)
    return prep.sigma_diag[0][-1].astype(dt)


def ntk_diag(x, *, depth, activation="relu", weight_std=1.0, bias_std=0.0,
             dtype=np.float64, n_threads=None) -> np.ndarray:
    """Θ^(L)(x_i, x_i) for every row of x, shape (N,), in O(N·L). Equal, bit for bit, to the
    diagonal of ``ntk(x)``."""
    prep, dt = parse_diag(x, depth, activation, weight_std, bias_std, dtype,
                          _projector(resolve_n_threads(n_threads)))
    return prep.theta_diag[0][-1].astype(dt)
