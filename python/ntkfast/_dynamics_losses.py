"""The losses of kernel gradient descent in numpy (values C(f) and derivatives d = ∂ℓ/∂f, and a
user's callable checked against the contract of ntkfast._losses), shared by ntkfast.dynamics and
ntkfast.reference.dynamics. The compiled ODE has its own copies of MSE and cross-entropy."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._dynamics_args import Loss, Targets
from ._losses import check_user_loss_return


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
