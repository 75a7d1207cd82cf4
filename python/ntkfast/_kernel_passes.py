"""How the fast infinite-width kernels feed the C++ core: in one pass when the per-point tables of
every layer fit beside the output, otherwise in passes over ranges of layers (very deep networks)
and, for a cross kernel with one large side, over blocks of that side's points (numerical
activations carry a few hundred Hermite coefficients per point and layer). Working memory is then
the output, at most three state arrays of its size between layer passes, and the tables of one
pass, never depth × N or per-point series tables of all points.

Every quantity of a pass depends only on its own points and layers (the series plan is fixed from
all points beforehand, _recursion.prepare), and the pair values between passes are kept in the
working dtype exactly as the core holds them, so passes never change a bit of the result.
"""
from __future__ import annotations

import numpy as np

from . import _core
from . import _validation as V
from ._kernel_args import Call
from ._recursion import GAP_DUALS, Tables, state_of, table_bytes, tables

# Per-point tables a single pass may use besides the output: at least this, at most the output's
# own size (tables are O(N·L) against the output's O(N1·N2), so only very deep networks or a
# cross kernel against a handful of points ever need passes).
MIN_TABLE_BUDGET = 256 << 20
# Rows of the large side per block when a cross kernel must be cut.
MIN_BLOCK_ROWS = 2048


def table_budget(n1: int, n2: int, itemsize: int) -> int:
    """Bytes of per-point tables the fast path keeps before it works in passes."""
    return max(MIN_TABLE_BUDGET, n1 * n2 * itemsize)


def dual_kind(call: Call) -> str:
    """The core's name of the call's dual activation."""
    # With depth 1 there is no layer step: the activation never enters and no tables exist.
    return call.act.dual if call.depth > 1 else "identity"


def _layer_ranges(depth: int, steps_per_pass: int) -> list[tuple[int, int]]:
    """(first, last) of each pass: first = 0 starts from the inputs (and computes layer 1)."""
    ranges, first = [], 0
    while first < depth:
        last = min(depth, max(first, 1) + steps_per_pass)
        ranges.append((first, last))
        first = last
    return ranges


class _Plan:
    """Which points and layers each pass covers."""

    def __init__(self, call: Call, budget: int):
        prep = call.prepared
        self.symmetric = call.x2 is None
        n1 = call.x1.shape[0]
        n2 = n1 if self.symmetric else call.x2.shape[0]
        self.block_x1 = self.symmetric or n1 >= n2  # which side is cut into blocks, if any
        big, small = (n1, 0) if self.symmetric else ((n1, n2) if self.block_x1 else (n2, n1))
        depth = call.depth
        per_point_layer = table_bytes(prep, 1, 1)
        self.single = prep.full is not None
        if self.single:
            self.rows, steps = big, depth - 1
        elif self.symmetric:
            self.rows = big
            steps = budget // (per_point_layer * big) - 1
        else:
            rows = budget // (per_point_layer * depth) - small  # all layers in one pass
            if rows >= min(big, MIN_BLOCK_ROWS):
                self.rows, steps = min(big, rows), depth - 1
            else:
                self.rows = min(big, MIN_BLOCK_ROWS)
                steps = budget // (per_point_layer * (self.rows + small)) - 1
        self.layers = _layer_ranges(depth, int(min(max(steps, 1), max(depth - 1, 1))))
        self.blocks = [(b, min(big, b + self.rows)) for b in range(0, big, self.rows)]


def core_inputs(call: Call, first: int, last: int, t1: Tables, t2: Tables | None,
                x1: np.ndarray, x2: np.ndarray | None) -> dict:
    """The core's kernel inputs (src/cpp/bindings/kernel_inputs.hpp) as keyword arguments: the
    layers first+1..last of the points x1 (and x2, None: the symmetric kernel of x1) with their
    tables, in the working dtype. Shared by every binding that drives the tile primitive."""
    dt = call.dtype
    m = call.prepared.mehler
    act = call.act

    def cast(a):
        return None if a is None else np.ascontiguousarray(a, dtype=dt)

    steps = last - max(first, 1)
    first_step = max(first, 1) - 1
    return dict(
        kind=dual_kind(call), depth=call.depth, weight_var=call.weight_var, bias_var=call.bias_var,
        param_a=act.alpha if act.dual == "elu" else act.slopes[0], param_b=act.slopes[1],
        first_layer=first, last_layer=last,
        x1=x1, sigma_diag1=cast(t1.sigma), x2=x2, sigma_diag2=None if t2 is None else cast(t2.sigma),
        theta_diag1=cast(t1.theta), sigma_dot_diag1=cast(t1.sigma_dot),
        mehler_offset=m.offset if m else 0, mehler_step=m.step if m else 1,
        mehler_terms=[m.terms(s) for s in range(first_step, first_step + steps)] if m else [],
        mehler_rho_limits=np.concatenate(m.rho_limits[first_step:first_step + steps]).tolist() if m and steps else [],
        coef1=cast(t1.coef) if m else None, d0_1=cast(t1.d0) if m else None,
        coef2=cast(t2.coef) if m and t2 is not None else None,
        d0_2=cast(t2.d0) if m and t2 is not None else None)


def _run(call: Call, first: int, last: int, t1: Tables, t2: Tables | None,
         x1: np.ndarray, x2: np.ndarray | None, outputs: dict, state: dict,
         offsets: tuple[int, int], threads: int) -> None:
    _core.infinite_width(
        **core_inputs(call, first, last, t1, t2, x1, x2),
        nngp=outputs.get("nngp") if last == call.depth else None,
        ntk=outputs.get("ntk") if last == call.depth else None,
        sigma=outputs.get("sigma"), sigma_dot=outputs.get("sigma_dot"), theta=outputs.get("theta"),
        state_k12=state.get("k12"), state_theta=state.get("theta"),
        state_gap_minus=state.get("gap_minus"), state_gap_plus=state.get("gap_plus"),
        row_offset=offsets[0], col_offset=offsets[1], n_threads=threads)


def _state(call: Call, kind: str, outputs: dict, multi_pass: bool) -> dict:
    """The state arrays between layer passes: the outputs where they hold the same quantity
    (nngp is Σ, ntk is Θ), scratch arrays of the output's shape otherwise (checked to fit)."""
    if not multi_pass:
        return {}
    shape = next(iter(outputs.values())).shape
    names = ["k12", "theta"] + (["gap_minus", "gap_plus"] if kind in GAP_DUALS else [])
    have = {"k12": outputs.get("nngp"), "theta": outputs.get("ntk")}
    missing = [n for n in names if have.get(n) is None]
    V.check_output_fits(len(missing) * int(np.prod(shape)) * call.dtype.itemsize,
                        f"the state of a deep kernel computed in passes ({len(missing)} more "
                        f"array(s) of shape {shape})", "use fewer layers or fewer points")
    return {n: have[n] if have.get(n) is not None else np.empty(shape, call.dtype) for n in names}


def run(call: Call, *, want_nngp: bool, want_ntk: bool, layerwise: bool, threads: int) -> dict:
    """The kernels of a parsed call: {"nngp": ..., "ntk": ...} (and the layerwise arrays)."""
    dt = call.dtype
    n1 = call.x1.shape[0]
    n2 = n1 if call.x2 is None else call.x2.shape[0]
    outputs = {}
    if want_nngp:
        outputs["nngp"] = np.empty((n1, n2), dt)
    if want_ntk:
        outputs["ntk"] = np.empty((n1, n2), dt)
    if layerwise:
        outputs["sigma"] = np.empty((call.depth, n1, n2), dt)
        outputs["theta"] = np.empty((call.depth, n1, n2), dt)
        outputs["sigma_dot"] = np.empty((call.depth - 1, n1, n2), dt)
    kind = dual_kind(call)
    prep = call.prepared
    plan = _Plan(call, table_budget(n1, n2, dt.itemsize))
    finals = {k: outputs[k] for k in ("nngp", "ntk") if k in outputs}
    state = _state(call, kind, finals, len(plan.layers) > 1)
    if plan.single:
        t1, *rest = prep.full
        _run(call, 0, call.depth, t1, rest[0] if rest else None, call.x1, call.x2, outputs,
             state, (0, 0), threads)
        return outputs
    for b0, b1 in plan.blocks:
        if plan.symmetric:
            sets = [call.x1]
        elif plan.block_x1:
            sets = [call.x1[b0:b1], call.x2]
        else:
            sets = [call.x1, call.x2[b0:b1]]
        offsets = (0, 0) if plan.symmetric else ((b0, 0) if plan.block_x1 else (0, b0))
        starts = [None] * len(sets)  # each set's (Σ, Θ) where its next layer range starts
        for first, last in plan.layers:
            tabs = [tables(prep, x, first, last, start, projector(threads))
                    for x, start in zip(sets, starts)]
            starts = [state_of(t) for t in tabs]
            _run(call, first, last, tabs[0], tabs[1] if len(tabs) > 1 else None, sets[0],
                 sets[1] if len(sets) > 1 else None, outputs, state, offsets, threads)
    return outputs


def projector(threads: int):
    """values @ rows.T in the core: one thread and summation order per entry, so the Mehler
    coefficients (and hence the kernels) do not depend on BLAS threading."""
    return lambda values, rows: _core.project_rows(values, rows, threads)
