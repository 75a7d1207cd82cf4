"""Per-point part of the infinite-width recursion, shared by the fast path and the reference.

Everything here is O(N·L) (closed forms) or O(N·L·M·deg) (Mehler coefficients): the diagonals
Σ^(l)(x,x), Σ̇^(l)(x,x), Θ^(l)(x,x) of every layer and, for numerical activations, the Hermite
coefficients of every point and layer. The O(N1·N2·L) pair work is done by the C++ core
(kernels.py) or by plain numpy (reference/kernels.py) from these tables.

Two passes. :func:`prepare` runs the recursion over all points layer by layer and fixes what must
be the same for every entry: the Mehler series plan of each layer (chosen at the largest variance
among all points), the compaction of odd/even series, the ρ-limits of the truncation, the range
checks. It keeps the per-point tables when they fit in ``table_budget`` (the usual case); when
they do not (very deep networks, or millions of points with a numerical activation), it keeps
only the plan and the last layer, and :func:`tables` recomputes the tables of any block of points
and range of layers from the plan, bit for bit as the whole pass would have made them (every
quantity is per point). The kernel drivers then work in passes whose tables fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _mehler
from ._bivariate import elu_dual
from ._kernel_range import check_range, value_limit, warn_truncation
from .activations import Activation

# ELU's kernels are validated against quadrature up to this layer variance, for every ρ
# (tests/test_truth_closed_forms.py). Its formulas overflow nowhere any more (_bivariate.py: no
# exponential of a large argument; spot checks up to variance 1e10 agree with mpmath to 3e-16), so
# the limit could go, together with tests/test_truth.py's check that 900 is refused.
ELU_MAX_VARIANCE = 300.0

# Duals whose entries carry the gaps 1 ∓ ρ (src/cpp/ntkfast/infinite_width.hpp, carries_gaps;
# reference/_gaps.py): their φ' jumps at 0, so their angle near ρ = ±1 must not come from a
# rounded ρ. Passes keep two more state arrays for them.
GAP_DUALS = ("relu_like", "elu")

# Bytes of per-point tables per point and layer besides the Mehler coefficients: Σ, Θ, Σ̇ in
# float64 here and sqrt(k), 1/sqrt(k), aux in the core (at most float64).
TABLE_BYTES_PER_POINT_LAYER = 6 * 8


def _closed_form_diagonal(act: Activation, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[φ(u)²] and E[φ'(u)²] for u ~ N(0, k): the dual kernels at ρ = 1."""
    if act.dual == "relu_like":
        a, b = act.slopes
        s = 0.5 * (a * a + b * b)
        return s * k, np.full_like(k, s)
    if act.dual == "erf":
        return (2 / math.pi) * np.arcsin(2 * k / (1 + 2 * k)), (4 / math.pi) / np.sqrt(1 + 4 * k)
    if act.dual == "identity":
        return k.copy(), np.ones_like(k)
    if act.dual == "sin":
        e = np.exp(-2 * k)
        return -0.5 * np.expm1(-2 * k), 0.5 * (1 + e)
    if act.dual == "elu":
        if k.size and k.max() > ELU_MAX_VARIANCE:
            raise ValueError(
                f"activation: elu's kernels are validated for layer variances Σ(x,x) <= "
                f"{ELU_MAX_VARIANCE:g}, got {k.max():.3g}; scale the inputs or weight_std/bias_std down")
        return elu_dual(k, k, k, act.alpha, same_point=True)
    raise AssertionError(act.dual)


@dataclass
class MehlerPlan:
    """The Hermite series of every layer step, fixed from all points (see the module docstring)."""

    series: list[_mehler.SeriesPlan]  # per layer step: order, quadrature degree, tail
    offset: int                       # first power of ρ kept (1 for odd φ)
    step: int                         # 2 when only odd or only even powers occur
    rho_limits: list[np.ndarray]      # per layer step, per stored term (_mehler.rho_limits)
    truncation: float                 # per-entry relative bound: largest tail + PAIR_TOL

    def terms(self, layer_step: int) -> int:
        """Stored coefficients of a layer step after compaction (at least one)."""
        n = self.series[layer_step].n_max + 1
        return max(1, len(range(self.offset, n, self.step)))


@dataclass
class Tables:
    """Per-point tables of one set of points for the table layers first..last (1-based, both
    included; ``first`` >= 1) and the layer steps between them."""

    sigma: np.ndarray                # (layers, n): Σ^(l)(x, x)
    theta: np.ndarray                # (layers, n): Θ^(l)(x, x)
    sigma_dot: np.ndarray            # (layers-1, n): Σ̇^(l+1)(x, x)
    coef: np.ndarray | None = None   # Mehler: (Σ stored terms of the steps, n), steps stacked
    d0: np.ndarray | None = None     # Mehler: (steps, n): E[φ'(u)]


@dataclass
class Prepared:
    """The outcome of :func:`prepare` for the point sets given to it (x1, and x2 if any)."""

    act: Activation
    depth: int
    weight_var: float
    bias_var: float
    mehler: MehlerPlan | None
    layer_max: list[float]                   # per layer: the largest Σ(x, x) over all points
    last: list[Tables]                       # per set: the last layer alone (the diagonals)
    full: list[Tables] | None = field(default=None)  # per set, every layer, when they fit

    # The reference (and the fast path's single pass) read the full tables by these names.
    @property
    def sigma_diag(self) -> list[np.ndarray]:
        return [t.sigma for t in self._full()]

    @property
    def theta_diag(self) -> list[np.ndarray]:
        return [t.theta for t in self._full()]

    @property
    def sigma_dot_diag(self) -> list[np.ndarray]:
        return [t.sigma_dot for t in self._full()]

    def _full(self) -> list[Tables]:
        if self.full is None:
            raise AssertionError("the per-point tables were not kept (over the table budget)")
        return self.full


# Points per block of the Mehler coefficients: bounds the (points × orders) temporaries.
_BLOCK_POINTS = 2048


def _mehler_layer(act: Activation, k: np.ndarray, plan: _mehler.SeriesPlan, project):
    """One layer of the truncated Mehler series at ρ = 1 for a block of points: E[φ²], E[φ'²]
    per point, the coefficients c (points × orders) and E[φ'(u)] per point (d0)."""
    # Built-in φ′ are exact, so they may carry the coefficients n >= 1 (no cancellation at tiny
    # k); a user's φ′ is not trusted with the kernel itself.
    trusted = act.derivative if act.compiled is not None and not act.odd else None
    c = _mehler.coefficients(act.fn, k, plan.n_max, plan.deg, act.odd, project, trusted)
    pos = k > 0
    safe_k = np.where(pos, k, 1.0)
    # A zero-variance point has u = 0: E[φ'(u)] = φ'(0), needed only then.
    phi0_prime = 0.0 if pos.all() else _mehler.derivative_at_zero(act)
    d0 = np.where(pos, c[:, 1] / np.sqrt(safe_k), phi0_prime)
    e = np.einsum("in,in->i", c, c)
    # einsum, not @: no BLAS call, whose idle threads would spin against the core's OpenMP team.
    ed = np.where(pos, np.einsum("in,in,n->i", c, c, np.arange(c.shape[1], dtype=float)) / safe_k, d0 * d0)
    return e, ed, c, d0


def _compact(c: np.ndarray, offset: int, step: int) -> np.ndarray:
    """The stored coefficients of one layer, (terms, points): the powers offset, offset+step, ..."""
    kept = c[:, offset::step]
    return np.ascontiguousarray(kept.T) if kept.shape[1] else np.zeros((1, c.shape[0]))


class _Recursion:
    """The diagonal recursion of a set of points, one layer step at a time, from Σ^(1) or from a
    given layer's (Σ, Θ), keeping the tables while ``keep`` (Mehler coefficients uncompacted
    until :meth:`compact`, when the planner has not decided the compaction yet)."""

    def __init__(self, act: Activation, weight_var: float, bias_var: float, k: np.ndarray,
                 theta: np.ndarray, project, keep: bool, budget: float = math.inf):
        self.act, self.wv, self.bv, self.project = act, weight_var, bias_var, project
        self.keep, self.budget = keep, budget  # stop keeping (drop) beyond budget bytes
        self.k, self.theta = k, theta
        self.sigma_rows, self.theta_rows, self.sdot_rows = [k], [theta], []
        self.coef_rows, self.d0_rows = [], []

    def step(self, series: _mehler.SeriesPlan | None, compaction=None, stats=None):
        """Advance one layer; returns (Σ, Σ̇, Θ) of the new layer. With ``stats`` (a list), the
        planner's per-block statistics of the Mehler coefficients are appended to it."""
        act = self.act
        if act.dual == "mehler":
            n = self.k.shape[0]
            e, ed, d0 = np.empty(n), np.empty(n), np.empty(n)
            blocks = []
            for b in range(0, max(n, 1), _BLOCK_POINTS):
                sl = slice(b, b + _BLOCK_POINTS)
                e[sl], ed[sl], c, d0[sl] = _mehler_layer(act, self.k[sl], series, self.project)
                if stats is not None:
                    stats.append((bool(c[:, 0::2].any()), bool(c[:, 1::2].any()), _mehler.tail_minima(c)))
                if self.keep:
                    blocks.append(c if compaction is None else _compact(c, *compaction))
                    if self.kept_bytes() + sum(b.nbytes for b in blocks) > self.budget:
                        self.drop()
                        blocks = []
            if self.keep:
                axis = 0 if compaction is None else 1
                self.coef_rows.append(np.concatenate(blocks, axis=axis) if len(blocks) > 1 else blocks[0])
                self.d0_rows.append(d0)
        else:
            e, ed = _closed_form_diagonal(act, self.k)
        with np.errstate(over="ignore", invalid="ignore"):  # the planner checks the range
            k_next = self.wv * e + self.bv
            sd = self.wv * ed
            theta = self.theta * sd + k_next
        if self.keep:
            self.sigma_rows.append(k_next)
            self.theta_rows.append(theta)
            self.sdot_rows.append(sd)
        self.k, self.theta = k_next, theta
        return k_next, sd, theta

    def kept_bytes(self) -> int:
        return sum(a.nbytes for rows in (self.sigma_rows, self.theta_rows, self.sdot_rows,
                                         self.coef_rows, self.d0_rows) for a in rows)

    def drop(self) -> None:
        self.keep = False
        self.sigma_rows, self.theta_rows, self.sdot_rows = [self.k], [self.theta], []
        self.coef_rows, self.d0_rows = [], []

    def compact(self, offset: int, step: int) -> None:
        self.coef_rows = [_compact(c, offset, step) for c in self.coef_rows]

    def tables(self) -> Tables:
        n = self.k.shape[0]
        coef = np.concatenate(self.coef_rows, axis=0) if self.coef_rows else None
        d0 = np.stack(self.d0_rows) if self.d0_rows else None
        sdot = np.stack(self.sdot_rows) if self.sdot_rows else np.empty((0, n))
        return Tables(np.stack(self.sigma_rows), np.stack(self.theta_rows), sdot, coef, d0)


def _first_layer(point_sets: list[np.ndarray], weight_var: float, bias_var: float) -> np.ndarray:
    x_all = np.concatenate([p.astype(np.float64, copy=False) for p in point_sets])
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported by the caller
        return weight_var * np.einsum("ij,ij->i", x_all, x_all) / x_all.shape[1] + bias_var


def _split(t: Tables, sizes: list[int]) -> list[Tables]:
    cuts = np.cumsum(sizes)[:-1]

    def part(a):
        return [None] * len(sizes) if a is None else np.split(a, cuts, axis=1)

    return [Tables(*fields) for fields in zip(*(part(a) for a in (t.sigma, t.theta, t.sigma_dot, t.coef, t.d0)))]


def table_bytes(prepared: Prepared, n_points: int, layers: int) -> int:
    """Bytes of the per-point tables of ``n_points`` points over ``layers`` layers."""
    per_layer = TABLE_BYTES_PER_POINT_LAYER
    m = prepared.mehler
    if m is not None:
        per_layer += 8 * (max(m.terms(s) for s in range(len(m.series))) + 1)
    return n_points * layers * per_layer


@dataclass(frozen=True)
class FixedPlan:
    """A series plan fixed once for every input whose first-layer variance is at most
    ``layer_max[0]`` (see :mod:`ntkfast._series_bound`): ``layer_max`` are the largest variances
    each layer may reach, ``mehler`` the plan of every layer step (None for closed forms)."""

    mehler: MehlerPlan | None
    layer_max: tuple[float, ...]
    bound_name: str  # what the user declared, for the error message


# A point may exceed a fixed plan's layer maxima by this much (relative): the maxima are the
# images of the bound computed on a grid, the points' own variances with other roundings.
FIXED_PLAN_SLACK = 1e-9


def _check_fixed(fixed: FixedPlan, layer: int, k: np.ndarray) -> None:
    limit = fixed.layer_max[layer - 1] * (1 + FIXED_PLAN_SLACK)
    if k.size and not float(k.max()) <= limit:
        raise ValueError(
            f"x: a point's layer-{layer} variance Σ(x, x) = {float(k.max()):.6g} exceeds "
            f"{fixed.layer_max[layer - 1]:.6g}, the largest that the kernel's fixed series plan "
            f"({fixed.bound_name}) covers; make the kernel with a larger input_bound")


def prepare(act: Activation, point_sets: list[np.ndarray], depth: int, weight_var: float,
            bias_var: float, project=_mehler.numpy_project, dtype=None,
            need_ntk: bool = True, table_budget: float = math.inf,
            fixed: FixedPlan | None = None) -> Prepared:
    """Run the diagonal recursion for all point sets together (float64 throughout).

    The sets are processed jointly so that numerical activations use one truncation order per
    layer for x1 and x2 alike, which the pair kernels require. ``project(values, rows)`` =
    values @ rows.T for the Hermite coefficients (numpy by default). With the working ``dtype``
    given, a layer whose diagonal Σ (and, when ``need_ntk``, Σ̇ and Θ) exceeds value_limit raises
    FloatingPointError before the next layer is computed; without ``need_ntk`` (NNGP only) those
    two may overflow harmlessly and are not used. The tables of all layers are kept while they
    need at most ``table_budget`` bytes (``Prepared.full``), otherwise only the last layer's.

    With a ``fixed`` plan (kernel objects with an input bound) nothing is planned from the
    points: every point's tables are then a function of that point alone, so any subset gives
    the same tables bit for bit, and a point outside the plan's range is refused.
    """
    limit = math.inf if dtype is None else value_limit(dtype, act)
    ntk_limit = value_limit(dtype) if need_ntk and dtype is not None else math.inf
    sizes = [p.shape[0] for p in point_sets]
    total = sum(sizes)
    k = _first_layer(point_sets, weight_var, bias_var)
    check_range("Σ", 1, k, limit)
    if fixed is not None:
        _check_fixed(fixed, 1, k)
    mehler = act.dual == "mehler" and depth > 1
    keep = total * depth * TABLE_BYTES_PER_POINT_LAYER <= table_budget
    rec = _Recursion(act, weight_var, bias_var, k, k, project, keep, table_budget)
    layer_max = [float(k.max())]
    series, stats = [], []
    sd = np.empty(0)
    for layer in range(2, depth + 1):
        plan, compaction = None, None
        if mehler and fixed is not None:
            plan = fixed.mehler.series[layer - 2]
            compaction = (fixed.mehler.offset, fixed.mehler.step)
        elif mehler:
            # The plan uses numpy's projection in both paths, so fast and reference agree on it.
            plan = _mehler.plan_series(act.fn, layer_max[-1], act.odd, act.derivative)
            series.append(plan)
            stats.append([])
        k_next, sd, theta = rec.step(plan, compaction, stats=stats[-1] if plan and not compaction else None)
        if fixed is not None:
            _check_fixed(fixed, layer, k_next)
        check_range("Σ", layer, k_next, limit)
        check_range("Σ̇", layer - 1, sd, ntk_limit)
        check_range("Θ", layer, theta, ntk_limit)
        layer_max.append(float(k_next.max()))
        if rec.keep and rec.kept_bytes() > table_budget:
            rec.drop()

    plan = None
    if mehler and fixed is not None:
        plan = fixed.mehler  # the coefficients were compacted as they were made
    elif mehler:
        plan = _plan_from_stats(series, stats)
        warn_truncation(act, plan.truncation, _mehler.MAX_TERMS, max(layer_max))
        if rec.keep:
            rec.compact(plan.offset, plan.step)
    prepared = Prepared(act, depth, weight_var, bias_var, plan, layer_max, [])
    if rec.keep:
        prepared.full = _split(rec.tables(), sizes)
        prepared.last = [Tables(t.sigma[-1:], t.theta[-1:], t.sigma_dot[-1:]) for t in prepared.full]
    else:
        sd_last = np.empty((0, total)) if depth == 1 else sd[None]
        prepared.last = _split(Tables(rec.k[None], rec.theta[None], sd_last), sizes)
    return prepared


def _plan_from_stats(series: list[_mehler.SeriesPlan], stats: list[list]) -> MehlerPlan:
    """The compaction (odd/even powers only) and ρ-limits of every layer from the per-block
    statistics of all points' coefficients."""
    any_even = any(even for layer in stats for even, _, _ in layer)
    any_odd = any(odd for layer in stats for _, odd, _ in layer)
    if not any_even:
        offset, step = 1, 2
    elif not any_odd:
        offset, step = 0, 2
    else:
        offset, step = 0, 1
    limits = []
    for plan, layer in zip(series, stats):
        minima = [m for _, _, m in layer]
        val = np.minimum.reduce([m[0] for m in minima])
        der = np.minimum.reduce([m[1] for m in minima])
        powers = np.arange(offset, plan.n_max + 1, step)
        if powers.size == 0:  # nothing but zeros stored (one zero term)
            limits.append(np.array([np.inf]))
            continue
        limits.append(_mehler.rho_limits_from_minima(val[powers], der[powers], powers))
    truncation = max(p.tail for p in series) + _mehler.PAIR_TOL
    return MehlerPlan(series, offset, step, limits, truncation)


def tables(prepared: Prepared, points: np.ndarray, first: int, last: int,
           start: tuple[np.ndarray, np.ndarray] | None = None,
           project=_mehler.numpy_project) -> Tables:
    """The tables of ``points`` for the table layers max(first, 1)..last, recomputed with the
    plan of ``prepared``: from the inputs when ``first`` is 0, else from ``start`` = (Σ, Θ) of
    layer ``first`` (:func:`state_of` of the previous pass)."""
    act, wv, bv = prepared.act, prepared.weight_var, prepared.bias_var
    if first == 0:
        k = _first_layer([points], wv, bv)
        rec = _Recursion(act, wv, bv, k, k, project, True)
        first = 1
    else:
        rec = _Recursion(act, wv, bv, start[0], start[1], project, True)
    m = prepared.mehler
    for layer in range(first, last):  # the step from `layer` to `layer + 1`
        if m is None:
            rec.step(None)
        else:
            rec.step(m.series[layer - 1], (m.offset, m.step))
    return rec.tables()


def state_of(t: Tables) -> tuple[np.ndarray, np.ndarray]:
    """(Σ, Θ) of the last table layer: where the next pass of the recursion starts."""
    return t.sigma[-1], t.theta[-1]
