"""The forward and backward passes of a finite MLP in plain numpy (ntk-math.md §1, §3), shared
by the numpy reference and by the fast path's fallback for a user's activation function (which
the compiled core cannot evaluate). Nothing here depends on the compiled core."""
from __future__ import annotations

import functools
import math

import numpy as np

from ._mlp import CheckedNet, MLPParameters


def quiet_overflow(fn):
    """Overflow becomes inf/NaN silently here; finite_result then refuses it with a clear error."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            return fn(*args, **kwargs)
    return wrapped


def _phi(cn: CheckedNet, z: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    act = cn.activation
    z64 = np.asarray(z, dtype=np.float64)
    return (np.asarray(act.fn(z64), dtype=dtype),
            np.asarray(act.derivative(z64), dtype=dtype))


def _numpy_matmul(a: np.ndarray, w: np.ndarray, rows: bool) -> np.ndarray:
    return a @ w.T if rows else a @ w


@quiet_overflow
def features(cn: CheckedNet, x: np.ndarray, dtype=np.float64, backward: bool = True, matmul=None):
    """(A, D, f): A[l] = a^(l) (N, n_l) for l < L; D[l] = δ^(l) (N, n_L, n_{l+1}) for l < L-1
    (δ^(L-1)_k = e_k is implicit); f = z^(L) (N, n_L). Evaluated in ``dtype``.

    ``matmul(a, w, rows)`` computes ``a @ w.T`` (rows) or ``a @ w`` (numpy by default); the fast
    path passes the core's fixed-order products, so that a point's features do not depend on the
    other rows of the call (everything else here is elementwise)."""
    matmul = matmul or _numpy_matmul
    L = cn.depth
    W = [w.astype(dtype) for w in cn.weights]
    b = [v.astype(dtype) for v in cn.biases]
    a = np.asarray(x, dtype=dtype)
    A, dphi = [], []
    for l in range(L):
        A.append(a)
        z = cn.weight_scales[l] * matmul(a, W[l], True) + cn.bias_scale * b[l]
        if l < L - 1:
            a, d = _phi(cn, z, dtype)
            dphi.append(d)
    D = [None] * (L - 1)
    if backward and L >= 2:
        # δ^(L-2)_k = s_w W^(L-1)[k, :] ∘ φ'(z^(L-1)); then δ^(l-1) = s_w (δ^(l) W^(l)) ∘ φ'(z^(l)).
        d = cn.weight_scales[L - 1] * W[L - 1][None, :, :] * dphi[L - 2][:, None, :]
        D[L - 2] = d
        for l in range(L - 2, 0, -1):
            d = cn.weight_scales[l] * matmul(d, W[l], False) * dphi[l - 1][:, None, :]
            D[l - 1] = d
    return A, D, z


def forward(net: MLPParameters, x: np.ndarray):
    """Activations a^(0..L-1), φ'(z^(1..L-1)) and f, in the network's dtype."""
    dtype = net.dtype
    act = net.activation
    scales = [net.weight_std / math.sqrt(w.shape[1]) for w in net.weights] \
        if net.parameterization == "ntk" else [1.0] * net.depth
    bias_scale = net.bias_std if net.parameterization == "ntk" else 1.0
    acts, dphis = [x], []
    a = x
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        z = scales[l] * (a @ w.T) + bias_scale * b
        if l == net.depth - 1:
            return acts, dphis, z, scales, bias_scale
        dphis.append(np.asarray(act.derivative(z), dtype=dtype))
        a = np.asarray(act.fn(z), dtype=dtype)
        acts.append(a)


def backward_update(net: MLPParameters, acts, dphis, d: np.ndarray, lr: float, scales, bias_scale) -> None:
    """One gradient-descent step θ ← θ − lr ∇C, in place, from d = ∂ℓ/∂f (N, n_L)."""
    g = (d / d.shape[0]).astype(net.dtype)
    for l in reversed(range(net.depth)):
        w, b = net.weights[l], net.biases[l]
        grad_w = scales[l] * (g.T @ acts[l])
        grad_b = bias_scale * g.sum(axis=0)
        if l > 0:
            g = scales[l] * (g @ w) * dphis[l - 1]
        w -= lr * grad_w
        b -= lr * grad_b
