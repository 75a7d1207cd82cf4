"""Per-point part of the infinite-width recursion, shared by the fast path and the reference.

Everything here is O(N·L) (closed forms) or O(N·L·M·deg) (Mehler coefficients): the diagonals
Σ^(l)(x,x), Σ̇^(l)(x,x), Θ^(l)(x,x) of every layer and, for numerical activations, the Hermite
coefficients of every point and layer. The O(N1·N2·L) pair work is done by the C++ core
(kernels.py) or by plain numpy (reference/kernels.py) from these arrays.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _mehler
from ._bivariate import elu_dual
from .activations import Activation


# Above this the Mehler error bound (normally ~1e-11) is worth a warning.
ACCURACY_WARNING = 1e-8
# ELU's kernels are validated against quadrature up to this layer variance, for every ρ
# (tests/test_truth_closed_forms.py). Its formulas overflow nowhere any more (_bivariate.py: no
# exponential of a large argument; spot checks up to variance 1e10 agree with mpmath to 3e-16), so
# the limit could go, together with tests/test_truth.py's check that 900 is refused.
ELU_MAX_VARIANCE = 300.0


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
        if k.max() > ELU_MAX_VARIANCE:
            raise ValueError(
                f"activation: elu's kernels are validated for layer variances Σ(x,x) <= "
                f"{ELU_MAX_VARIANCE:g}, got {k.max():.3g}; scale the inputs or weight_std/bias_std down")
        return elu_dual(k, k, k, act.alpha, same_point=True)
    raise AssertionError(act.dual)


@dataclass
class MehlerTables:
    """Hermite coefficients per layer step, compacted to the powers of ρ that are not all zero."""

    offset: int                 # first power of ρ (1 for odd φ)
    step: int                   # 2 when only odd or only even powers occur
    terms: list[int]            # stored coefficients per layer step
    rho_limits: list[float]     # per stored term, layers concatenated (_mehler.rho_limits)
    coef: list[np.ndarray]      # per point set: (Σ terms, n), layer blocks stacked
    d0: list[np.ndarray]        # per point set: (depth-1, n), E[φ'(u)]
    truncation: float           # per-entry relative bound: largest tail over the layers + PAIR_TOL


@dataclass
class Prepared:
    sigma_diag: list[np.ndarray]      # per point set: (depth, n)
    sigma_dot_diag: list[np.ndarray]  # per point set: (depth-1, n)
    theta_diag: list[np.ndarray]      # per point set: (depth, n)
    mehler: MehlerTables | None = field(default=None)


def _mehler_diagonal(act: Activation, k: np.ndarray, project):
    """One layer of the truncated Mehler series at ρ = 1: E[φ²], E[φ'²] per point, with the
    coefficients c (points × orders), E[φ'(u)] per point (d0) and the truncation tail."""
    # The plan uses numpy's projection in both paths, so fast and reference agree on the orders.
    plan = _mehler.plan_series(act.fn, float(k.max()), act.odd, act.derivative)
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
    return e, ed, c, d0, plan.tail


def value_limit(dtype, act: Activation | None = None) -> float:
    """Largest diagonal value a kernel in ``dtype`` may reach. Σ as the input of erf's pair
    formula, which multiplies two variances (k11 k22 - k12²), must stay below the square root of
    the largest number; everything else (Σ of the other duals, which only multiply square roots,
    and Σ̇, Θ, which are only scaled and added) keeps a margin of 16 for the recursion's sums."""
    big = float(np.finfo(dtype).max)
    return math.sqrt(big) / 4 if act is not None and act.dual == "erf" else big / 16


def _check_range(name: str, layer: int, values: np.ndarray, limit: float) -> None:
    """FloatingPointError when a layer's diagonal values are not finite or exceed ``limit``:
    every entry of that layer's Gram matrix would be inf or NaN (|K_ij| <= sqrt(K_ii K_jj))."""
    if values.size == 0 or limit == math.inf:  # nothing to check, or not asked to
        return
    worst = float(np.max(np.abs(values)))
    if np.isfinite(worst) and worst <= limit:
        return
    what = "is NaN" if np.isnan(values).any() else f"reaches {worst:.3g}"
    raise FloatingPointError(
        f"the kernel overflows: {name}(x, x) {what} at layer {layer} (values above {limit:.3g} "
        "cannot be represented in the working dtype); scale the inputs, weight_std or bias_std "
        "down, or use fewer layers (depth)")


# erf and sin at layer variance k: E[φ'φ'] (erf, hence Σ̇ and Θ) and E[φφ] (sin, hence all) of two
# points change by O(1) of their size when ρ moves by ~1/k near ρ = 1, so entries of (nearly)
# coinciding points are as uncertain as k times the rounding of Σ(x, x'): about
# CONDITIONING · k · eps relative (measured 0.03-5 · k · eps for duplicated rows). The diagonal
# itself (angle exactly 0) is not affected. Warn where that exceeds this much of its scale.
CONDITIONING = 5.0
CONDITIONING_WARNING = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-3}


def warn_conditioning(act: Activation, prepared: "Prepared", dtype, need_ntk: bool) -> None:
    """For pair kernels (not the diagonal functions): a RuntimeWarning where erf (when Σ̇ is
    needed) or sin is ill-conditioned near coinciding points, pointing at the caller's line."""
    if not (act.dual == "sin" or (act.dual == "erf" and need_ntk)):
        return
    dt = np.dtype(dtype)
    layers = [s[:-1] for s in prepared.sigma_diag]  # the variances the activation is applied to
    k_max = max((float(s.max()) for s in layers if s.size), default=0.0)
    bound = CONDITIONING * k_max * float(np.finfo(dt).eps)
    if bound <= CONDITIONING_WARNING.get(dt, 1e-8):
        return
    advice = "scale the inputs or weight_std down" + (", or use float64" if dt != np.float64 else "")
    warnings.warn(
        f"ntkfast: {act.name} at layer variances up to {k_max:.3g} is ill-conditioned near "
        f"coinciding points: entries of (nearly) equal inputs are good to about {bound:.1g} "
        f"relative in {dt.name} (other entries and the diagonal are not affected); {advice}",
        RuntimeWarning, stacklevel=_caller_stacklevel())


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside this package, for warnings.warn called from the
    function that calls this one: the user's line, however deep the call came from."""
    import os
    import sys
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def prepare(act: Activation, point_sets: list[np.ndarray], depth: int, weight_var: float,
            bias_var: float, project=_mehler.numpy_project, dtype=None,
            need_ntk: bool = True) -> Prepared:
    """Run the diagonal recursion for all point sets together (float64 throughout).

    The sets are processed jointly so that numerical activations use one truncation order per
    layer for x1 and x2 alike, which the pair kernels require. ``project(values, rows)`` =
    values @ rows.T for the Hermite coefficients (numpy by default). With the working ``dtype``
    given, a layer whose diagonal Σ (and, when ``need_ntk``, Σ̇ and Θ) exceeds value_limit raises
    FloatingPointError before the next layer is computed; without ``need_ntk`` (NNGP only) those
    two may overflow harmlessly and are not used.
    """
    limit = math.inf if dtype is None else value_limit(dtype, act)
    ntk_limit = value_limit(dtype) if need_ntk and dtype is not None else math.inf
    sizes = [p.shape[0] for p in point_sets]
    x_all = np.concatenate([p.astype(np.float64, copy=False) for p in point_sets])
    n0 = x_all.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported just below
        k = weight_var * np.einsum("ij,ij->i", x_all, x_all) / n0 + bias_var
    _check_range("Σ", 1, k, limit)
    sigma = [k]
    sigma_dot = []
    theta = [k]
    mehler_layers = []
    d0_layers = []
    tails = []
    for _ in range(depth - 1):
        if act.dual == "mehler":
            e, ed, c, d0, tail = _mehler_diagonal(act, k, project)
            mehler_layers.append(c)
            d0_layers.append(d0)
            tails.append(tail)
        else:
            e, ed = _closed_form_diagonal(act, k)
        with np.errstate(over="ignore", invalid="ignore"):
            k_next = weight_var * e + bias_var
            sd = weight_var * ed
            theta.append(theta[-1] * sd + k_next)
        layer = len(sigma) + 1
        _check_range("Σ", layer, k_next, limit)
        _check_range("Σ̇", layer - 1, sd, ntk_limit)
        _check_range("Θ", layer, theta[-1], ntk_limit)
        sigma.append(k_next)
        sigma_dot.append(sd)
        k = k_next

    def split(rows: list[np.ndarray], width: int) -> list[np.ndarray]:
        stacked = np.stack(rows) if rows else np.empty((0, width))
        return np.split(stacked, np.cumsum(sizes)[:-1], axis=1)

    total = sum(sizes)
    prepared = Prepared(split(sigma, total), split(sigma_dot, total), split(theta, total))
    if act.dual == "mehler" and depth > 1:
        prepared.mehler = _compact(mehler_layers, d0_layers, sizes, max(tails) + _mehler.PAIR_TOL)
        if prepared.mehler.truncation > ACCURACY_WARNING:
            warnings.warn(
                f"ntkfast: the {act.name} kernel's Hermite series is cut at {_mehler.MAX_TERMS} "
                f"terms for variances up to {max(float(s.max()) for s in sigma):.3g}: its error "
                f"bound is {prepared.mehler.truncation:.2g} of the diagonal scale "
                "(KernelResult.truncation_error); scale the inputs or weight_std down to tighten it",
                RuntimeWarning, stacklevel=4)
    return prepared


def _compact(layers: list[np.ndarray], d0_layers: list[np.ndarray], sizes: list[int],
             truncation: float) -> MehlerTables:
    odd_only = all(not c[:, 0::2].any() for c in layers)
    even_only = all(not c[:, 1::2].any() for c in layers)
    if odd_only:
        offset, step = 1, 2
    elif even_only:
        offset, step = 0, 2
    else:
        offset, step = 0, 1
    kept = [c[:, offset::step] for c in layers]
    kept = [c if c.shape[1] else np.zeros((c.shape[0], 1)) for c in kept]
    terms = [c.shape[1] for c in kept]
    limits = [_mehler.rho_limits(kc, np.arange(offset, offset + step * kc.shape[1], step))
              for kc in kept]
    coef_all = np.concatenate([c.T for c in kept], axis=0)  # (Σ terms, n_total)
    d0_all = np.stack(d0_layers)
    cuts = np.cumsum(sizes)[:-1]
    return MehlerTables(offset, step, terms, np.concatenate(limits).tolist(),
                        np.split(coef_all, cuts, axis=1),
                        np.split(d0_all, cuts, axis=1), truncation)
