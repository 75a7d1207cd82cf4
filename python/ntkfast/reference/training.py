"""Plain-numpy full-batch gradient descent of a finite MLP: the loop a user would write, in the
network's dtype. Same signature, inputs, errors and result as :func:`ntkfast.train`.
C(θ) = (1/N) Σ_i ℓ(f_θ(x_i), y_i), θ ← θ − lr·∇C, t = lr × step (neural-tangents divides by N·n_L).

    forward:  z^(l+1) = s_w W^(l) a^(l) + s_b b^(l),  a^(l+1) = φ(z^(l+1)),  f = z^(L)
    backward: g = d/N;  ∂C/∂W^(l) = s_w gᵀ a^(l),  ∂C/∂b^(l) = s_b Σ_i g_i,
              g ← s_w (g W^(l)) ∘ φ'(z^(l))
"""
from __future__ import annotations

import numpy as np

from .._numpy_mlp import backward_update, forward
from .._progress import ProgressBar
from .._thread_args import check_unused_n_threads
from .._training_args import loss_and_d, parse, trained_copy
from .._training_records import Recorder, divergence_limit
from .empirical import apply as _apply
from .empirical import empirical_ntk as _empirical_ntk

__all__ = ["train"]


def train(net, x, y, *, lr, steps, loss="mse", x_test=None, record_every=None, track_ntk=False,
          progress=None, n_threads=None):
    """Full-batch gradient descent on C(θ) = (1/N) Σ_i ℓ(f_θ(x_i), y_i); see :func:`ntkfast.train`."""
    call = parse(net, x, y, lr, steps, loss, x_test, record_every, track_ntk, progress)
    check_unused_n_threads(n_threads)
    trained = trained_copy(call)
    recorder = Recorder(call, _apply, _empirical_ntk)
    record_at = set(call.record_steps.tolist())
    loss0 = limit = None
    with ProgressBar(call.steps, enabled=call.progress, label="train (numpy)", unit="steps") as bar, \
            np.errstate(over="ignore", invalid="ignore"):  # a blow-up is caught by the loss check
        for step in range(call.steps + 1):
            acts, dphis, f, scales, bias_scale = forward(trained, call.x)
            value, d = loss_and_d(call, f)
            if step == 0:
                loss0 = value
                limit = divergence_limit(value) if np.isfinite(value) else -np.inf
            if not value <= limit:
                raise recorder.diverged(step, value, loss0, f)
            if step in record_at:
                recorder.add(step, value, f, trained)
            bar.update(step, f"loss {value:.4g}")
            if step == call.steps:
                break
            backward_update(trained, acts, dphis, d, call.lr, scales, bias_scale)
    return recorder.history(trained)
