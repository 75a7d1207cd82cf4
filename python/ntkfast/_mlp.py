"""The parameters and settings of a finite MLP (ntk-math.md §1) and their validation, in plain
numpy: everything of ``ntkfast.MLP`` but its compiled forward pass (``ntkfast.networks`` adds
that), so that the numpy reference can use networks without depending on the compiled core.

The two parameterizations (``"ntk"``, ``"standard"``) and what they mean for the tangent kernel
are described in ``ntkfast.networks``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _validation as V
from .activations import Activation, get_activation

PARAMETERIZATIONS = ("ntk", "standard")


class _Chain:
    """depth and widths of anything holding a chain of (n_{l+1}, n_l) ``weights``."""

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def widths(self) -> tuple[int, ...]:
        """(n_0, n_1, ..., n_L)."""
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)


class MLPParameters(_Chain):
    """The weights, biases and settings of an MLP with L = ``depth`` weight layers; the base of
    :class:`ntkfast.MLP`, which documents them."""

    def __init__(self, weights, biases, *, activation="relu", weight_std=1.0, bias_std=0.0,
                 parameterization="ntk"):
        self.weights = list(weights)
        self.biases = list(biases)
        self.activation = get_activation(activation)
        self.weight_std = V.nonnegative(weight_std, "weight_std")
        self.bias_std = V.nonnegative(bias_std, "bias_std")
        self.parameterization = _parameterization(parameterization)
        checked(self)  # fail at construction as well as at every call

    @property
    def dtype(self) -> np.dtype:
        return np.asarray(self.weights[0]).dtype

    @property
    def n_params(self) -> int:
        return sum(np.size(w) + np.size(b) for w, b in zip(self.weights, self.biases))

    def copy(self):
        return type(self)([w.copy() for w in self.weights], [b.copy() for b in self.biases],
                   activation=self.activation, weight_std=self.weight_std,
                   bias_std=self.bias_std, parameterization=self.parameterization)

    def astype(self, dtype):
        dt = V.working_dtype(dtype)
        return type(self)([w.astype(dt) for w in self.weights], [b.astype(dt) for b in self.biases],
                   activation=self.activation, weight_std=self.weight_std,
                   bias_std=self.bias_std, parameterization=self.parameterization)

    def __repr__(self) -> str:
        return (f"MLP(widths={list(self.widths)}, activation={self.activation!r}, "
                f"weight_std={self.weight_std}, bias_std={self.bias_std}, "
                f"parameterization={self.parameterization!r}, dtype={self.dtype})")


@dataclass(frozen=True)
class CheckedNet(_Chain):
    """A validated snapshot of an MLP: contiguous arrays plus each layer's scales (s_w, s_b)."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    weight_scales: tuple[float, ...]
    bias_scale: float
    activation: Activation
    dtype: np.dtype



def _parameterization(value) -> str:
    return V.choice(value, "parameterization", PARAMETERIZATIONS)


def _param(arr, name: str, shape: tuple[int, ...] | None, ndim: int, dtype: np.dtype | None):
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(arr).__name__}")
    if arr.dtype.kind == "f" and arr.dtype.itemsize in (4, 8) and not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))  # same numbers, this machine's byte order
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected float32 or float64, got {arr.dtype}")
    if dtype is not None and arr.dtype != dtype:
        raise TypeError(f"{name}: expected {dtype} like weights[0] (one dtype per network), got {arr.dtype}")
    if arr.ndim != ndim or (shape is not None and arr.shape != shape) or arr.size == 0:
        want = "(n_out, n_in) with n_in, n_out >= 1" if shape is None else str(shape)
        raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    arr = np.ascontiguousarray(arr)
    if not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name}: contains NaN or infinity (first at index {bad})")
    return arr


def checked(net) -> CheckedNet:
    """Validate an MLP's current parameters and settings (all of them are plain, settable
    attributes); clear errors naming the offending one."""
    if not isinstance(net, MLPParameters):
        raise TypeError(f"net: expected an ntkfast.MLP, got {type(net).__name__}")
    activation = get_activation(net.activation)  # a name set after construction works too
    weight_std = V.nonnegative(net.weight_std, "weight_std")
    bias_std = V.nonnegative(net.bias_std, "bias_std")
    parameterization = _parameterization(net.parameterization)
    ws, bs = net.weights, net.biases
    if len(ws) == 0:
        raise ValueError("weights: expected at least one weight layer, got none")
    if len(bs) != len(ws):
        raise ValueError(f"biases: expected {len(ws)} arrays (one per weight layer), got {len(bs)}")
    dtype = None
    weights, biases = [], []
    for l, (w, b) in enumerate(zip(ws, bs)):
        n_in = weights[-1].shape[0] if weights else None
        w = _param(w, f"weights[{l}]", None, 2, dtype)
        dtype = w.dtype
        if n_in is not None and w.shape[1] != n_in:
            raise ValueError(
                f"weights[{l}]: expected {n_in} input columns (the rows of weights[{l - 1}]), "
                f"got shape {w.shape}"
            )
        weights.append(w)
        biases.append(_param(b, f"biases[{l}]", (w.shape[0],), 1, dtype))
    if parameterization == "ntk":
        w_scales = tuple(weight_std / math.sqrt(w.shape[1]) for w in weights)
        b_scale = bias_std
    else:
        w_scales, b_scale = (1.0,) * len(weights), 1.0
    if activation.derivative is None:
        raise ValueError(
            f"activation: {activation.name!r} has no derivative; finite networks need φ′ for "
            "the backward pass (use ntkfast.activations.custom(fn, derivative))"
        )
    return CheckedNet(tuple(weights), tuple(biases), w_scales, b_scale, activation, dtype)
