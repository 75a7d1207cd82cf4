"""The one contract for the ``loss=`` argument of ntkfast.kernel_gd and ntkfast.train (and their
numpy references): which names are losses, and what a user's callable may return. Both modules
used to check these separately and had drifted apart (one took a value of "1.0" or True, the other
a [value, d] list; one stripped whitespace from names, the other did not).

Names: "mse", "cross_entropy" or "ce", any case, surrounding whitespace ignored (also as a 0-d
numpy string array); any other string is a ValueError, anything neither a string nor callable a
TypeError.

A callable ``loss(f, y)`` returns a tuple ``(value, d)``:
- value: a real scalar, the mean loss C(f) (a Python int or float, a numpy integer or floating
  scalar or a 0-d array of one); bools, strings, complex numbers and arrays of size > 1 are a
  TypeError. Its finiteness is each caller's to judge (train tells a blow-up from a bad function).
- d: a real array (list or any layout) of shape (N, O) like f, or (N,) when O = 1.
"""
from __future__ import annotations

import numbers

import numpy as np

LOSS_NAMES = {"mse": "mse", "cross_entropy": "cross_entropy", "ce": "cross_entropy"}

# Divergence, one rule for train and kernel_gd: the loss is not finite, or exceeds
# DIVERGENCE_FACTOR · (|C_0| + 1), C_0 the initial loss. Gradient flow never increases C (K
# positive semi-definite), nor does gradient descent at a stable learning rate; 10⁶ leaves room
# for the transients of a large but stable lr and still stops long before anything overflows.
DIVERGENCE_FACTOR = 1e6


def divergence_limit(loss0: float) -> float:
    return DIVERGENCE_FACTOR * (abs(loss0) + 1.0)
_EXPECTED = "'mse', 'cross_entropy' ('ce') or a callable loss(f, y) -> (value, d)"


def loss_spec(value):
    """The canonical loss name ("mse" or "cross_entropy"), or the user's callable."""
    if callable(value):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "U":
        value = str(value)
    if not isinstance(value, str):
        raise TypeError(f"loss: expected {_EXPECTED}, got {type(value).__name__}")
    key = value.strip().lower()
    if key not in LOSS_NAMES:
        raise ValueError(f"loss: expected {_EXPECTED}, got {value!r}")
    return LOSS_NAMES[key]


def _real_scalar(value) -> float | None:
    """float(value) for a real, non-bool scalar (or 0-d real array); None otherwise."""
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            return None
        return float(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond float64: not a finite loss, the caller says so
        return float("inf") if value > 0 else float("-inf")


def check_user_loss_return(out, n: int, n_out: int) -> tuple[float, np.ndarray]:
    """(value, d) from what a user's loss returned, d as a C-contiguous float64 (n, n_out) array.
    Raises TypeError/ValueError naming ``loss`` for anything outside the contract above; does not
    judge finiteness."""
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"loss: a callable loss must return a tuple (value, d), got {type(out).__name__}")
    raw_value, raw_d = out
    value = _real_scalar(raw_value)
    if value is None:
        raise TypeError(f"loss: the callable's value must be a real scalar (the mean loss over points), "
                        f"got {raw_value!r}")
    try:
        d = np.asarray(raw_d)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"loss: the callable's d must be an array shaped like f; {exc}") from None
    if d.dtype == object or d.dtype.kind not in "biuf":
        raise TypeError(f"loss: the callable's d must be a real array, got dtype {d.dtype}")
    if d.shape != (n, n_out) and not (n_out == 1 and d.shape == (n,)):
        raise ValueError(f"loss: the callable's d must have the shape of f, {(n, n_out)} "
                         f"(or ({n},) for a single output), got {d.shape}")
    d = np.ascontiguousarray(d, dtype=np.float64).reshape(n, n_out)
    return value, d
