"""Plain-numpy finite networks: forward pass, back-propagated sensitivities and the empirical
NTK by the layerwise identity of ntk-math.md §3, written the direct way with full (N1, N2, ...)
arrays. Same signatures as ``ntkfast.empirical``. Computed in float64, returned in the network's
dtype. The tests check this file against explicit Jacobians of tiny networks."""
from __future__ import annotations

import numpy as np

from .. import _validation as V
from .._empirical_args import EmpiricalCall, EmpiricalNTK, finite_result, parse, parse_inputs
from .._mlp import CheckedNet
from .._numpy_mlp import quiet_overflow, features
from .._thread_args import check_unused_n_threads

__all__ = ["apply", "empirical_ntk", "empirical_nngp"]


def apply(net, x, *, n_threads=None) -> np.ndarray:
    """f(x), shape (N, n_L)."""
    _unused_settings(n_threads)
    cn, a = parse_inputs(net, x)
    return finite_result(features(cn, a, backward=False)[2], "apply", cn.dtype)


@quiet_overflow
def _layer_terms(cn: CheckedNet, F1, F2, output: str):
    """Each layer's contribution, as a list of arrays of the output's shape."""
    A1, D1, _ = F1
    A2, D2, _ = F2
    L, n_out = cn.depth, cn.widths[-1]
    terms = []
    for l in range(L):
        h = cn.weight_scales[l] ** 2 * (A1[l] @ A2[l].T) + cn.bias_scale ** 2
        if l == L - 1:  # δ_k · δ_k' = [k == k']
            if output == "trace":
                terms.append(h)
            elif output == "diagonal":
                terms.append(np.repeat(h[..., None], n_out, axis=2))
            else:
                terms.append(h[..., None, None] * np.eye(n_out))
            continue
        gfull = np.einsum("ikn,jmn->ijkm", D1[l], D2[l])
        if output == "full":
            terms.append(h[..., None, None] * gfull)
        else:
            gdiag = np.einsum("ijkk->ijk", gfull)
            terms.append(h[..., None] * gdiag if output == "diagonal" else h * gdiag.mean(axis=2))
    return terms


def _unused_settings(n_threads, memory_budget=None) -> None:
    """The fast path's settings, checked the same way so that both refuse the same input."""
    check_unused_n_threads(n_threads)
    V.memory_budget(memory_budget)


def empirical_ntk(net, x1, x2=None, *, output="trace", per_layer=False, n_threads=None,
                  memory_budget=None):
    """Θ_{kk'}(x, x') = Σ_p ∂f_k(x)/∂θ_p ∂f_k'(x')/∂θ_p of a finite MLP (see ntkfast.empirical_ntk).
    ``n_threads`` and ``memory_budget`` are validated like the fast path's, otherwise unused."""
    _unused_settings(n_threads, memory_budget)
    total, layers = ntk_of(parse(net, x1, x2, output, per_layer), per_layer)
    return EmpiricalNTK(total, layers) if per_layer else total


def ntk_of(call: EmpiricalCall, per_layer: bool):
    """(Θ, each layer's term or None) of a parsed call."""
    cn = call.net
    F1 = features(cn, call.x1)
    F2 = F1 if call.x2 is None else features(cn, call.x2)
    terms = _layer_terms(cn, F1, F2, call.output)
    with np.errstate(over="ignore", invalid="ignore"):
        total = finite_result(np.sum(terms, axis=0), "empirical_ntk", cn.dtype)
    return total, (finite_result(np.stack(terms), "empirical_ntk", cn.dtype) if per_layer else None)


def empirical_nngp(net, x1, x2=None, *, n_threads=None, memory_budget=None) -> np.ndarray:
    """s_w² a^(L-1)(x)·a^(L-1)(x') + s_b²: the kernel of the last hidden features, (N1, N2)."""
    _unused_settings(n_threads, memory_budget)
    return nngp_of(parse(net, x1, x2, "trace"))


def nngp_of(call: EmpiricalCall) -> np.ndarray:
    cn = call.net
    A1 = features(cn, call.x1, backward=False)[0][-1]
    A2 = A1 if call.x2 is None else features(cn, call.x2, backward=False)[0][-1]
    with np.errstate(over="ignore", invalid="ignore"):
        k = cn.weight_scales[-1] ** 2 * (A1 @ A2.T) + cn.bias_scale ** 2
    return finite_result(k, "empirical_nngp", cn.dtype)


@quiet_overflow
def diagonal_of(cn: CheckedNet, x: np.ndarray, output: str, nngp: bool) -> np.ndarray:
    """K(x_i, x_i) per row, (N,) + the entry's shape: the layer terms of each point with itself."""
    A, D, _ = features(cn, x, backward=not nngp)
    L, n_out = cn.depth, cn.widths[-1]
    def h(l):
        return cn.weight_scales[l] ** 2 * np.einsum("ij,ij->i", A[l], A[l]) + cn.bias_scale ** 2
    if nngp:
        return finite_result(h(L - 1), "empirical_nngp", cn.dtype)
    total = 0.0
    for l in range(L):
        if l == L - 1:  # δ_k · δ_k' = [k == k']
            g = np.broadcast_to(np.eye(n_out), (x.shape[0], n_out, n_out))
        else:
            g = np.einsum("ikn,imn->ikm", D[l], D[l])
        gd = np.einsum("ikk->ik", g)
        term = {"trace": lambda: h(l) * gd.mean(axis=1), "diagonal": lambda: h(l)[:, None] * gd,
                "full": lambda: h(l)[:, None, None] * g}[output]()
        total = total + term
    return finite_result(np.asarray(total), "empirical_ntk", cn.dtype)
