"""Blocks of a kernel's Gram from the row slices they span, for every kernel object.

A symmetric Gram K(X) computes each entry above the diagonal with its row point first, mirrors
it below, and takes the diagonal from the per-point values; the kernel functions are not
bit-symmetric in their two points (products in another order round differently). A block
K(X)[i0:i0+n, j0:j0+m] computed from the slices alone must therefore know where it sits: the
entries above the diagonal are the cross kernel K(rows, cols), those below the transpose of
K(cols, rows), those on it ``kernel.diag``. Only blocks that straddle the diagonal need both
orientations (twice the work); a square block centred on the diagonal is the symmetric Gram of
its rows, computed the same way as the whole one (one triangle, mirrored), so it takes one call.

The kernel object provides ``kernel(x1, x2, n_threads=)``, ``kernel.diag(x, n_threads=)``,
``kernel.dtype`` and ``kernel._points(x, name, n_features)`` (validation and casting).
"""
from __future__ import annotations

import numbers

import numpy as np


def cross_tile(kernel, x_rows, x_cols, n_threads) -> np.ndarray:
    """K(x_rows, x_cols): the block of kernel(x1, x2) for any x1, x2 holding these rows."""
    empty = _empty_tile(kernel, x_rows, x_cols)
    return empty if empty is not None else kernel(x_rows, x_cols, n_threads=n_threads)


def symmetric_tile(kernel, x_rows, x_cols, offsets, n_threads) -> np.ndarray:
    """kernel(X)[i0:i0+n, j0:j0+m] from x_rows = X[i0:i0+n], x_cols = X[j0:j0+m]."""
    i0, j0 = _offsets(offsets)
    empty = _empty_tile(kernel, x_rows, x_cols)
    if empty is not None:  # the edge of a tiling may be empty
        return empty
    rows = kernel._points(x_rows, "x_rows")
    cols = kernel._points(x_cols, "x_cols", n_features=rows.shape[1])
    n, m = rows.shape[0], cols.shape[0]
    if i0 + n <= j0:  # wholly above the diagonal: the entries as the Gram computes them
        return kernel(rows, cols, n_threads=n_threads)
    if j0 + m <= i0:  # wholly below: the mirror of the block above
        return mirrored(kernel(cols, rows, n_threads=n_threads), n_threads)
    if i0 == j0 and n == m:  # a block on the diagonal is the symmetric Gram of its rows: one call
        return kernel(rows, n_threads=n_threads)
    gi = i0 + np.arange(n)[:, None]
    gj = j0 + np.arange(m)[None, :]
    upper = kernel(rows, cols, n_threads=n_threads)
    lower = mirrored(kernel(cols, rows, n_threads=n_threads), n_threads)
    mask = (gi < gj).reshape((n, m) + (1,) * (upper.ndim - 2))
    out = np.where(mask, upper, lower)
    on = np.nonzero(gi == gj)
    if on[0].size:
        out[on] = kernel.diag(rows[on[0]], n_threads=n_threads)
    return out


def mirrored(a: np.ndarray, n_threads=1) -> np.ndarray:
    """The mirror of a block: (n, m, ...) to (m, n, ...); trailing output axes (k, k') of an
    empirical kernel swap too, since K(x', x)_{k'k} = K(x, x')_{kk'}. A 2-D block goes through
    the core's blocked transpose (src/cpp/ntkfast/transpose.hpp: 7.9 ms for a 3125² float32 block
    against 10.3 ms for numpy's copy of a transposed view, side by side, medians of 8); the bits
    are the same either way."""
    if a.ndim == 2 and a.dtype in (np.float32, np.float64) and a.flags.c_contiguous:
        from . import _core
        from ._threads import resolve_n_threads

        return _core.transposed(a, resolve_n_threads(n_threads))
    axes = (1, 0) + tuple(range(a.ndim - 1, 1, -1))
    return np.ascontiguousarray(a.transpose(axes))


def _empty_tile(kernel, x_rows, x_cols) -> np.ndarray | None:
    """The (n, m) result when either side has no rows (both 2-D with the same features)."""
    shapes = [np.shape(x_rows), np.shape(x_cols)]
    if all(len(sh) == 2 for sh in shapes) and shapes[0][1] == shapes[1][1] and 0 in (shapes[0][0], shapes[1][0]):
        return np.empty((shapes[0][0], shapes[1][0]) + kernel.output_shape, kernel.dtype)
    return None


def _offsets(offsets) -> tuple[int, int]:
    try:
        i0, j0 = offsets
    except (TypeError, ValueError):
        raise TypeError(f"offsets: expected (row_start, col_start) or None, got {offsets!r}") from None
    out = []
    for v in (i0, j0):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 0:
            raise ValueError(f"offsets: expected two non-negative integers, got {offsets!r}")
        out.append(int(v))
    return out[0], out[1]
