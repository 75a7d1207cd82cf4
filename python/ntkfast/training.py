"""Full-batch gradient descent of a finite MLP (ntk-math.md §4), forward and backward in C++.

    >>> net = ntkfast.init_mlp([32, 1024, 1024, 1], seed=0, dtype=np.float32)
    >>> h = ntkfast.train(net, x, y, lr=1.0, steps=100, x_test=xt, track_ntk=True)
    >>> h.t, h.loss, h.f_train, h.f_test, h.ntk_drift, h.net

Time convention: C(θ) = (1/N) Σ_i ℓ(f_θ(x_i), y_i) and θ ← θ − lr·∇_θ C, so t = lr × steps is
the time of the kernel dynamics ∂_t f = −(1/N) Σ_i Θ(·, x_i) d(x_i) (ntkfast.kernel_gd).
neural-tangents divides by N·n_L instead: its learning rate lr_nt is lr = lr_nt / n_L here.
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._progress import ProgressBar
from ._threads import resolve_n_threads
from ._mlp import MLPParameters
from ._numpy_mlp import backward_update as _numpy_backward_update
from ._numpy_mlp import forward as _numpy_forward
from ._training_args import TrainCall, loss_and_d, parse, trained_copy
from ._training_records import Recorder, TrainingDivergedError, TrainingHistory, divergence_limit
from ._empirical_passes import compiled_kind as _compiled_kind
from .empirical import apply, empirical_ntk

__all__ = ["train", "TrainingHistory", "TrainingDivergedError"]

# Output rows per tile of the GEMMs (one single-threaded BLAS call each, followed by that tile's
# elementwise work). Fixed, so results do not depend on the thread count. Each tile repacks the
# other operand, so fewer, larger tiles waste less; 4 tiles of a 1024-row product keep 2 cores
# balanced. Width 1024, N = 1024, float32, 2 threads on a shared (loaded) 2-core machine:
# 241 / 213 / 199 ms per step with tiles of 128 / 256 / 512 rows; single-threaded the tile size
# changed the time by < 5 %.
TILE_ROWS = 256
# At most this many steps between returns to Python (progress bar; Ctrl-C is checked every step).
_MAX_SEGMENT = 8


class _CompiledEngine:
    """The C++ trainer; a callable loss is evaluated here between its forward and backward."""

    def __init__(self, call: TrainCall, net: MLPParameters, kind, threads: int):
        cn = call.net
        cls = _core.MlpTrainerFloat32 if cn.dtype == np.float32 else _core.MlpTrainerFloat64
        self.call = call
        self.builtin = not callable(call.loss)
        self.core = cls(net.weights, net.biases, list(cn.weight_scales), cn.bias_scale, kind[0],
                        kind[1], kind[2], call.x, call.y if self.builtin else None,
                        call.loss if self.builtin else "external", call.lr, TILE_ROWS, threads)
        self._pending = None  # (C, d) at the current parameters (callable loss)

    def evaluate(self) -> tuple[float, np.ndarray]:
        if self.builtin:
            value = self.core.evaluate()
            return value, self.core.forward()  # forward is current: only copies f
        f = self.core.forward()
        self._pending = loss_and_d(self.call, f)
        return self._pending[0], f

    def advance(self, n: int, limit: float) -> tuple[int, np.ndarray]:
        losses = np.empty(n)
        if self.builtin:
            return self.core.run(n, losses, limit), losses
        for s in range(n):
            if self._pending is None:
                self._pending = loss_and_d(self.call, self.core.forward())
            losses[s], d = self._pending
            if not losses[s] <= limit:
                return s, losses
            self.core.backward_update(d)
            self._pending = None
        return n, losses


class _NumpyEngine:
    """A user's activation function: numpy forward and backward (reference.training's)."""

    def __init__(self, call: TrainCall, net: MLPParameters):
        self.call, self.net = call, net
        self._state = None  # forward and d at the current parameters

    def _forward(self):
        if self._state is None:
            with np.errstate(over="ignore", invalid="ignore"):
                acts, dphis, f, scales, bias_scale = _numpy_forward(self.net, self.call.x)
            value, d = loss_and_d(self.call, f)
            self._state = (value, f, (acts, dphis, d, scales, bias_scale))
        return self._state

    def evaluate(self) -> tuple[float, np.ndarray]:
        value, f, _ = self._forward()
        return value, f

    def advance(self, n: int, limit: float) -> tuple[int, np.ndarray]:
        losses = np.empty(n)
        for s in range(n):
            losses[s], _, (acts, dphis, d, scales, bias_scale) = self._forward()
            if not losses[s] <= limit:
                return s, losses
            with np.errstate(over="ignore", invalid="ignore"):
                _numpy_backward_update(self.net, acts, dphis, d, self.call.lr, scales, bias_scale)
            self._state = None
        return n, losses


def train(net, x, y, *, lr, steps, loss="mse", x_test=None, record_every=None, track_ntk=False,
          progress=None, n_threads=None) -> TrainingHistory:
    """Train a copy of ``net`` by full-batch gradient descent; the input network is unchanged.

    Minimises C(θ) = (1/N) Σ_i ℓ(f_θ(x_i), y_i) over all weights and biases with
    θ ← θ − lr·∇_θ C; time t = lr × step (the 1/N convention of ntk-math.md §4, as in
    :func:`ntkfast.kernel_gd`; neural-tangents divides by N·n_L instead).

    Parameters
    ----------
    net : ntkfast.MLP; its dtype (float32 or float64) is the working dtype, x is cast to it.
    x : (N, n_0) training inputs. y : (N, n_L) targets, or (N,) when n_L == 1 (outputs then
        drop their last axis).
    lr : learning rate > 0. steps : number of updates >= 0.
    loss : ``"mse"`` (ℓ = ½||f − y||², d = f − y), ``"cross_entropy"`` / ``"ce"``
        (ℓ = −Σ_k y_k log softmax(f)_k, d = softmax(f) − y; y one-hot or probability rows,
        n_L >= 2), or a callable ``loss(f, y) -> (value, d)``. Names ignore case and surrounding
        spaces; anything neither a string nor callable is a TypeError. The callable gets float64
        (N, n_L) copies and returns a tuple: value, the mean loss C, a real scalar (int, float,
        numpy number or 0-d array; not a bool or string: TypeError); d = ∂ℓ/∂f_i, a real array
        (N, n_L) in any layout ((N,) also accepted when n_L = 1; another shape: ValueError). The
        same contract as :func:`ntkfast.kernel_gd` (one shared check); here a non-finite value
        for finite f and d, or a finite value with a non-finite d, is a ValueError, while a
        non-finite value at non-finite outputs is divergence.
    x_test : (M, n_0) inputs whose outputs are recorded too (``f_test``).
    record_every : record at steps 0, record_every, 2·record_every, … and at the last step
        (default max(1, steps // 100)).
    track_ntk : False, True (= "trace") or "trace"/"full": at every record compute
        Θ_t = ntkfast.empirical_ntk(net_t, x, output=...) and ``ntk_drift`` =
        ||Θ_t − Θ_0||_F / ||Θ_0||_F.
    progress : None (a bar on stderr when it is a terminal), True or False.
    n_threads : as in :func:`ntkfast.ntk`; results are bit-identical for any thread count.

    Returns a :class:`TrainingHistory`. Raises :class:`TrainingDivergedError` (a
    FloatingPointError carrying ``.history``, the records made before) when the loss becomes
    non-finite or exceeds 1e6·(|initial loss| + 1).

    Compiled activations run forward, loss, backward and update in C++ (GIL released, Ctrl-C
    checked every step); a user's activation function runs the same steps in numpy, and a
    callable loss is evaluated in Python between the compiled forward and backward passes.
    """
    call = parse(net, x, y, lr, steps, loss, x_test, record_every, track_ntk, progress)
    threads = resolve_n_threads(n_threads)
    trained = trained_copy(call)
    kind = _compiled_kind(call.net)
    engine = _NumpyEngine(call, trained) if kind is None else _CompiledEngine(call, trained, kind, threads)
    recorder = Recorder(call, lambda m, xs: apply(m, xs, n_threads=threads),
                        lambda m, xs, output: empirical_ntk(m, xs, output=output, n_threads=threads))
    with ProgressBar(call.steps, enabled=call.progress, label="train", unit="steps") as bar:
        loss0, f = engine.evaluate()
        if not np.isfinite(loss0):
            raise recorder.diverged(0, loss0, loss0, f)
        limit = divergence_limit(loss0)
        recorder.add(0, loss0, f, trained)
        step = 0
        for target in call.record_steps[1:]:
            while step < target:
                n = int(min(target - step, _MAX_SEGMENT))
                done, losses = engine.advance(n, limit)
                step += done
                if done < n:
                    raise recorder.diverged(step, float(losses[done]), loss0)
                bar.update(step, f"loss {losses[done - 1]:.4g}")
            value, f = engine.evaluate()
            if not value <= limit:
                raise recorder.diverged(step, value, loss0)
            recorder.add(step, value, f, trained)
        bar.update(step, f"loss {value if call.steps else loss0:.4g}", force=True)
    return recorder.history(trained)
