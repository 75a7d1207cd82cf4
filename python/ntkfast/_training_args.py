"""Argument handling and the numpy losses of ntkfast.train, shared with
ntkfast.reference.training: same inputs, same errors."""
from __future__ import annotations

import numbers
from typing import Callable, NamedTuple

import numpy as np

from . import _validation as V
from ._losses import check_user_loss_return, loss_spec
from ._mlp import CheckedNet, MLPParameters, checked
from ._progress import wanted as _progress_wanted

TRACK_MODES = {True: "trace", "trace": "trace", "full": "full"}
# Cross-entropy targets: rows >= 0 whose sum is 1 within this.
PROBABILITY_TOL = 1e-5


class TrainCall(NamedTuple):
    net: CheckedNet
    source: MLPParameters            # the caller's network (activation, scales, parameterization)
    x: np.ndarray          # (N, n_0), working dtype
    y: np.ndarray          # (N, O), working dtype
    y64: np.ndarray        # (N, O), float64 (what a callable loss sees)
    squeeze: bool          # y was 1-D: drop the last axis of the outputs
    lr: float
    steps: int
    loss: object           # "mse", "cross_entropy" or a callable
    x_test: np.ndarray | None
    record_steps: np.ndarray
    track_ntk: str | None  # None, "trace" or "full"
    progress: bool


def _positive_real(value, name: str) -> float:
    value = V.scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a positive real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: expected a finite positive number, got {value!r}")
    return v


def _count(value, name: str, minimum: int) -> int:
    value = V.scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def _targets(y, n: int, n_out: int, dtype) -> tuple[np.ndarray, np.ndarray, bool]:
    try:
        arr = np.asarray(y)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"y: expected an array of shape ({n}, {n_out}); {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"y: expected real numbers, got dtype {arr.dtype}")
    squeeze = arr.ndim == 1
    if squeeze and n_out != 1:
        raise ValueError(f"y: expected shape ({n}, {n_out}) (a 1-D y only for one output), got {arr.shape}")
    if arr.shape != ((n,) if squeeze else (n, n_out)):
        want = f"({n},) or ({n}, 1)" if n_out == 1 else f"({n}, {n_out})"
        raise ValueError(f"y: expected shape {want} (one row per point of x, one column per network "
                         f"output), got {arr.shape}")
    y64 = np.ascontiguousarray(arr.reshape(n, n_out), dtype=np.float64)
    with np.errstate(over="ignore"):  # too large for float32: refused just below
        y_dt = np.ascontiguousarray(y64, dtype=dtype)
    if not (np.isfinite(y64).all() and np.isfinite(y_dt).all()):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(y_dt))[0])
        raise ValueError(f"y: contains NaN or infinity in {np.dtype(dtype)} (first at index {bad})")
    return y_dt, y64, squeeze


def _check_probabilities(y64: np.ndarray) -> None:
    if y64.shape[1] < 2:
        raise ValueError("loss: cross-entropy needs a network with at least 2 outputs (softmax over one "
                         "output is constant); use 'mse' or widen the last layer")
    if (y64 < 0).any():
        bad = tuple(int(i) for i in np.argwhere(y64 < 0)[0])
        raise ValueError(f"y: cross-entropy targets must be probabilities (>= 0), got a negative entry at {bad}")
    sums = y64.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBABILITY_TOL
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(f"y: cross-entropy targets must be one-hot or probability rows summing to 1, "
                         f"row {i} sums to {sums[i]:.6g}")


def record_steps(steps: int, record_every: int) -> np.ndarray:
    return np.unique(np.r_[np.arange(0, steps + 1, record_every), steps]).astype(np.int64)


def parse(net, x, y, lr, steps, loss, x_test, record_every, track_ntk, progress) -> TrainCall:
    cn = checked(net)
    n0, n_out, dt = cn.widths[0], cn.widths[-1], cn.dtype
    xa = V.points(x, "x", dt)
    if xa.shape[1] != n0:
        raise ValueError(f"x: expected {n0} features (the network's input width), got shape {xa.shape}")
    n = xa.shape[0]
    y_dt, y64, squeeze = _targets(y, n, n_out, dt)
    rate = _positive_real(lr, "lr")
    n_steps = _count(steps, "steps", 0)
    kind = loss_spec(loss)  # the contract shared with kernel_gd (ntkfast._losses)
    if kind == "cross_entropy":
        _check_probabilities(y64)
    xt = None
    if x_test is not None:
        xt = V.points(x_test, "x_test", dt)
        if xt.shape[1] != n0:
            raise ValueError(f"x_test: expected {n0} features (the network's input width), got shape {xt.shape}")
    every = max(1, n_steps // 100) if record_every is None else _count(record_every, "record_every", 1)
    if isinstance(track_ntk, np.bool_):  # numpy's bools wherever Python's are accepted
        track_ntk = bool(track_ntk)
    if isinstance(track_ntk, np.ndarray) and track_ntk.ndim == 0 and track_ntk.dtype.kind == "U":
        track_ntk = str(track_ntk)  # a 0-d string array as its string, as for every option
    if not isinstance(track_ntk, (bool, str)):
        raise TypeError(f"track_ntk: expected False, True, 'trace' or 'full', got {type(track_ntk).__name__}")
    if track_ntk is not False and track_ntk not in TRACK_MODES:
        raise ValueError(f"track_ntk: expected False, True, 'trace' or 'full', got {track_ntk!r}")
    mode = None if track_ntk is False else TRACK_MODES[track_ntk]
    show = _progress_wanted(progress)
    n_records = n_steps // every + 2  # an upper bound, checked before the schedule is built
    _check_memory(cn, n, 0 if xt is None else xt.shape[0], n_records, mode)
    rec = record_steps(n_steps, every)
    return TrainCall(cn, net, xa, y_dt, y64, squeeze, rate, n_steps, kind, xt, rec, mode, show)


def _check_memory(cn: CheckedNet, n: int, m: int, n_records: int, mode: str | None) -> None:
    item, n_out = cn.dtype.itemsize, cn.widths[-1]
    hidden = sum(cn.widths[1:-1])
    work = n * (2 * hidden + 2 * max(cn.widths[1:])) * item + 2 * cn.dtype.itemsize * sum(
        w.size + b.size for w, b in zip(cn.weights, cn.biases))
    records = n_records * (n + m) * n_out * item
    kernels = 0 if mode is None else 2 * n * n * (n_out * n_out if mode == "full" else 1) * item
    V.check_output_fits(work + records + kernels,
                        f"training ({n_records} records of {n + m} outputs, activations of {n} points)",
                        "record less often (record_every), train on fewer points, or drop track_ntk")


def trained_copy(call: TrainCall):
    """A new network of the caller's class with its own contiguous copies of the parameters
    (trained in place)."""
    src = call.source
    return type(src)([w.copy() for w in call.net.weights], [b.copy() for b in call.net.biases],
               activation=src.activation, weight_std=src.weight_std, bias_std=src.bias_std,
               parameterization=src.parameterization)


# ---- losses (numpy; the compiled core has its own copies of mse and cross-entropy) ----------

def mse(f: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """C = (1/N) Σ ½||f_i − y_i||², d = f − y."""
    d = f - y
    return 0.5 * float(np.sum(d * d)) / f.shape[0], d


def cross_entropy(f: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """C = (1/N) Σ_i −Σ_k y_ik log softmax(f_i)_k, d = softmax(f) − y."""
    lse = f.max(axis=1, keepdims=True)
    lse = lse + np.log(np.exp(f - lse).sum(axis=1, keepdims=True))
    return float(np.sum(y * (lse - f))) / f.shape[0], np.exp(f - lse) - y


BUILTIN_LOSSES: dict[str, Callable] = {"mse": mse, "cross_entropy": cross_entropy}


def user_loss(fn, f64: np.ndarray, y64: np.ndarray) -> tuple[float, np.ndarray]:
    """Call a user's loss(f, y) -> (value, d) and check what it returns."""
    # copies: the callable may modify its arguments; the return's form is the contract shared
    # with kernel_gd (ntkfast._losses), its finiteness is judged here
    value, d = check_user_loss_return(fn(f64.copy(), y64.copy()), *f64.shape)
    if not np.isfinite(value) and np.isfinite(f64).all() and np.isfinite(d).all():
        # Finite outputs and gradient but no finite loss: the function is at fault, not the lr
        # (a real blow-up is caught long before |f| can overflow a square).
        raise ValueError(f"loss: the callable returned the value {value} for finite outputs f and a finite d")
    if np.isfinite(value) and not np.isfinite(d).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(d))[0])
        raise ValueError(f"loss: the callable returned a finite value but d has NaN or infinity (first at {bad})")
    return value, d


def loss_and_d(call: TrainCall, f: np.ndarray) -> tuple[float, np.ndarray]:
    """C and d (float64) at outputs f (N, O); overflow shows as a non-finite loss, not a warning."""
    f64 = np.asarray(f, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if callable(call.loss):
            return user_loss(call.loss, f64, call.y64)
        return BUILTIN_LOSSES[call.loss](f64, call.y64)
