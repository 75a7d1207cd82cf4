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

LOSSES = {"mse": "mse", "cross_entropy": "cross_entropy", "ce": "cross_entropy"}
METHODS = ("dopri5", "rk4")
# Tuned on the benchmark problem (cross-entropy, N=4000, 10 classes, t=1000, ReLU NTK of depth 3)
# for 1e-6 relative accuracy against a tight solution; see kernel_gd's docstring.
DEFAULT_RTOL = 1e-8
DEFAULT_ATOL = 1e-10


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
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 < float(q) < 1.0:
            raise ValueError(f"q: expected a number strictly between 0 and 1, got {q!r}")
        z = NormalDist().inv_cdf(float(q))
        std = self.std
        return self.mean + z * (std if self.mean.ndim == 2 else std[..., None])


class Targets(NamedTuple):
    y: np.ndarray  # (N, O) float64
    squeeze: bool  # y_train was 1-D: drop the last axis of every output


def _float_array(a, name: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name}: expected a numeric array; {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers (float or integer), got dtype {arr.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        bad = np.argwhere(~np.isfinite(out))[0]
        raise ValueError(f"{name}: contains NaN or infinity (first at index {tuple(int(i) for i in bad)})")
    return out


def times(t, *, allow_inf: bool, who: str) -> np.ndarray:
    """1-D float64 array of times: >= 0, non-decreasing, finite except (where allowed) a
    trailing np.inf. A scalar gives shape (1,)."""
    if isinstance(t, bool):
        raise TypeError(f"t: expected a number or 1-D array of times, got {t!r}")
    try:
        arr = np.asarray(t)
    except ValueError as exc:
        raise ValueError(f"t: expected a number or 1-D array of times; {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"t: expected real numbers, got dtype {arr.dtype}")
    arr = np.atleast_1d(arr.astype(np.float64))
    if arr.ndim != 1:
        raise ValueError(f"t: expected a scalar or a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("t: expected at least one time, got an empty array")
    if np.isnan(arr).any():
        raise ValueError("t: contains NaN")
    if (arr < 0).any():
        raise ValueError(f"t: times must be >= 0, got {arr[arr < 0][0]!r}")
    if (np.diff(arr) < 0).any():
        i = int(np.argmax(np.diff(arr) < 0))
        raise ValueError(f"t: times must be non-decreasing, got t[{i}]={arr[i]!r} > t[{i + 1}]={arr[i + 1]!r}")
    if np.isinf(arr).any():
        if not allow_inf:
            raise ValueError(
                f"t: {who} integrates an ODE and cannot reach t=inf; for MSE use "
                "ntkfast.kernel_gd_mse (closed form, t=inf is kernel regression)"
            )
    return arr


def kernel_train(k, name: str = "k_train") -> np.ndarray:
    a = _float_array(k, name)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty square 2-D array (N, N), got shape {a.shape}")
    scale = float(np.abs(a).max())
    asym = float(np.abs(a - a.T).max())
    if asym > 1e-8 * scale:
        raise ValueError(
            f"{name}: expected a symmetric matrix, max|K - K.T| = {asym:.3g} exceeds 1e-8 * max|K| = {1e-8 * scale:.3g}"
        )
    return a


def kernel_test(k, n: int, name: str = "k_test_train") -> np.ndarray:
    a = _float_array(k, name)
    if a.ndim != 2 or a.shape[1] != n or a.shape[0] == 0:
        raise ValueError(f"{name}: expected a 2-D array (M, N) with N={n} columns (k_train's size), got shape {a.shape}")
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


class TestSet(NamedTuple):
    k: np.ndarray | None
    f0: np.ndarray | None


def test_set(k_test_train, f0_test, n: int, tg: Targets) -> TestSet:
    if k_test_train is None:
        if f0_test is not None:
            raise ValueError("f0_test: given without k_test_train (test outputs need the test-train kernel)")
        return TestSet(None, None)
    k = kernel_test(k_test_train, n)
    return TestSet(k, initial(f0_test, k.shape[0], tg, "f0_test", "k_test_train's"))


def ridge(value) -> float:
    return V.nonnegative(value, "ridge")


class Loss(NamedTuple):
    kind: str  # "mse", "cross_entropy" or "callback"
    fn: Callable | None  # the user's callable


def loss(value, tg: Targets) -> Loss:
    if callable(value):
        return Loss("callback", value)
    if not isinstance(value, str) or value not in LOSSES:
        raise ValueError(f"loss: expected 'mse', 'cross_entropy' ('ce') or a callable loss(f, y) -> (value, d), got {value!r}")
    kind = LOSSES[value]
    if kind == "cross_entropy":
        y = tg.y
        if tg.squeeze or y.shape[1] < 2:
            raise ValueError(f"y_train: cross-entropy needs 2-D targets (N, O) with O >= 2 classes (one-hot or probabilities), got shape {(y.shape[0],) if tg.squeeze else y.shape}")
        if (y < 0).any() or not np.allclose(y.sum(axis=1), 1.0, rtol=0, atol=1e-6):
            raise ValueError("y_train: cross-entropy needs rows of probabilities (entries >= 0, each row summing to 1)")
    return Loss(kind, None)


def method(value) -> str:
    if value not in METHODS:
        raise ValueError(f"method: expected 'dopri5' or 'rk4', got {value!r}")
    return value


def tolerance(value, name: str) -> float:
    return V.nonnegative(value, name)


def tolerances(rtol, atol) -> tuple[float, float]:
    r, a = tolerance(rtol, "rtol"), tolerance(atol, "atol")
    if r == 0 and a == 0:
        raise ValueError("rtol, atol: at least one must be > 0")
    return r, a


def default_dt(k: np.ndarray) -> float:
    """N / max_i Σ_j |K_ij| <= N / λ_max: a stable RK4 step for MSE and cross-entropy."""
    row = float(np.abs(k).sum(axis=1).max())
    return k.shape[0] / row if row > 0 else 1.0


def step(dt, k: np.ndarray, meth: str) -> float:
    if dt is None:
        return default_dt(k) if meth == "rk4" else 0.0
    if meth != "rk4":
        raise ValueError("dt: only used by method='rk4' (dopri5 chooses its own steps from rtol/atol)")
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: expected a finite number > 0, got {dt!r}")
    return float(dt)


def max_steps(value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"max_steps: expected a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"max_steps: expected a positive integer, got {value}")
    return int(value)


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
    """The user's loss(f, y) -> (value, d) with f, y float64 (N, O) copies; checked."""
    n, n_out = tg.y.shape
    r = fn(f.copy(), tg.y.copy())
    if not isinstance(r, (tuple, list)) or len(r) != 2:
        raise TypeError(f"loss: a callable loss must return a pair (value, d), got {type(r).__name__}")
    value, d = r
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray)) or np.ndim(value) != 0:
        raise TypeError(f"loss: the callable's value must be a real scalar (mean loss over points), got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"loss: the callable returned a non-finite value {value!r}")
    d = np.asarray(d)
    if d.dtype == object or d.dtype.kind not in "biuf":
        raise TypeError(f"loss: the callable's d must be a real array, got dtype {d.dtype}")
    if d.shape != (n, n_out) and not (tg.squeeze and d.shape == (n,)):
        raise ValueError(f"loss: the callable's d must have shape {(n, n_out)} like f, got {d.shape}")
    d = np.ascontiguousarray(d, dtype=np.float64).reshape(n, n_out)
    if not np.isfinite(d).all():
        raise ValueError("loss: the callable's d contains NaN or infinity")
    return value, d


def loss_values(ls: Loss, f: np.ndarray, tg: Targets) -> np.ndarray:
    """C(f[j]) for every time j; f is (T, N, O)."""
    if ls.kind == "mse":
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

def eigen_cutoff(lam: np.ndarray, n: int) -> float:
    """Eigenvalues below N·eps·λ_max (negative rounding included) are treated as 0."""
    return n * np.finfo(np.float64).eps * max(float(lam.max()), 0.0)


def decay(lam: np.ndarray, t: float, n: int, zero: np.ndarray) -> np.ndarray:
    """exp(−tλ/N), 1 on the null space (those directions do not move), 0 at t=∞ elsewhere."""
    if np.isinf(t):
        return np.where(zero, 1.0, 0.0)
    return np.where(zero, 1.0, np.exp(-t * np.where(zero, 0.0, lam) / n))


def bracket(lam: np.ndarray, t: float, n: int, zero: np.ndarray) -> np.ndarray:
    """(1 − exp(−tλ/N)) / λ: t/N on the null space (0 at t=∞: the pseudo-inverse)."""
    safe = np.where(zero, 1.0, lam)
    if np.isinf(t):
        return np.where(zero, 0.0, 1.0 / safe)
    return np.where(zero, t / n, -np.expm1(-t * safe / n) / safe)


# --- infinite ensemble ------------------------------------------------------------------------

GETS = ("ntk", "nngp")


def get(value) -> str:
    if value not in GETS:
        raise ValueError(f"get: expected 'ntk' or 'nngp', got {value!r}")
    return value


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
