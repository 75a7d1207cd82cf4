"""Argument checks of ntkfast.regression: every refusal names the argument."""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Optional

import numpy as np

from . import _validation as V
from ._thread_args import check as check_threads

# n_centers=None: M = min(N, DEFAULT_CENTERS). K(C, C) and its factors take 3 M² float64 (96 MB
# at 2000) and a Cholesky of order 2000 takes a tenth of a second; at N = 20 000 this M keeps the
# test error within a few percent of exact kernel ridge regression (tests/test_nystrom.py).
DEFAULT_CENTERS = 2000


class Targets(NamedTuple):
    y: np.ndarray   # (N, O) float64
    squeeze: bool   # y was 1-D: coefficients and predictions drop their last axis


def kernel_object(kernel) -> np.dtype:
    """The kernel's dtype; refuses what is not a kernel object."""
    if not callable(kernel):
        raise TypeError(
            "kernel: expected a kernel object, kernel(x1, x2=None, *, n_threads=None) -> (n1, n2) "
            f"array (e.g. ntkfast.InfiniteWidthKernel(...)), got {type(kernel).__name__}")
    dtype = getattr(kernel, "dtype", np.float64)
    try:
        return V.working_dtype(dtype)
    except TypeError:
        raise TypeError(f"kernel: its dtype must be float32 or float64, got {dtype!r}") from None


def points(x, name: str, n_features: Optional[int] = None, match: str = "x") -> np.ndarray:
    """Finite 2-D float64 points, C-contiguous (row blocks are then views)."""
    arr = V.points(x, name, np.float64)
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name}: expected {n_features} features to match {match}, got shape {arr.shape}")
    return arr


def targets(y, n: int, name: str = "y", match: str = "") -> Targets:
    """(N,) or (N, O) finite targets; ``match`` says where N comes from (default: the rows of x)."""
    try:
        arr = np.asarray(y)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name}: expected an array of shape (N,) or (N, n_outputs); {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers (float or integer), got dtype {arr.dtype}")
    if arr.ndim not in (1, 2) or arr.shape[0] != n or (arr.ndim == 2 and arr.shape[1] == 0):
        raise ValueError(f"{name}: expected shape ({n},) or ({n}, n_outputs) to match "
                         f"{match or f'the {n} rows of x'}, got shape {arr.shape}")
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise ValueError(f"{name}: contains NaN or infinity (first at index {bad})")
    return Targets(out.reshape(n, -1), arr.ndim == 1)


def ridge(value) -> float:
    return V.nonnegative(value, "ridge")


def positive_int(value, name: str, lo: int = 1, hi: Optional[int] = None, what: str = "") -> int:
    value = V.scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name}: expected an integer {bound}{what}, got {value}")
    return int(value)


def tol(value) -> float:
    value = V.scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"tol: expected a positive number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"tol: expected a positive, finite relative residual, got {value!r}")
    return v


def time(value) -> float:
    """One training time t >= 0; np.inf is kernel ridge regression."""
    value = V.scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"t: expected a number >= 0 (np.inf: kernel ridge regression), got {value!r}")
    v = float(value)
    if math.isnan(v) or v < 0:
        raise ValueError(f"t: expected a time >= 0 (np.inf: kernel ridge regression), got {value!r}")
    return v


def flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def n_threads(value) -> Optional[int]:
    return None if value is None else check_threads(value, "n_threads")


def rng(random_state) -> np.random.Generator:
    if isinstance(random_state, (bool, np.bool_)):
        raise TypeError(f"random_state: expected None, an integer seed or a numpy Generator, got {random_state!r}")
    try:
        return np.random.default_rng(random_state)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"random_state: expected None, a non-negative integer seed or a numpy "
                        f"Generator, got {random_state!r}") from None


class Centers(NamedTuple):
    c: np.ndarray                   # (M, d) float64, C-contiguous
    indices: Optional[np.ndarray]   # rows of x they were drawn from (sorted), None when given


def centers(centers_, n_centers, x: np.ndarray, random_state) -> Centers:
    """The user's centers, or n_centers rows of x drawn uniformly without replacement."""
    n = x.shape[0]
    if centers_ is not None:
        c = points(centers_, "centers", x.shape[1])
        if n_centers is not None:
            m = positive_int(n_centers, "n_centers")
            if m != c.shape[0]:
                raise ValueError(f"n_centers: {m} does not match the {c.shape[0]} rows of centers; "
                                 "give one of them")
        rng(random_state)  # still checked: a typo should not pass silently
        return Centers(c, None)
    m = min(n, DEFAULT_CENTERS) if n_centers is None else positive_int(
        n_centers, "n_centers", 1, n, f" (at most the N = {n} rows of x)")
    idx = np.sort(rng(random_state).choice(n, size=m, replace=False))
    return Centers(np.ascontiguousarray(x[idx]), idx)


# The preconditioner's sample (nystrom_krr's preconditioner_points): at most this many points per
# center (measured at N = 4e5, M = 2000: 51, 22, 15, 10 iterations for 1, 5, 10, 25 points per
# center; returns diminish beyond), and at most SAMPLE_COST·N/M points in all, so that the sample's
# triangular solve and rank update (2·S·M² flops) cost about one kernel pass over K(X, C) (N·M
# entries of a few hundred flops each) at most.
SAMPLE_PER_CENTER = 25
SAMPLE_COST = 256


def default_preconditioner_points(n: int, m: int) -> int:
    return int(min(n, SAMPLE_PER_CENTER * m, max(m, SAMPLE_COST * n // m)))


def preconditioner_sample(points, cs: Centers, x, gen: np.random.Generator) -> Optional[np.ndarray]:
    """The rows of x (sorted indices) that the preconditioner adds to the centers: S − M drawn
    uniformly from the rows that are not centers, None when S = M (Falkon's own)."""
    n, m = x.shape[0], cs.c.shape[0]
    s = default_preconditioner_points(n, m) if points is None else positive_int(
        points, "preconditioner_points", m, n + (m if cs.indices is None else 0),
        f" (from the {m} centers to the {n} rows of x)")
    if s <= m:
        return None
    pool = np.arange(n) if cs.indices is None else np.setdiff1d(np.arange(n), cs.indices)
    return np.sort(gen.choice(pool, size=s - m, replace=False))  # s <= m + pool.size
