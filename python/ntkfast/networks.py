"""Finite fully-connected networks (ntk-math.md §1) as plain numpy parameters.

    >>> net = ntkfast.init_mlp([32, 1024, 1024, 1], activation="relu", seed=0)
    >>> f = net(x)                                   # (N, 1), forward pass in C++
    >>> net.weights[0].shape                         # (1024, 32): (n_{l+1}, n_l)

Two parameterizations, both z^(l+1) = s_w · W^(l) a^(l) + s_b · b^(l):

- ``"ntk"`` (the paper's, default): parameters ~ N(0, 1), s_w = σ_w / sqrt(n_l), s_b = β.
- ``"standard"`` (how PyTorch and Flax store a model): the arrays are the effective weights,
  s_w = s_b = 1; ``weight_std`` and ``bias_std`` only say how :func:`init_mlp` draws them
  (W ~ N(0, σ_w²/n_l), b ~ N(0, β²)).

The tangent kernel is taken with respect to the stored arrays, so the two parameterizations give
different empirical NTKs for the same function (they differ by n_l per layer). Only ``"ntk"``
converges to :func:`ntkfast.ntk` as the widths grow.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import _validation as V
from .activations import Activation, get_activation

PARAMETERIZATIONS = ("ntk", "standard")


def _chain_widths(weights) -> tuple[int, ...]:
    """(n_0, ..., n_L) of a chain of (n_{l+1}, n_l) weight matrices."""
    return (weights[0].shape[1],) + tuple(w.shape[0] for w in weights)


class MLP:
    """A multilayer perceptron with L = ``depth`` weight layers.

    ``weights[l]`` has shape (n_{l+1}, n_l) and ``biases[l]`` shape (n_{l+1},); all float32 or all
    float64 (the network's dtype, in which it is evaluated). They are ordinary lists of numpy
    arrays: read them, replace them, train them; every call re-checks them.
    """

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
    def depth(self) -> int:
        return len(self.weights)

    @property
    def widths(self) -> tuple[int, ...]:
        """(n_0, n_1, ..., n_L)."""
        return _chain_widths(self.weights)

    @property
    def dtype(self) -> np.dtype:
        return np.asarray(self.weights[0]).dtype

    @property
    def n_params(self) -> int:
        return sum(np.size(w) + np.size(b) for w, b in zip(self.weights, self.biases))

    def __call__(self, x, *, n_threads=None) -> np.ndarray:
        from .empirical import apply  # late import: empirical imports this module
        return apply(self, x, n_threads=n_threads)

    def copy(self) -> "MLP":
        return MLP([w.copy() for w in self.weights], [b.copy() for b in self.biases],
                   activation=self.activation, weight_std=self.weight_std,
                   bias_std=self.bias_std, parameterization=self.parameterization)

    def astype(self, dtype) -> "MLP":
        dt = V.working_dtype(dtype)
        return MLP([w.astype(dt) for w in self.weights], [b.astype(dt) for b in self.biases],
                   activation=self.activation, weight_std=self.weight_std,
                   bias_std=self.bias_std, parameterization=self.parameterization)

    def __repr__(self) -> str:
        return (f"MLP(widths={list(self.widths)}, activation={self.activation!r}, "
                f"weight_std={self.weight_std}, bias_std={self.bias_std}, "
                f"parameterization={self.parameterization!r}, dtype={self.dtype})")


@dataclass(frozen=True)
class CheckedNet:
    """A validated snapshot of an MLP: contiguous arrays plus each layer's scales (s_w, s_b)."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    weight_scales: tuple[float, ...]
    bias_scale: float
    activation: Activation
    dtype: np.dtype

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def widths(self) -> tuple[int, ...]:
        return _chain_widths(self.weights)


def _parameterization(value) -> str:
    if not isinstance(value, str) or value not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization: expected 'ntk' or 'standard', got {value!r}")
    return value


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
    if not isinstance(net, MLP):
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


def _widths(widths) -> list[int]:
    try:
        ws = list(widths)
    except TypeError:
        raise TypeError(f"widths: expected a sequence of layer widths (n_0, ..., n_L), got {widths!r}") from None
    if len(ws) < 2:
        raise ValueError(f"widths: expected at least two widths (input and output), got {ws}")
    for n in ws:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"widths: expected positive integers, got {ws}")
    return [int(n) for n in ws]


def init_mlp(widths, *, activation="relu", weight_std=1.0, bias_std=0.0, parameterization="ntk",
             seed=None, dtype=np.float64) -> MLP:
    """Draw an MLP with widths (n_0, ..., n_L).

    ``"ntk"``: all parameters N(0, 1). ``"standard"``: W^(l) ~ N(0, σ_w²/n_l), b^(l) ~ N(0, β²).
    ``seed`` is anything ``numpy.random.default_rng`` accepts; draws are made in float64 and cast,
    so float32 and float64 networks of one seed hold the same numbers up to rounding.
    """
    ws = _widths(widths)
    dt = V.working_dtype(dtype)
    sw = V.nonnegative(weight_std, "weight_std")
    sb = V.nonnegative(bias_std, "bias_std")
    _parameterization(parameterization)  # before drawing: a typo must not cost the draws
    try:  # numpy's own messages ("expected non-negative integer") do not say which argument
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"seed: expected None, a non-negative integer, a sequence of them or a "
                        f"numpy Generator/BitGenerator, got {seed!r} ({exc})") from None
    n_params = sum((a + 1) * b for a, b in zip(ws[:-1], ws[1:]))
    V.check_output_fits(n_params * (8 + dt.itemsize), f"an MLP with {n_params} parameters",
                        "use smaller widths")
    weights, biases = [], []
    for n_in, n_out in zip(ws[:-1], ws[1:]):
        w = rng.standard_normal((n_out, n_in))
        b = rng.standard_normal(n_out)
        with np.errstate(over="ignore"):  # a std too large for dtype: refused just below
            if parameterization == "standard":
                w *= sw / math.sqrt(n_in)
                b *= sb
            w, b = w.astype(dt), b.astype(dt)
        for arr, name, value in ((w, "weight_std", sw), (b, "bias_std", sb)):
            if not np.isfinite(arr).all():
                raise ValueError(f"{name}: {value!r} draws parameters beyond {dt}'s range (largest "
                                 f"{np.finfo(dt).max:.3g}); use a smaller {name} or float64")
        weights.append(w)
        biases.append(b)
    return MLP(weights, biases, activation=activation, weight_std=sw, bias_std=sb,
               parameterization=parameterization)
