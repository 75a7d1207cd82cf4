"""Argument handling of the infinite-width kernel functions, shared by ntkfast.kernels and
ntkfast.reference.kernels (same inputs, same errors), and their result type."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validation as V
from ._mehler import numpy_project
from ._kernel_range import warn_conditioning
from ._recursion import TABLE_BYTES_PER_POINT_LAYER, FixedPlan, Prepared, prepare, table_bytes
from .activations import Activation, get_activation


@dataclass
class KernelResult:
    """Infinite-width kernels of one call.

    ``nngp`` = Σ^(L) and ``ntk`` = Θ^(L), shape (N1, N2). With ``layerwise=True`` also
    ``sigma`` (L, N1, N2) = Σ^(1..L), ``sigma_dot`` (L-1, N1, N2) = Σ̇^(2..L) and
    ``theta`` (L, N1, N2) = Θ^(1..L). ``truncation_error`` is the relative bound of the Mehler
    series truncation per layer (numerical activations only; None for closed forms).
    """

    nngp: np.ndarray
    ntk: np.ndarray
    sigma: np.ndarray | None = None
    sigma_dot: np.ndarray | None = None
    theta: np.ndarray | None = None
    truncation_error: float | None = None


@dataclass
class Call:
    x1: np.ndarray
    x2: np.ndarray | None
    depth: int
    act: Activation
    weight_var: float
    bias_var: float
    dtype: np.dtype
    prepared: Prepared


def _parameters(depth, activation, weight_std, bias_std, dtype):
    """Validated (dtype, depth, activation, σ_w, β) of every kernel function."""
    return (V.working_dtype(dtype), V.depth(depth), get_activation(activation),
            V.nonnegative(weight_std, "weight_std"), V.nonnegative(bias_std, "bias_std"))


def parse(x1, x2, depth, activation, weight_std, bias_std, dtype, n_outputs: int,
          project=numpy_project, need_ntk: bool = True, table_budget=None,
          fixed: FixedPlan | None = None) -> Call:
    """Validated arguments of a pair kernel and its diagonal recursion; ``need_ntk=False`` for
    the NNGP alone (Σ̇ and Θ may then overflow unchecked, they are not computed from).

    ``n_outputs`` is the number of (n1, n2) arrays of the working dtype the caller will allocate,
    checked against the available memory before anything is computed.
    ``table_budget(n1, n2, itemsize)`` is how many bytes of per-point tables the caller can take
    (None: all of them, which must then fit too: the reference computes in one pass).
    ``fixed``: the series plan of a kernel object with an input bound (else planned from x1, x2)."""
    dt, depth, act, w, b = _parameters(depth, activation, weight_std, bias_std, dtype)
    a1 = V.points(x1, "x1", dt)
    a2 = None if x2 is None else V.points(x2, "x2", dt, n_features=a1.shape[1])
    n1, n2 = a1.shape[0], (a1.shape[0] if a2 is None else a2.shape[0])
    n_points = n1 + (0 if a2 is None else n2)
    out_bytes = n_outputs * n1 * n2 * dt.itemsize
    one_pass = table_budget is None
    # One pass holds the tables of every layer: they must fit too.
    tables_needed = min_table_bytes(depth, n_points) if one_pass else 0
    V.check_output_fits(out_bytes + tables_needed, _what(n1, n2, n_outputs, dt, n_points, depth, tables_needed),
                        _hint(n_outputs))
    # Series coefficients come on top of tables_needed, their number known only from the plan:
    # the recursion keeps them while they fit in the memory left, and the call is refused if not.
    budget = max(0, V.available_memory_bytes() - out_bytes) if one_pass else table_budget(n1, n2, dt.itemsize)
    sets = [a1] if a2 is None else [a1, a2]
    prepared = prepare(act, sets, depth, w * w, b * b, project, dt, need_ntk, budget, fixed)
    if one_pass and prepared.full is None:
        raise V.OutputTooLargeError(
            f"{_what(n1, n2, n_outputs, dt, n_points, depth, table_bytes(prepared, n_points, depth))} "
            f"needs more memory than the {budget / 1e9:.3g} GB available; {_hint(n_outputs)}")
    warn_conditioning(act, prepared.layer_max, dt, need_ntk)
    return Call(a1, a2, depth, act, w * w, b * b, dt, prepared)


def _what(n1: int, n2: int, n_outputs: int, dt: np.dtype, n_points: int, depth: int,
          tables: int) -> str:
    """What a call needs memory for, in the words of its refusal."""
    if n_outputs == 0:  # a matrix-free operator: the per-point tables alone
        return f"keeping the per-layer tables of {n_points} points at depth {depth} ({tables / 1e9:.3g} GB)"
    return (f"a ({n1}, {n2}) kernel ({n_outputs} array(s) of {dt}"
            + (f" and {tables / 1e9:.3g} GB of per-layer tables" if tables else "") + ")")


def _hint(n_outputs: int) -> str:
    if n_outputs == 0:
        return "use fewer points or fewer layers"
    return "compute it in blocks of rows (x1) and columns (x2), or with fewer layers"


def min_table_bytes(depth: int, n_points: int) -> int:
    """The per-point tables of all layers at the least (closed forms: exactly; the Mehler
    coefficients come on top)."""
    return n_points * depth * TABLE_BYTES_PER_POINT_LAYER


def parse_diag(x, depth, activation, weight_std, bias_std, dtype,
               project=numpy_project, need_ntk: bool = True,
               fixed: FixedPlan | None = None) -> tuple[Prepared, np.dtype]:
    """The diagonal recursion of x alone, keeping only its last layer (memory O(N))."""
    dt, depth, act, w, b = _parameters(depth, activation, weight_std, bias_std, dtype)
    a = V.points(x, "x", dt)
    return prepare(act, [a], depth, w * w, b * b, project, dt, need_ntk, table_budget=0, fixed=fixed), dt


def make_result(out: dict, call: Call, layerwise: bool) -> KernelResult:
    """KernelResult from the arrays of one computation (fast or reference)."""
    m = call.prepared.mehler
    res = KernelResult(out["nngp"], out["ntk"], truncation_error=m.truncation if m else None)
    if layerwise:
        res.sigma, res.sigma_dot, res.theta = out["sigma"], out["sigma_dot"], out["theta"]
    return res


def n_output_arrays(depth: int, layerwise: bool) -> int:
    return 2 + (3 * depth - 1 if layerwise else 0)
