"""Argument handling shared by ntkfast.empirical and ntkfast.reference.empirical: same inputs,
same errors, same result type."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _validation as V
from ._mlp import CheckedNet, checked

OUTPUT_MODES = ("trace", "diagonal", "full")


class EmpiricalNTK(NamedTuple):
    """``empirical_ntk(..., per_layer=True)``: the kernel and each weight layer's contribution
    (``per_layer[l]`` comes from the parameters W^(l), b^(l); their sum is ``ntk``)."""

    ntk: np.ndarray
    per_layer: np.ndarray


class EmpiricalCall(NamedTuple):
    net: CheckedNet
    x1: np.ndarray
    x2: np.ndarray | None
    output: str
    out_shape: tuple[int, ...]


def output_mode(output) -> str:
    # not `output in OUTPUT_MODES`: for an array that raised numpy's "truth value is ambiguous"
    return V.choice(output, "output", OUTPUT_MODES)


def out_shape(n1: int, n2: int, n_out: int, output: str) -> tuple[int, ...]:
    return {"trace": (n1, n2), "diagonal": (n1, n2, n_out), "full": (n1, n2, n_out, n_out)}[output]


def per_layer_flag(per_layer) -> bool:
    if not isinstance(per_layer, (bool, np.bool_)):
        raise TypeError(f"per_layer: expected True or False, got {per_layer!r}")
    return bool(per_layer)


def parse(net, x1, x2, output: str, per_layer: bool = False) -> EmpiricalCall:
    """Validate everything and check the output (and the per-layer terms) fit in memory,
    before any large allocation."""
    return parse_checked(checked(net), x1, x2, output, per_layer)


def parse_checked(cn: CheckedNet, x1, x2, output: str, per_layer: bool = False) -> EmpiricalCall:
    """parse for a network already validated (a kernel object's frozen copy)."""
    mode = output_mode(output)
    n_arrays = 1 + (cn.depth if per_layer_flag(per_layer) else 0)
    n0 = cn.widths[0]
    a1 = V.points(x1, "x1", cn.dtype)
    if a1.shape[1] != n0:
        raise ValueError(f"x1: expected {n0} features (the network's input width), got shape {a1.shape}")
    a2 = None if x2 is None else V.points(x2, "x2", cn.dtype, n_features=n0)
    n2 = a1.shape[0] if a2 is None else a2.shape[0]
    shape = out_shape(a1.shape[0], n2, cn.widths[-1], mode)
    V.check_output_fits(n_arrays * int(np.prod(shape, dtype=np.int64)) * cn.dtype.itemsize,
                        f"an empirical NTK of shape {shape} ({n_arrays} array(s) of {cn.dtype})")
    return EmpiricalCall(cn, a1, a2, mode, shape)


def parse_inputs(net, x) -> tuple[CheckedNet, np.ndarray]:
    cn = checked(net)
    a = V.points(x, "x", cn.dtype)
    if a.shape[1] != cn.widths[0]:
        raise ValueError(f"x: expected {cn.widths[0]} features (the network's input width), got shape {a.shape}")
    return cn, a


def finite_result(arr: np.ndarray, what: str, dtype) -> np.ndarray:
    """Refuse a result that overflowed instead of returning inf/NaN (max and min propagate
    both, without a temporary of the array's size)."""
    with np.errstate(over="ignore", invalid="ignore"):  # the error below says it better
        arr = arr.astype(dtype, copy=False)
    if arr.size and not (np.isfinite(arr.max()) and np.isfinite(arr.min())):
        # float64 is the widest dtype a network has: there only smaller numbers help
        fix = ("try net.astype(np.float64), or rescale x or the weights" if np.dtype(dtype) == np.float32
               else "rescale x or the weights (or use a smaller weight_std/bias_std)")
        raise FloatingPointError(
            f"{what}: the result overflowed to inf/NaN in {np.dtype(dtype)} (largest "
            f"{np.finfo(dtype).max:.3g}); the weights or inputs are too large for it: {fix}"
        )
    return arr
