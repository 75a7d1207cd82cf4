"""Input checks shared by the fast API and the numpy reference: same inputs, same errors."""
from __future__ import annotations

import math
import numbers
import os

import numpy as np

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class OutputTooLargeError(ValueError, MemoryError):
    """The requested output would not fit in memory; raised before anything is allocated."""


def scalar(value):
    """A 0-d real numeric array as its numpy scalar (np.array(1.5) -> np.float64(1.5)), so that
    every real-scalar argument accepts it as it accepts np.float64(1.5); anything else unchanged
    (0-d bool, complex, string and object arrays then fail the caller's type check, as bools do)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return value[()]
    return value


def choice(value, name: str, options: tuple) -> str:
    """One of the option strings; a 0-d numpy string array counts as its string. Checked as a
    string first: `array in tuple` would raise numpy's ambiguous-truth error for arrays."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "U":
        value = str(value)
    expected = " or ".join(repr(o) for o in options)
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected {expected}, got {type(value).__name__}")
    if value not in options:
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return str(value)  # a plain str (np.str_ too) for the binding


def working_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected numpy.float32 or numpy.float64, got {dtype!r}") from None
    if dt not in _FLOAT_DTYPES:
        raise TypeError(f"dtype: expected numpy.float32 or numpy.float64, got {dt}")
    return dt


def points(x, name: str, dtype: np.dtype, n_features: int | None = None) -> np.ndarray:
    """A C-contiguous 2-D array of `dtype`, finite and non-empty; lists accepted."""
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name}: expected a 2-D array of shape (n_samples, n_features); {exc}") from None
    _real(arr, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array of shape (n_samples, n_features), got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: expected at least one sample and one feature, got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name}: expected {n_features} features to match x1, got shape {arr.shape}"
        )
    return _finite_as(arr, name, dtype)


def vectors(v, name: str, n_rows: int, dtype: np.dtype) -> tuple[np.ndarray, bool]:
    """A block of k vectors of length n_rows, shape (n_rows,) or (n_rows, k), as a finite
    C-contiguous (n_rows, k) array of `dtype`, and whether it was given 1-D; lists accepted."""
    expected = f"expected an array of shape ({n_rows},) or ({n_rows}, k)"
    try:
        arr = np.asarray(v)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name}: {expected}; {exc}") from None
    _real(arr, name)
    if arr.ndim not in (1, 2) or arr.shape[0] != n_rows:
        raise ValueError(f"{name}: {expected}, got shape {arr.shape}")
    return _finite_as(arr, name, dtype).reshape(n_rows, -1), arr.ndim == 1


def _real(arr: np.ndarray, name: str) -> None:
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        kind = "complex" if arr.dtype.kind == "c" else str(arr.dtype)
        raise TypeError(f"{name}: expected real numbers (float or integer), got dtype {kind}")


def _finite_as(arr: np.ndarray, name: str, dtype: np.dtype) -> np.ndarray:
    """arr as a C-contiguous array of dtype, refused if a value is not finite there."""
    with np.errstate(over="ignore", invalid="ignore"):  # too large for dtype: refused just below
        out = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(out).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        if np.isfinite(arr[bad]):
            wider = " or use float64" if np.dtype(dtype) == np.float32 else ""  # e.g. longdouble input
            raise ValueError(f"{name}: the value {arr[bad]!r} at index {bad} does not fit in {np.dtype(dtype)} "
                             f"(largest {np.finfo(dtype).max:.3g}); scale the inputs{wider}")
        raise ValueError(f"{name}: contains NaN or infinity (first at index {bad})")
    return out


# Each layer costs a Python step per call and O(N1·N2) work in the core; a million layers already
# takes minutes, and the core counts layers in a C int.
MAX_DEPTH = 1_000_000


def depth(value) -> int:
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"depth: expected an integer >= 1, got {value!r}")
    if value < 1 or value > MAX_DEPTH:
        raise ValueError(f"depth: expected an integer from 1 to {MAX_DEPTH} (number of weight layers), got {value}")
    return int(value)


def memory_budget(value) -> int | None:
    """None (the default budget) or a positive, finite number of bytes, as an int."""
    if value is None:
        return None
    value = scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"memory_budget: expected a positive number of bytes or None, got {value!r}")
    v = float(value)  # a Python int beyond int64 becomes a (finite) float here, not an error
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"memory_budget: expected a positive, finite number of bytes, got {value!r}")
    return int(v)


def nonnegative(value, name: str) -> float:
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a non-negative real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name}: expected a finite non-negative number, got {value!r}")
    return v


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo, or physical memory where that is not readable."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 1 << 62


def check_output_fits(n_bytes: int, what: str,
                      hint: str = "compute it in blocks of rows (x1) and columns (x2) instead") -> None:
    avail = available_memory_bytes()
    if n_bytes > avail:
        raise OutputTooLargeError(
            f"{what} needs {n_bytes / 1e9:.3g} GB but only {avail / 1e9:.3g} GB of memory is "
            f"available; {hint}"
        )
