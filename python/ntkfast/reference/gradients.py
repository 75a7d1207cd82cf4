"""Reference for the hyperparameter gradient of the infinite-width kernels
(:meth:`ntkfast.InfiniteWidthKernel.value_and_gradient`): the recursion of
ntkfast._gradient_tables differentiated in forward mode, one vectorised numpy pass per layer over
full (N1, N2) arrays. Checked against central finite differences of the kernel itself
(tests/test_kernel_gradients.py), not against the C++ core it is the twin of."""
from __future__ import annotations

import numpy as np

from .. import _gradient_tables as tables
from .._pair_partials import pair_partials


def value_and_gradient(call, get: str):
    """(K, ∂K/∂log σ_w², ∂K/∂log σ_b² as (N1, N2, 2)) for parsed points ``call.x1``, ``call.x2``
    (None: the symmetric Gram)."""
    act, wv, bv, depth = call.act, call.weight_var, call.bias_var, call.depth
    sym = call.x2 is None
    x1 = call.x1.astype(np.float64)
    x2 = x1 if sym else call.x2.astype(np.float64)
    sets = [x1] if sym else [x1, x2]
    t = tables.tables(act, sets, depth, wv, bv)
    t1, t2 = t[0], t[-1]
    dots = x1 @ x2.T / x1.shape[1]
    k12 = wv * dots + bv
    dk = np.stack([dots, np.ones_like(dots)])          # (2, N1, N2)
    theta, dtheta = k12.copy(), dk.copy()
    for l in range(depth - 1):
        k11, k22 = t1.sigma[l][:, None], t2.sigma[l][None, :]
        dk11, dk22 = t1.d_sigma[l][:, :, None], t2.d_sigma[l][:, None, :]
        c1 = None if t1.coef is None else t1.coef[l]
        c2 = None if t2.coef is None else t2.coef[l]
        f, g, f11, f22, g11, g22, g12 = pair_partials(act, k11, k22, k12, c1, c2)
        dk_next = wv * (f11 * dk11 + f22 * dk22 + g * dk)
        dk_next[0] += f
        dk_next[1] += 1.0
        dsd = wv * (g11 * dk11 + g22 * dk22 + g12 * dk)
        dsd[0] += g
        sd = wv * g
        k12 = wv * f + bv
        dtheta = dtheta * sd + theta * dsd + dk_next
        theta = theta * sd + k12
        dk = dk_next
    value, grad = (theta, dtheta) if get == "ntk" else (k12, dk)
    grad = np.ascontiguousarray(np.moveaxis(grad, 0, -1))
    return tables.log_space(value, grad, t1, sym, get, wv, bv)
