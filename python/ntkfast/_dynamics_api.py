"""Argument handling and result types shared by ntkfast.dynamics and ntkfast.reference.dynamics:
same inputs, same errors, same results.

Time convention (ntk-math.md §4): C = (1/N) Σ_i ℓ(f(x_i), y_i) and
∂_t f_t(x) = −(1/N) Σ_i K(x, x_i) d_t(x_i), d = ∂ℓ/∂f, so t = learning rate × steps of gradient
descent on C. (neural-tangents divides by N·n_L instead.)
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable, NamedTuple

import numpy as np

from . import _validation as V
from ._losses import check_user_loss_return, loss_spec

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


@dataclass(frozen=True)
class KernelGDResult:
    """Outputs of kernel gradient descent at the requested times.

    ``t`` (T,); ``f_train`` (T, N, O); ``f_test`` (T, M, O) or None; ``loss`` (T,) = C(f_train(t)).
    With a 1-D ``y_train`` the last axis (O = 1) is dropped. ``n_rhs`` (kernel products K·D
    evaluated), ``n_steps`` (accepted steps) and ``n_rejected`` describe the ODE solve
    (all 0 for the closed form).
    """

    t: np.ndarray
    f_train: np.ndarray
    f_test: np.ndarray | None
    loss: np.ndarray
    n_rhs: int = 0
    n_steps: int = 0
    n_rejected: int = 0


@dataclass(frozen=True)
class EnsembleResult:
    """Distribution of f_t(x_test) over random initializations (a Gaussian per time).

    ``t`` (T,); ``mean`` (T, M, O), or (T, M) for a 1-D ``y_train``; ``cov`` (T, M, M), the same
    for every output (the kernel is K ⊗ Id), or None with ``covariance=False``; ``var`` (T, M),
    its diagonal (always computed, so ``std`` and ``quantile`` work without the full covariance).
    """

    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray | None
    var: np.ndarray

    @property
    def std(self) -> np.ndarray:
        """Standard deviation of f_t(x) per time and test point, shape (T, M)."""
        return np.sqrt(self.var)

    def quantile(self, q) -> np.ndarray:
        """The q-quantile of f_t(x) (0 < q < 1), mean + z_q·std, shaped like ``mean``."""
        if isinstance(q, np.ndarray) and q.ndim == 0:
            q = q.item()
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 < float(q) < 1.0:
            raise ValueError(f"q: expected a number strictly between 0 and 1, got {q!r}")
        z = NormalDist().inv_cdf(float(q))
        std = self.std
        return self.mean + z * (std if self.mean.ndim == 2 else std[..., None])


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


def method(value) -> str:
    return choice(value, "method", METHODS)


def tolerance(value, name: str) -> float:
    return V.nonnegative(value, name)


def tolerances(rtol, atol, loss_kind: str) -> tuple[float, float]:
    """rtol and atol, None meaning the loss's default (DEFAULT_TOLERANCES)."""
    default_r, default_a = DEFAULT_TOLERANCES[loss_kind]
    r = default_r if rtol is None else tolerance(rtol, "rtol")
    a = default_a if atol is None else tolerance(atol, "atol")
    if r == 0 and a == 0:
        raise ValueError("rtol, atol: at least one must be > 0")
    return r, a


def finite_solution(f_train: np.ndarray, meth: str, dt: float, kern: Kernel, tg: Targets,
                    f0: np.ndarray) -> None:
    """A fixed step beyond RK4's stability overflows instead of failing: say so. With targets or
    initial outputs whose squares overflow (~1e154) the values themselves are the likelier cause."""
    if np.isfinite(f_train).all():
        return
    if max(float(np.abs(tg.y).max()), float(np.abs(f0).max())) > _SQUARE_OVERFLOWS:
        finite_outputs("kernel_gd", tg, f0, f_train=f_train)
    hint = (f"rk4 with dt={dt:g} is unstable for this kernel (dt <= N / max row sum |K| = "
            f"{default_dt(kern):g} is stable), or use method='dopri5'" if meth == "rk4"
            else "the loss's derivative or the kernel makes the outputs blow up")
    raise FloatingPointError(f"kernel_gd: the outputs overflowed to inf/NaN: {hint}")


# Above this a square overflows float64 (sqrt of its max).
_SQUARE_OVERFLOWS = float(np.sqrt(np.finfo(np.float64).max))


def finite_outputs(who: str, tg: Targets, f0: np.ndarray, *, f_train=None, f_test=None,
                   loss=None) -> None:
    """Outputs and losses computed under np.errstate(over/invalid="ignore") must be finite: with
    targets or initial outputs near float64's limit the residual f − y, its squares (the MSE) or
    its projections overflow, and a huge k_test_train overflows the test outputs alone. Say
    which instead of returning NaN or a loss of inf."""
    if all(a is None or np.isfinite(a).all() for a in (f_train, f_test, loss)):
        return
    if f_test is not None and not np.isfinite(f_test).all() and (
            f_train is None or np.isfinite(f_train).all()) and (loss is None or np.isfinite(loss).all()):
        raise FloatingPointError(
            f"{who}: the test outputs overflow float64 while the training outputs are finite: "
            "f_test = f0_test − K(x*, X)·(the integrated residual); rescale k_test_train or f0_test")
    scale = max(float(np.abs(tg.y).max()), float(np.abs(f0).max()))
    raise FloatingPointError(
        f"{who}: the outputs or their MSE overflow float64 (max |y_train|, |f0_train| = {scale:.3g}; "
        "the loss squares the residual f - y); rescale y_train and f0_train (the dynamics are "
        "linear in them) or use a loss that does not overflow")


def default_dt(kern: Kernel) -> float:
    """N / max_i Σ_j |K_ij| <= N / λ_max: a stable RK4 step for MSE and cross-entropy."""
    row = kern.max_row_abs_sum
    return kern.k.shape[0] / row if row > 0 else 1.0


def step(dt, kern: Kernel, meth: str) -> float:
    if dt is None:
        return default_dt(kern) if meth == "rk4" else 0.0
    if meth != "rk4":
        raise ValueError("dt: only used by method='rk4' (dopri5 chooses its own steps from rtol/atol)")
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: expected a finite number > 0, got {dt!r}")
    return float(dt)


# The compiled integrator counts steps in an unsigned 64-bit integer; the reference refuses the
# same range so both accept the same calls (no integration comes near 2^64 steps anyway).
MAX_STEPS_LIMIT = 2**64 - 1


def max_steps(value) -> int:
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
    rt, at = tolerances(rtol, atol, ls.kind)
    return OdeCall(kern, tg, ts, ls, f0, test, meth, rt, at, step(dt, kern, meth),
                   max_steps(max_steps_value))


# --- losses -----------------------------------------------------------------------------------

def mse_value(f: np.ndarray, y: np.ndarray) -> float:
    return 0.5 * float(np.sum((f - y) ** 2)) / f.shape[0]


def cross_entropy_value(f: np.ndarray, y: np.ndarray) -> float:
    m = f.max(axis=1, keepdims=True)
    log_softmax = f - m - np.log(np.exp(f - m).sum(axis=1, keepdims=True))
    return -float(np.sum(y * log_softmax)) / f.shape[0]


def mse_derivative(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    return f - y


def cross_entropy_derivative(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    e = np.exp(f - f.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True) - y


def call_user_loss(fn: Callable, f: np.ndarray, tg: Targets) -> tuple[float, np.ndarray]:
    """The user's loss(f, y) -> (value, d) with f, y float64 (N, O) copies; checked (the shared
    contract of ntkfast._losses, then: value and d must be finite)."""
    n, n_out = tg.y.shape
    value, d = check_user_loss_return(fn(f.copy(), tg.y.copy()), n, n_out)
    if not np.isfinite(value):
        raise ValueError(f"loss: the callable returned a non-finite value {value!r}")
    if not np.isfinite(d).all():
        raise ValueError("loss: the callable's d contains NaN or infinity")
    return value, d


def loss_values(ls: Loss, f: np.ndarray, tg: Targets) -> np.ndarray:
    """C(f[j]) for every time j; f is (T, N, O). An MSE that overflows is inf here, without a
    warning: the caller refuses it (finite_outputs)."""
    if ls.kind == "mse":
        with np.errstate(over="ignore"):
            return np.array([mse_value(fj, tg.y) for fj in f])
    if ls.kind == "cross_entropy":
        return np.array([cross_entropy_value(fj, tg.y) for fj in f])
    return np.array([call_user_loss(ls.fn, fj, tg)[0] for fj in f])


def derivative(ls: Loss, tg: Targets) -> Callable[[np.ndarray], np.ndarray]:
    """d(f) for the loss, f and d (N, O)."""
    if ls.kind == "mse":
        return lambda f: mse_derivative(f, tg.y)
    if ls.kind == "cross_entropy":
        return lambda f: cross_entropy_derivative(f, tg.y)
    return lambda f: call_user_loss(ls.fn, f, tg)[1]


def shaped(a: np.ndarray | None, tg: Targets) -> np.ndarray | None:
    """Drop the last axis (O = 1) when y_train was 1-D."""
    if a is None or not tg.squeeze:
        return a
    return a[..., 0]


# --- closed forms -------------------------------------------------------------------------------

# An eigenvalue below −INDEFINITE_TOL·λ_max is not rounding: the kernel is not a kernel.
INDEFINITE_TOL = 1e-6


def spectrum(k: np.ndarray, ridge: float, name: str = "k_train"):
    """eigh of K + ridge·I, which eigenvalues count as 0 (below N·eps·λ_max, negative rounding
    included), and a refusal when K is clearly indefinite (its dynamics would blow up)."""
    n = k.shape[0]
    lam, v = np.linalg.eigh(k + ridge * np.eye(n) if ridge else k)
    top = max(float(lam.max()), 0.0)
    if lam.min() < -INDEFINITE_TOL * top or (top == 0.0 and lam.min() < 0.0):
        raise ValueError(
            f"{name}: expected a positive semi-definite kernel, but its smallest eigenvalue is "
            f"{lam.min():.3g} against a largest of {lam.max():.3g} (beyond rounding: "
            f"{INDEFINITE_TOL:g} of the largest); kernel gradient descent would diverge")
    zero = lam <= eigen_cutoff(lam, n)
    return np.where(zero, 0.0, lam), v, zero


def eigen_cutoff(lam: np.ndarray, n: int) -> float:
    """Eigenvalues below N·eps·λ_max (negative rounding included) are treated as 0."""
    return n * np.finfo(np.float64).eps * max(float(lam.max()), 0.0)


def decay(lam: np.ndarray, t: float, n: int, zero: np.ndarray) -> np.ndarray:
    """exp(−tλ/N), 1 on the null space (those directions do not move), 0 at t=∞ elsewhere."""
    if np.isinf(t):
        return np.where(zero, 1.0, 0.0)
    with np.errstate(over="ignore"):  # t·λ beyond float64 (t near its max): -inf, exp gives 0
        return np.where(zero, 1.0, np.exp(-t * np.where(zero, 0.0, lam) / n))


def decay_change(lam: np.ndarray, t: float, n: int, zero: np.ndarray) -> np.ndarray:
    """exp(−tλ/N) − 1 by expm1, 0 on the null space."""
    with np.errstate(over="ignore"):  # as in decay: expm1(-inf) = -1 is right
        return np.where(zero, 0.0, np.expm1(-t * np.where(zero, 0.0, lam) / n))


def early(lam: np.ndarray, t: float, n: int) -> bool:
    """Whether to write the training outputs as f_0 + V [e^{−tΛ/N} − 1] Vᵀ (f_0 − y) (every mode
    has moved by less than 1 − 1/e: the change is small and this keeps its digits) rather than
    y + V e^{−tΛ/N} Vᵀ (f_0 − y) (later: exact y where the modes have converged, a zero loss at
    t=∞ instead of rounding)."""
    with np.errstate(over="ignore"):  # t·λ_max = inf for huge t: correctly not early
        return bool(np.isfinite(t) and t * max(float(lam.max()), 0.0) <= n)


def bracket(lam: np.ndarray, t: float, n: int, zero: np.ndarray) -> np.ndarray:
    """(1 − exp(−tλ/N)) / λ: t/N on the null space (0 at t=∞: the pseudo-inverse)."""
    safe = np.where(zero, 1.0, lam)
    if np.isinf(t):
        return np.where(zero, 0.0, 1.0 / safe)
    # Null directions contribute nothing: in exact arithmetic K(x*, X) v = 0 there, and t/N
    # times its rounding would grow without bound with t.
    with np.errstate(over="ignore"):  # t·λ = inf for huge t: expm1(-inf) = -1 gives 1/λ, right
        return np.where(zero, 0.0, -np.expm1(-t * safe / n) / safe)


# --- infinite ensemble ------------------------------------------------------------------------

GETS = ("ntk", "nngp")


def get(value) -> str:
    return choice(value, "get", GETS)


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
