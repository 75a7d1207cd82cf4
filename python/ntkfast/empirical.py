"""Empirical (finite-width) NTK of an MLP by the layerwise identity of ntk-math.md §3, in C++.

    Θ_kk'(x, x') = Σ_l [s_w² a^(l)(x)·a^(l)(x') + s_b²] · [δ^(l)_k(x)·δ^(l)_k'(x')]

No Jacobian is formed: the core runs the forward and backward passes for blocks of inputs, then
per output tile the dot products of each layer's features (its own fixed-order kernel, not BLAS:
every entry depends on its own two points only), fused with the Hadamard product and the sum over
layers. When the features of all inputs do not fit in ``memory_budget``, rows are processed in
blocks (any N; features of the current row block are kept, column blocks are recomputed). The
functions here are thin wrappers around :class:`ntkfast.EmpiricalKernel`; the machinery is in
``_empirical_passes``.
"""
from __future__ import annotations

from ._empirical_args import EmpiricalNTK, finite_result as _finite, parse_inputs, per_layer_flag
from ._empirical_passes import DEFAULT_MEMORY_BUDGET, outputs
from ._threads import resolve_n_threads
from .empirical_kernel import EmpiricalKernel

__all__ = ["apply", "empirical_ntk", "empirical_nngp", "EmpiricalNTK", "DEFAULT_MEMORY_BUDGET"]


def apply(net, x, *, n_threads=None):
    """The network's outputs f(x), shape (N, n_L), in the network's dtype."""
    threads = resolve_n_threads(n_threads)
    cn, a = parse_inputs(net, x)
    return _finite(outputs(cn, a, threads), "apply", cn.dtype)


def empirical_ntk(net, x1, x2=None, *, output="trace", per_layer=False, n_threads=None,
                  memory_budget=None):
    """Empirical neural tangent kernel Θ_kk'(x, x') = Σ_p ∂f_k(x)/∂θ_p · ∂f_k'(x')/∂θ_p.

    Parameters
    ----------
    net : ntkfast.MLP. The derivative is taken with respect to its stored arrays (see
        ``ntkfast.networks`` for what that means in each parameterization).
    x1 : array_like (N1, n_0); x2 : array_like (N2, n_0) or None for the symmetric Gram of x1
        (upper triangle computed and mirrored: exactly symmetric).
    output : ``"trace"`` (N1, N2): the mean over outputs of Θ_kk, which converges to
        ``ntkfast.ntk`` in the NTK parameterization; ``"diagonal"`` (N1, N2, n_L): Θ_kk;
        ``"full"`` (N1, N2, n_L, n_L).
    per_layer : also return each weight layer's term: ``EmpiricalNTK(ntk, per_layer)`` with
        ``per_layer`` of shape (L, *ntk.shape).
    n_threads : as in :func:`ntkfast.ntk`; results are identical for any thread count.
    memory_budget : bytes allowed for the per-layer features (default: 4 GiB or a quarter of
        the available memory, whichever is less). Larger inputs are processed in row blocks;
        the result is the same bits.

    Computed in the network's dtype (float32 or float64). Same as
    ``ntkfast.EmpiricalKernel(net, output=output)(x1, x2)``, whose ``tile`` and ``diag`` give
    blocks and the diagonal of this Gram bit for bit.
    """
    kernel = EmpiricalKernel._borrowing(net, output=output, memory_budget=memory_budget)
    if per_layer_flag(per_layer):
        return kernel.per_layer(x1, x2, n_threads=n_threads)
    return kernel(x1, x2, n_threads=n_threads)


def empirical_nngp(net, x1, x2=None, *, n_threads=None, memory_budget=None):
    """s_w² a^(L-1)(x)·a^(L-1)(x') + s_b², shape (N1, N2): the empirical NNGP kernel (the
    covariance of each output given the last hidden features), which converges to
    ``ntkfast.nngp`` in the NTK parameterization. Same as
    ``ntkfast.EmpiricalKernel(net, get="nngp")(x1, x2)``."""
    kernel = EmpiricalKernel._borrowing(net, get="nngp", memory_budget=memory_budget)
    return kernel(x1, x2, n_threads=n_threads)
