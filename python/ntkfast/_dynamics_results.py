"""The result types of ntkfast.dynamics (kernel gradient descent and the infinite ensemble) and
the checks that their values did not overflow; shared with ntkfast.reference.dynamics."""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from . import _validation as V
from ._dynamics_args import DEFAULT_TOLERANCES, Kernel, OdeCall, Targets, default_dt
from ._dynamics_losses import loss_values
from ._losses import DIVERGENCE_FACTOR, divergence_limit


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
        q = V.scalar(q)
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 < float(q) < 1.0:
            raise ValueError(f"q: expected a number strictly between 0 and 1, got {q!r}")
        z = NormalDist().inv_cdf(float(q))
        std = self.std
        return self.mean + z * (std if self.mean.ndim == 2 else std[..., None])


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


def not_diverged(call: OdeCall, loss: np.ndarray) -> None:
    """The divergence rule of ntkfast.train, applied to the losses at the requested times: a
    solution whose loss grew above DIVERGENCE_FACTOR·(|C_0| + 1) is refused, not returned (an
    rk4 step beyond stability gave a loss of 8e36 where the truth is 0.2; only inf/NaN was
    caught). Gradient flow with a positive semi-definite K never increases the loss."""
    loss0 = float(loss[0]) if call.ts[0] == 0 else float(loss_values(call.loss, call.f0[None], call.tg)[0])
    limit = divergence_limit(loss0)
    bad = np.flatnonzero(~(loss <= limit))
    if bad.size == 0:
        return
    j = int(bad[0])
    default_r, default_a = DEFAULT_TOLERANCES[call.loss.kind]
    flow = ("k_train has negative eigenvalues" + (" or the loss's d is not the derivative of its value"
                                                  if call.loss.kind == "callback" else ""))
    if call.method == "rk4":
        hint = (f"rk4 with dt={call.dt:g} is unstable for this kernel and loss (dt <= N / max row sum |K| = "
                f"{default_dt(call.kern):g} is stable for MSE and cross-entropy; use it or method='dopri5'), "
                f"or {flow}")
    elif call.rtol <= default_r and call.atol <= default_a:
        hint = (f"at rtol={call.rtol:g}, atol={call.atol:g} dopri5 follows the exact flow, so the flow itself "
                f"grows: {flow}")
    else:
        hint = (f"dopri5's error control at rtol={call.rtol:g}, atol={call.atol:g} let it through: tighten them "
                f"(this loss's defaults: rtol={default_r:g}, atol={default_a:g}), or {flow}")
    raise FloatingPointError(
        f"kernel_gd: the solution diverged: the loss grew from {loss0:.4g} at t=0 to {float(loss[j]):.4g} at "
        f"t={float(call.ts[j]):g}, above {DIVERGENCE_FACTOR:g}·(|initial loss| + 1) (the rule of "
        f"ntkfast.train; gradient flow never increases the loss when k_train is positive "
        f"semi-definite); {hint}")


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
