"""What training records, and the divergence rule: the result type and error of ntkfast.train,
shared with ntkfast.reference.training."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._losses import DIVERGENCE_FACTOR, divergence_limit  # noqa: F401  (the shared rule)
from ._mlp import MLPParameters
from ._training_args import TrainCall, trained_copy


@dataclass(frozen=True)
class TrainingHistory:
    """What :func:`ntkfast.train` recorded, R records (steps 0, record_every, …, and the last).

    ``t`` (R,) = lr × ``step`` (R,); ``loss`` (R,) = C at those steps (float64);
    ``f_train`` (R, N, O) and ``f_test`` (R, M, O) (or None) in the network's dtype, without the
    last axis when y was 1-D; ``net``: the trained network (a new MLP); ``ntk_drift`` (R,) =
    ||Θ_t − Θ_0||_F / ||Θ_0||_F with track_ntk, else None.
    """

    t: np.ndarray
    step: np.ndarray
    loss: np.ndarray
    f_train: np.ndarray
    f_test: np.ndarray | None
    net: MLPParameters
    ntk_drift: np.ndarray | None


class TrainingDivergedError(FloatingPointError):
    """Gradient descent blew up. ``history`` holds the records made before the step that
    diverged (its ``net`` is the network at the last of them)."""

    def __init__(self, message: str, history: TrainingHistory | None = None):
        # args = (message,), history in __dict__: pickle restores both (BaseException.__reduce__)
        super().__init__(message)
        self.history = history


class Recorder:
    """Collects the records; ``apply(net, x)`` gives f_test, ``ntk(net, x, output)`` Θ_t."""

    def __init__(self, call: TrainCall, apply: Callable, ntk: Callable):
        self.call, self._apply, self._ntk = call, apply, ntk
        self.steps, self.losses, self.f_train, self.f_test, self.drift = [], [], [], [], []
        self._ntk0 = None
        self._ntk0_norm = 0.0
        self._last_net = None

    def add(self, step: int, loss: float, f_train: np.ndarray, net: MLPParameters) -> None:
        call = self.call
        self.steps.append(step)
        self.losses.append(loss)
        self.f_train.append(np.array(f_train, dtype=call.net.dtype))
        if call.x_test is not None:
            self.f_test.append(np.asarray(self._apply(net, call.x_test), dtype=call.net.dtype))
        if call.track_ntk is not None:
            theta = np.asarray(self._ntk(net, call.x, output=call.track_ntk), dtype=np.float64)
            if self._ntk0 is None:
                self._ntk0, self._ntk0_norm = theta, _frobenius(theta)
            diff = _frobenius(theta - self._ntk0)
            self.drift.append(diff / self._ntk0_norm if self._ntk0_norm > 0 else (0.0 if diff == 0 else np.inf))
        if step < call.steps:  # the network a divergence error would report, copied in place
            if self._last_net is None:
                self._last_net = net.copy()
            else:
                for dst, src in zip(self._last_net.weights + self._last_net.biases, net.weights + net.biases):
                    np.copyto(dst, src)

    def _stack(self, arrays: list, shape_tail: tuple) -> np.ndarray:
        out = np.stack(arrays) if arrays else np.empty((0,) + shape_tail, self.call.net.dtype)
        return out[..., 0] if self.call.squeeze else out

    def history(self, net: MLPParameters) -> TrainingHistory:
        call = self.call
        steps = np.asarray(self.steps, dtype=np.int64)
        n_out = call.net.widths[-1]
        f_test = None
        if call.x_test is not None:
            f_test = self._stack(self.f_test, (call.x_test.shape[0], n_out))
        return TrainingHistory(
            t=call.lr * steps.astype(np.float64),
            step=steps,
            loss=np.asarray(self.losses, dtype=np.float64),
            f_train=self._stack(self.f_train, (call.x.shape[0], n_out)),
            f_test=f_test,
            net=net,
            ntk_drift=np.asarray(self.drift, dtype=np.float64) if call.track_ntk is not None else None,
        )

    def diverged(self, step: int, loss: float, loss0: float, f=None) -> TrainingDivergedError:
        """The error for a loss that is not finite or above the limit; at step 0 ``f`` (the
        initial outputs) tells which of outputs, activation or loss is at fault."""
        call = self.call
        if step == 0:  # nothing to do with lr: the untrained network already fails
            return TrainingDivergedError(
                f"train: the loss of the initial network is {loss} (step 0, before any update): "
                f"{self._initial_failure(loss, f)}", self.history(trained_copy(call)))
        if not np.isfinite(loss):
            growth = f"became {loss} (from {loss0:.3g} at step 0)"
        else:
            factor = f" (×{loss / loss0:.3g})" if loss0 > 0 else ""
            growth = f"grew from {loss0:.3g} at step 0 to {loss:.3g}{factor}"
        message = (
            f"train: gradient descent diverged at step {step} (t = {call.lr * step:g}, lr = {call.lr:g}): "
            f"the loss {growth}; the rule is a non-finite loss or one above "
            f"{DIVERGENCE_FACTOR:g}·(|initial loss| + 1). Use a smaller lr: for MSE, gradient descent on the "
            "linearized network is stable only for lr < 2N/λ_max(Θ), Θ the empirical NTK Gram matrix "
            "of the training set (ntkfast.empirical_ntk(net, x, output='full').transpose(0, 2, 1, 3)"
            ".reshape(N·n_L, N·n_L))."
        )
        return TrainingDivergedError(message, self.history(self._last_net))

    def _initial_failure(self, loss: float, f) -> str:
        """Why the loss of the untrained network is not finite: its outputs overflow, or finite
        outputs whose loss overflows (targets too large). (A user's activation returning NaN for
        finite pre-activations is refused where it returns it: activations.custom.)"""
        call = self.call
        f64 = None if f is None else np.asarray(f, dtype=np.float64)
        y_max = float(np.abs(call.y64).max())
        if f64 is None or not np.isfinite(f64).all():
            hint = "net.astype(np.float64), " if call.net.dtype == np.float32 else ""
            return f"its outputs overflow in {call.net.dtype} (try {hint}smaller weights or rescaled inputs)"
        f_max = float(np.abs(f64).max())
        if callable(call.loss):
            return (f"the outputs are finite (max |f| = {f_max:.3g}) but the callable loss returned "
                    f"{loss} for them (and a non-finite d)")
        return (f"the outputs are finite (max |f| = {f_max:.3g}) but their {call.loss} loss against "
                f"y overflows float64 (max |y| = {y_max:.3g}); rescale y")


def _frobenius(a: np.ndarray) -> float:
    """||a||_F without overflow: a kernel of entries ~1e200 is finite, its sum of squares is not."""
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    if scale == 0.0 or not np.isfinite(scale):
        return scale
    return scale * float(np.linalg.norm(a / scale))
