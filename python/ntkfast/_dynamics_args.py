"""Argument handling of ntkfast.dynamics, shared with ntkfast.reference.dynamics: one parse per
public function, same inputs, same errors.

Time convention (ntk-math.md §4): C = (1/N) Σ_i ℓ(f(x_i), y_i) and
∂_t f_t(x) = −(1/N) Σ_i K(x, x_i) d_t(x_i), d = ∂ℓ/∂f, so t = learning rate × steps of gradient
descent on C. (neural-tangents divides by N·n_L instead.)
"""
from __future__ import annotations

import numbers
import warnings
from typing import Callable, NamedTuple

import numpy as np

from . import _validation as V
from ._losses import loss_spec

METHODS = ("dopri5", "rk4")
# dopri5 defaults, per loss (rtol=None/atol=None in the API), each set by the accuracy the issue
# asks of that case, with margin:
# - MSE (and a user's callable, whose needs we cannot know): the ODE must match the closed form to
#   1e-8 relative. rtol=1e-8/atol=1e-10 gives 3e-10 to 1.4e-9 (max error / max |f|, depth-3 ReLU
#   NTKs of N = 12..1000 Gaussian points, t <= 1000; remeasured): 7x margin or more (rtol=1e-7 left
#   only 4x on a 400-point problem; rtol=1e-6 missed, 2.3e-8).
# - cross-entropy: 1e-6 relative against a tight solution on the benchmark problem (N=4000, 10
#   classes, t=1000, depth-3 ReLU NTK of Gaussian inputs). rtol=1e-6/atol=1e-8 gives 2.0e-8 there
#   (50x margin) with 266 kernel products; the MSE setting gives 1.3e-10 with 578.
DEFAULT_TOLERANCES = {"mse": (1e-8, 1e-10), "callback": (1e-8, 1e-10), "cross_entropy": (1e-6, 1e-8)}


class Targets(NamedTuple):
    y: np.ndarray  # (N, O) float64
    squeeze: bool  # y_train was 1-D: drop the last axis of every output


def _refuse_nonfinite(arr: np.ndarray, name: str) -> None:
    bad = np.argwhere(~np.isfinite(arr))[0]
    raise ValueError(f"{name}: contains NaN or infinity (first at index {tuple(int(i) for i in bad)})")


def _float_array(a, name: str, check_finite: bool = True) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name}: expected a numeric array; {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers (float or integer), got dtype {arr.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        # not ascontiguousarray: it turns a 0-d array into shape (1,), which would then pass a
        # shape check meant for (N,) with N = 1 and be reported with a shape it does not have
        out = np.asarray(arr, dtype=np.float64, order="C")
    if check_finite and not np.isfinite(out).all():
        _refuse_nonfinite(out, name)
    return out


# (finite, max|k|, max_i Σ_j |k_ij|, max|k − kᵀ|) of a 2-D float64 array; the fast API passes the
# compiled version (_core.kernel_stats), which reads the matrix twice without N×N temporaries.
StatsFn = Callable[[np.ndarray, bool], tuple]


def numpy_kernel_stats(a: np.ndarray, symmetric: bool) -> tuple:
    """The numpy version of the kernel checks, by blocks of rows (no N×N temporaries)."""
    if not np.isfinite(a).all():
        return False, np.nan, np.nan, np.nan
    block = max(1, (1 << 22) // max(a.shape[1], 1))
    max_abs = row_sum = asym = 0.0
    with np.errstate(over="ignore"):  # sums of entries near float64's limit are inf, as in C++
        for b in range(0, a.shape[0], block):
            part = np.abs(a[b:b + block])
            max_abs = max(max_abs, float(part.max()))
            row_sum = max(row_sum, float(part.sum(axis=1).max()))
            if symmetric:
                asym = max(asym, float(np.abs(a[b:b + block] - a[:, b:b + block].T).max()))
    return True, max_abs, row_sum, asym


class Kernel(NamedTuple):
    k: np.ndarray               # float64, C-contiguous, finite (symmetric for k_train)
    max_row_abs_sum: float      # max_i Σ_j |k_ij|, for the default RK4 step


def times(t, *, allow_inf: bool, who: str) -> np.ndarray:
    """1-D float64 array of times: >= 0, non-decreasing, finite except (where allowed) a
    trailing np.inf. A scalar gives shape (1,)."""
    if isinstance(t, bool):
        raise TypeError(f"t: expected a number or 1-D array of times, got {t!r}")
    try:
        arr = np.asarray(t)
    except ValueError as exc:
        raise ValueError(f"t: expected a number or 1-D array of times; {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "iuf":  # bools too (np.True_ as in t=True)
        raise TypeError(f"t: expected real numbers, got dtype {arr.dtype}")
    arr = np.atleast_1d(arr.astype(np.float64))
    if arr.ndim != 1:
        raise ValueError(f"t: expected a scalar or a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("t: expected at least one time, got an empty array")
    if np.isnan(arr).any():
        raise ValueError("t: contains NaN")
    if (arr < 0).any():
        raise ValueError(f"t: times must be >= 0, got {float(arr[arr < 0][0]):g}")
    drops = arr[1:] < arr[:-1]  # not np.diff: inf - inf would warn for repeated trailing infs
    if drops.any():
        i = int(np.argmax(drops))
        raise ValueError(f"t: times must be non-decreasing, got t[{i}]={float(arr[i]):g} > t[{i + 1}]={float(arr[i + 1]):g}")
    if np.isinf(arr).any():
        if not allow_inf:
            raise ValueError(
                f"t: {who} integrates an ODE and cannot reach t=inf; for MSE use "
                "ntkfast.kernel_gd_mse (closed form, t=inf is kernel regression)"
            )
    return arr


def kernel_train(k, name: str = "k_train", stats: StatsFn = numpy_kernel_stats) -> Kernel:
    a = _float_array(k, name, check_finite=False)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty square 2-D array (N, N), got shape {a.shape}")
    finite, scale, row_sum, asym = stats(a, True)
    if not finite:
        _refuse_nonfinite(a, name)
    # float32 kernels carry rounding ~1e-7 relative, even where they should be mirror images
    # (in either byte order: `dtype == np.float32` is False for big-endian float32)
    src = np.asarray(k).dtype if hasattr(k, "dtype") else None
    tol = 1e-5 if src is not None and src.kind == "f" and src.itemsize == 4 else 1e-8
    if asym > tol * scale:
        raise ValueError(
            f"{name}: expected a symmetric matrix, max|K - K.T| = {asym:.3g} exceeds {tol:g} * max|K| = "
            f"{tol * scale:.3g} (if the asymmetry is rounding, pass (K + K.T) / 2)"
        )
    return Kernel(a, row_sum)


def kernel_test(k, n: int, name: str = "k_test_train", stats: StatsFn = numpy_kernel_stats) -> np.ndarray:
    a = _float_array(k, name, check_finite=False)
    if a.ndim != 2 or a.shape[1] != n or a.shape[0] == 0:
        raise ValueError(f"{name}: expected a 2-D array (M, N) with N={n} columns (k_train's size), got shape {a.shape}")
    if not stats(a, False)[0]:
        _refuse_nonfinite(a, name)
    return a


def targets(y, n: int, name: str = "y_train") -> Targets:
    a = _float_array(y, name)
    if a.ndim not in (1, 2) or a.shape[0] != n or (a.ndim == 2 and a.shape[1] == 0):
        raise ValueError(f"{name}: expected shape ({n},) or ({n}, n_outputs) to match the kernel's N={n}, got shape {a.shape}")
    return Targets(a.reshape(n, -1) if a.ndim == 2 else a[:, None], a.ndim == 1)


def initial(f0, rows: int, tg: Targets, name: str, rows_from: str) -> np.ndarray:
    """f0 of shape (rows, O) (or (rows,) for a 1-D y); zeros when None."""
    n_out = tg.y.shape[1]
    if f0 is None:
        return np.zeros((rows, n_out))
    a = _float_array(f0, name)
    want = (rows,) if tg.squeeze else (rows, n_out)
    if a.shape != want:
        raise ValueError(f"{name}: expected shape {want} ({rows_from} rows, outputs like y_train), got shape {a.shape}")
    return a.reshape(rows, n_out)


class HeldOut(NamedTuple):
    k: np.ndarray | None
    f0: np.ndarray | None


def held_out(k_test_train, f0_test, n: int, tg: Targets, stats: StatsFn = numpy_kernel_stats) -> HeldOut:
    if k_test_train is None:
        if f0_test is not None:
            raise ValueError("f0_test: given without k_test_train (test outputs need the test-train kernel)")
        return HeldOut(None, None)
    k = kernel_test(k_test_train, n, stats=stats)
    return HeldOut(k, initial(f0_test, k.shape[0], tg, "f0_test", "k_test_train's"))


def ridge(value) -> float:
    return V.nonnegative(value, "ridge")


class Loss(NamedTuple):
    kind: str  # "mse", "cross_entropy" or "callback"
    fn: Callable | None  # the user's callable


def loss(value, tg: Targets) -> Loss:
    spec = loss_spec(value)  # the contract shared with train (ntkfast._losses)
    if callable(spec):
        return Loss("callback", spec)
    kind = spec
    if kind == "cross_entropy":
        y = tg.y
        if tg.squeeze or y.shape[1] < 2:
            raise ValueError(f"y_train: cross-entropy needs 2-D targets (N, O) with O >= 2 classes (one-hot or probabilities), got shape {(y.shape[0],) if tg.squeeze else y.shape}")
        if (y < 0).any() or not np.allclose(y.sum(axis=1), 1.0, rtol=0, atol=1e-5):
            raise ValueError("y_train: cross-entropy needs rows of probabilities (entries >= 0, each row summing to 1)")
    return Loss(kind, None)


def method(value) -> str:
    return V.choice(value, "method", METHODS)


def tolerance(value, name: str) -> float:
    return V.nonnegative(value, name)


def output_scale(tg: Targets, f0: np.ndarray) -> float:
    """max |y_train|, |f0_train|: the size of what MSE and cross-entropy solutions are made of."""
    return max(float(np.abs(tg.y).max()), float(np.abs(f0).max()))


def tolerances(rtol, atol, loss_kind: str, scale: float) -> tuple[float, float]:
    """rtol and atol, None meaning the loss's default (DEFAULT_TOLERANCES).

    dopri5 accepts a step when rms(e / (atol + rtol·max(|f|, |f_new|))) <= 1, so
    - rtol >= 1 accepts local errors as large as the outputs themselves: nothing is controlled
      (rtol=10, atol=10 returned a loss of 1.7e102 for a true 0.107), and is refused;
    - atol is in the outputs' units, so only its size against the outputs can be judged. For MSE
      and cross-entropy the solution is made of y_train and f0_train (MSE: rms(f_t − y) <=
      rms(f0 − y); cross-entropy: logits whose differences of ~1 are factors of e in the
      probabilities), and an atol at or above ``scale`` = max |y_train|, |f0_train| accepts errors
      as large as the largest of them: refused, when scale > 0. A callable loss's outputs can
      have any size whatever y is, so there only a negative or non-finite atol is refused.
    The defaults are not judged (they are documented per loss)."""
    default_r, default_a = DEFAULT_TOLERANCES[loss_kind]
    r = default_r if rtol is None else tolerance(rtol, "rtol")
    a = default_a if atol is None else tolerance(atol, "atol")
    if rtol is not None and r >= 1:
        raise ValueError(f"rtol: expected a relative tolerance below 1, got {rtol!r}: rtol >= 1 accepts "
                         "steps whose error is as large as the outputs, which leaves no correct digit")
    if atol is not None and loss_kind != "callback" and 0 < scale <= a:
        raise ValueError(
            f"atol: {atol!r} is at least the size of the outputs (max |y_train|, |f0_train| = "
            f"{scale:.3g}): every step whose error is that large would be accepted; use an atol "
            f"well below it (this loss's default is {default_a:g})")
    if r == 0 and a == 0:
        raise ValueError("rtol, atol: at least one must be > 0")
    return r, a


def default_dt(kern: Kernel) -> float:
    """N / max_i Σ_j |K_ij| <= N / λ_max: a stable RK4 step for MSE and cross-entropy."""
    row = kern.max_row_abs_sum
    return kern.k.shape[0] / row if row > 0 else 1.0


# RK4's stability interval on the negative real axis: |R(−x)| <= 1 for 0 <= x <= RK4_STABILITY,
# R(z) = 1 + z + z²/2 + z³/6 + z⁴/24 (the real root of x³/24 − x²/6 + x/2 − 1 = 0).
RK4_STABILITY = 2.785293563405282


def lambda_max_lower_bound(k: np.ndarray) -> float:
    """max(max_i K_ii, 1ᵀK1/N) <= λ_max(K) for any symmetric K (Rayleigh quotients of e_i and of
    1/sqrt(N)); one pass over K, no eigendecomposition."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.sum(k)) / k.shape[0]
    diag = float(np.diagonal(k).max())
    return max(diag, mean) if np.isfinite(mean) else diag  # a sum that overflows: the diagonal alone


def largest_step(dt: float, ts: np.ndarray) -> float:
    """The longest step RK4 takes: each interval between requested times is cut into the fewest
    equal steps <= dt (as the integrators count them)."""
    spans = np.diff(np.concatenate([[0.0], ts]))
    spans = spans[spans > 0]
    if spans.size == 0:
        return 0.0
    with np.errstate(over="ignore"):
        counts = np.maximum(1.0, np.ceil(spans / dt - 1e-9))
    return float((spans / counts).max())


def step(dt, kern: Kernel, meth: str, ts: np.ndarray, loss_kind: str) -> float:
    """RK4's step (0.0 for dopri5). A given dt is checked against RK4's stability limit for the
    ODE's Jacobian, −(1/N) K·H with H the loss's Hessian in f, using λ_max(K) >= L (a cheap
    certain bound, lambda_max_lower_bound):
    - MSE (H = I): steps h > RK4_STABILITY·N/L are certainly beyond the limit, so the top
      eigen-direction of the residual grows by |R| > 1 per step where it should decay: refused.
    - cross-entropy (H = softmax Jacobian, ||H|| <= 1/2, smaller where the softmax saturates):
      beyond 2·RK4_STABILITY·N/L the steps are unstable wherever the softmax is not saturated,
      which depends on the trajectory: a RuntimeWarning (blow-ups are then stopped by the
      divergence rule).
    - a callable loss: its curvature is unknown (a loss scaled by 1000 needs a 1000 times smaller
      step), so nothing is judged beforehand; the divergence rule applies."""
    if dt is None:
        return default_dt(kern) if meth == "rk4" else 0.0
    if meth != "rk4":
        raise ValueError("dt: only used by method='rk4' (dopri5 chooses its own steps from rtol/atol)")
    dt = V.scalar(dt)
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: expected a finite number > 0, got {dt!r}")
    h = float(dt)
    if loss_kind == "callback":
        return h
    lam = lambda_max_lower_bound(kern.k)
    if not lam > 0:
        return h
    n = kern.k.shape[0]
    curvature = 1.0 if loss_kind == "mse" else 0.5
    limit = RK4_STABILITY * n / (curvature * lam)
    h_max = largest_step(h, ts)
    if not h_max > limit:
        return h
    bound = (f"{RK4_STABILITY:.4g}·N/λ_max(K)" if loss_kind == "mse"
             else f"2·{RK4_STABILITY:.4g}·N/λ_max(K) where the softmax is not saturated")
    what = (f"dt: rk4 with dt={h:g} takes steps of {h_max:g}, beyond RK4's stability limit for "
            f"{'MSE' if loss_kind == 'mse' else 'cross-entropy'}, {bound}, which is at most "
            f"{limit:.4g} here (λ_max(K) >= max(max_i K_ii, 1ᵀK1/N) = {lam:.4g}, N = {n})")
    fix = (f"use dt <= {limit:.4g}, the default dt (N / max row sum |K| = {default_dt(kern):.4g}), "
           "or method='dopri5'")
    if loss_kind == "mse":
        raise ValueError(f"{what}: the outputs would grow instead of converge; {fix}")
    warnings.warn(f"{what}: the outputs may oscillate or blow up; {fix}", RuntimeWarning, stacklevel=4)
    return h


# The compiled integrator counts steps in an unsigned 64-bit integer; the reference refuses the
# same range so both accept the same calls (no integration comes near 2^64 steps anyway).
MAX_STEPS_LIMIT = 2**64 - 1


def max_steps(value) -> int:
    value = V.scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"max_steps: expected an integer from 1 to 2**64 - 1, got {value!r}")
    if not 1 <= value <= MAX_STEPS_LIMIT:
        raise ValueError(f"max_steps: expected an integer from 1 to 2**64 - 1, got {value}")
    return int(value)


# --- whole calls: one parse per public function, for the fast path and the reference alike ----

class MseCall(NamedTuple):
    k: np.ndarray
    tg: Targets
    ts: np.ndarray
    f0: np.ndarray
    test: HeldOut
    ridge: float


def parse_kernel_gd_mse(k_train, y_train, t, f0_train, k_test_train, f0_test, ridge_value,
                        stats: StatsFn = numpy_kernel_stats) -> MseCall:
    """kernel_gd_mse's arguments, checked in the order that decides which error comes first."""
    k = kernel_train(k_train, stats=stats).k
    n = k.shape[0]
    tg = targets(y_train, n)
    ts = times(t, allow_inf=True, who="kernel_gd_mse")
    f0 = initial(f0_train, n, tg, "f0_train", "k_train's")
    test = held_out(k_test_train, f0_test, n, tg, stats=stats)
    return MseCall(k, tg, ts, f0, test, ridge(ridge_value))


class OdeCall(NamedTuple):
    kern: Kernel
    tg: Targets
    ts: np.ndarray
    loss: Loss
    f0: np.ndarray
    test: HeldOut
    method: str
    rtol: float
    atol: float
    dt: float
    max_steps: int


def parse_kernel_gd(k_train, y_train, t, loss_value, f0_train, k_test_train, f0_test,
                    method_value, rtol, atol, dt, max_steps_value,
                    stats: StatsFn = numpy_kernel_stats) -> OdeCall:
    """kernel_gd's arguments, checked in the order that decides which error comes first."""
    kern = kernel_train(k_train, stats=stats)
    n = kern.k.shape[0]
    tg = targets(y_train, n)
    ts = times(t, allow_inf=False, who="kernel_gd")
    ls = loss(loss_value, tg)
    f0 = initial(f0_train, n, tg, "f0_train", "k_train's")
    test = held_out(k_test_train, f0_test, n, tg, stats=stats)
    meth = method(method_value)
    rt, at = tolerances(rtol, atol, ls.kind, output_scale(tg, f0))
    return OdeCall(kern, tg, ts, ls, f0, test, meth, rt, at, step(dt, kern, meth, ts, ls.kind),
                   max_steps(max_steps_value))


# --- infinite ensemble ------------------------------------------------------------------------

GETS = ("ntk", "nngp")


def get(value) -> str:
    return V.choice(value, "get", GETS)


def ensemble_inputs(x_train, y_train, x_test):
    xtr = V.points(x_train, "x_train", np.dtype(np.float64))
    xte = V.points(x_test, "x_test", np.dtype(np.float64))
    if xte.shape[1] != xtr.shape[1]:
        raise ValueError(f"x_test: expected {xtr.shape[1]} features to match x_train, got shape {xte.shape}")
    return xtr, xte, targets(y_train, xtr.shape[0])


def flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def shaped(a: np.ndarray | None, tg: Targets) -> np.ndarray | None:
    """Drop the last axis (O = 1) when y_train was 1-D."""
    if a is None or not tg.squeeze:
        return a
    return a[..., 0]
