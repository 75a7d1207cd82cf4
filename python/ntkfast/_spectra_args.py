"""Argument parsing for ntkfast.spectra and its numpy twin: what a "kernel on a dataset" may be,
and the checks of k, which, tolerances. Shared, so both paths refuse the same inputs alike.

A kernel on N points is one of
  - a Gram array (N, N): a scalar kernel, standing for K ⊗ Id_{n_L} (its spectrum is K's, each
    eigenvalue n_L times, so every answer here is K's);
  - a Gram array (N, N, O, O): full output blocks K_ab(x_i, x_j) (``empirical_ntk(...,
    output="full")``), flattened to the (N·O, N·O) matrix with row index i·O + a;
  - a kernel object (``InfiniteWidthKernel``, ``EmpiricalKernel``, their reference twins) with
    the points ``x``: the Gram is ``kernel(x)``, or never formed where the object has an
    ``operator`` (the infinite-width kernels) and the matrix-free path is taken.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _validation as V

# A Gram whose transpose differs from it by more than this (relative to its largest entry) is
# not a rounding of a symmetric matrix: refused. Below it, (K + Kᵀ)/2 is used.
SYMMETRY_RTOL = 1e-10

WHICH = ("top", "bottom")


def is_kernel_object(kernel) -> bool:
    return callable(kernel) and not isinstance(kernel, np.ndarray)


def gram(kernel, x=None, name: str = "kernel") -> tuple[np.ndarray, int]:
    """The dense symmetric (M, M) float64 matrix of a kernel on the dataset (M = N or N·O), and
    N, the number of points."""
    if is_kernel_object(kernel):
        if x is None:
            raise ValueError(f"x: a kernel object ({type(kernel).__name__}) needs the points x")
        kernel = kernel(x)
        name = f"{name}(x)"
    elif x is not None:
        raise ValueError("x: give the points only with a kernel object; a Gram array is already "
                         "the kernel on its points")
    try:
        arr = np.asarray(kernel)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name}: expected a Gram array (N, N) or (N, N, O, O); {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    n = arr.shape[0] if arr.ndim else 0
    if arr.ndim == 4 and arr.shape[0] == arr.shape[1] and arr.shape[2] == arr.shape[3]:
        o = arr.shape[2]
        arr = arr.transpose(0, 2, 1, 3).reshape(n * o, n * o)
    elif arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name}: expected a square Gram array (N, N) or full output blocks "
                         f"(N, N, O, O), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one point, got shape {arr.shape}")
    k = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(k).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(k))[0])
        raise ValueError(f"{name}: contains NaN or infinity (first at index {bad} of the "
                         f"{k.shape} matrix)")
    return symmetric(k, name), n


def symmetric(k: np.ndarray, name: str) -> np.ndarray:
    """k, checked to be symmetric up to rounding, as (k + kᵀ)/2."""
    diff = np.abs(k - k.T)
    worst = float(diff.max())
    scale = float(np.abs(k).max())
    if worst > SYMMETRY_RTOL * scale:
        i, j = (int(v) for v in np.unravel_index(int(diff.argmax()), diff.shape))
        raise ValueError(
            f"{name}: expected a symmetric Gram matrix, but entry [{i}, {j}] = {k[i, j]!r} and "
            f"[{j}, {i}] = {k[j, i]!r} differ by {worst:.3g} ({worst / scale:.3g} of the largest "
            f"entry; at most {SYMMETRY_RTOL:g} is taken for rounding)")
    return 0.5 * (k + k.T) if worst else k


def count(k, size: int, name: str = "k") -> int:
    """How many eigenpairs: an integer 1 <= k <= size (size = N·O, the Gram's order)."""
    k = V.scalar(k)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name}: expected an integer number of eigenpairs, got {k!r}")
    if k <= 0:
        raise ValueError(f"{name}: expected at least 1 eigenpair, got {k}")
    if k > size:
        raise ValueError(f"{name}: asked for {k} eigenpairs of a Gram of order {size} (the "
                         f"dataset has only {size} directions)")
    return int(k)


def positive_count(value, name: str) -> int:
    """An integer >= 1 (P, widths, numbers of draws)."""
    value = V.scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer >= 1, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name}: expected an integer >= 1, got {value}")
    return int(value)


def which(value) -> str:
    return V.choice(value, "which", WHICH)


def method(value, options: tuple) -> str:
    return V.choice(value, "method", options)


def positive(value, name: str) -> float:
    v = V.nonnegative(value, name)
    if v == 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return v


def functions(f, size: int, n_points: int, name: str) -> np.ndarray:
    """f on the dataset as the flat vector of length N·O that the Gram acts on: (N,) or (N, O)
    for a Gram of order N·O (O = 1 for (N,)); a scalar Gram (order N) takes any O, as K ⊗ Id."""
    arr = np.asarray(f)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2) or arr.shape[0] != n_points:
        raise ValueError(f"{name}: expected an array of shape ({n_points},) or ({n_points}, O), "
                         f"got shape {arr.shape}")
    arr = np.asarray(arr, dtype=np.float64).reshape(n_points, -1)
    if size != n_points and arr.size != size:
        raise ValueError(f"{name}: the kernel has {size // n_points} outputs per point, got shape "
                         f"{f.shape if hasattr(f, 'shape') else arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    return arr
