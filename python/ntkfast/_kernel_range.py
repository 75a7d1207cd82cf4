"""What the infinite-width kernels can represent, and the warnings about what they cannot compute
well: the overflow limits of the working dtype (checked on the per-point diagonals before any pair
is computed), the conditioning of erf and sin near coinciding points, and the Mehler series'
truncation bound when it is capped."""
from __future__ import annotations

import math
import os
import sys
import warnings

import numpy as np

from .activations import Activation

# Above this the Mehler error bound (normally ~1e-11) is worth a warning.
ACCURACY_WARNING = 1e-8


def value_limit(dtype, act: Activation | None = None) -> float:
    """Largest diagonal value a kernel in ``dtype`` may reach. Σ as the input of erf's pair
    formula, which multiplies two variances (k11 k22 - k12²), must stay below the square root of
    the largest number; everything else (Σ of the other duals, which only multiply square roots,
    and Σ̇, Θ, which are only scaled and added) keeps a margin of 16 for the recursion's sums."""
    big = float(np.finfo(dtype).max)
    return math.sqrt(big) / 4 if act is not None and act.dual == "erf" else big / 16


def check_range(name: str, layer: int, values: np.ndarray, limit: float) -> None:
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


def warn_conditioning(act: Activation, layer_max: list[float], dtype, need_ntk: bool) -> None:
    """For pair kernels (not the diagonal functions): a RuntimeWarning where erf (when Σ̇ is
    needed) or sin is ill-conditioned near coinciding points, pointing at the caller's line.
    ``layer_max``: the largest Σ(x, x) of each layer."""
    if not (act.dual == "sin" or (act.dual == "erf" and need_ntk)):
        return
    dt = np.dtype(dtype)
    k_max = max(layer_max[:-1], default=0.0)  # the variances the activation is applied to
    bound = CONDITIONING * k_max * float(np.finfo(dt).eps)
    if bound <= CONDITIONING_WARNING.get(dt, 1e-8):
        return
    advice = "scale the inputs or weight_std down" + (", or use float64" if dt != np.float64 else "")
    warnings.warn(
        f"ntkfast: {act.name} at layer variances up to {k_max:.3g} is ill-conditioned near "
        f"coinciding points: entries of (nearly) equal inputs are good to about {bound:.1g} "
        f"relative in {dt.name} (other entries and the diagonal are not affected); {advice}",
        RuntimeWarning, stacklevel=caller_stacklevel())


def warn_truncation(act: Activation, truncation: float, max_terms: int, k_max: float) -> None:
    """A RuntimeWarning when the Mehler series, capped at ``max_terms``, cannot reach its usual
    bound at variances up to ``k_max``."""
    if truncation <= ACCURACY_WARNING:
        return
    warnings.warn(
        f"ntkfast: the {act.name} kernel's Hermite series is cut at {max_terms} "
        f"terms for variances up to {k_max:.3g}: its error bound is {truncation:.2g} of the "
        "diagonal scale (KernelResult.truncation_error); scale the inputs or weight_std down to "
        "tighten it", RuntimeWarning, stacklevel=caller_stacklevel())


def caller_stacklevel() -> int:
    """The stacklevel of the first frame outside this package, for warnings.warn called from the
    function that calls this one: the user's line, however deep the call came from."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level
