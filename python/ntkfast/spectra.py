"""The kernel as an operator on the data (paper §3 and appendix A): kernel inner products and
norms, the p_in seminorm, eigenpairs of K/N, ‖K‖_op and positive-definiteness.

    >>> k = ntkfast.InfiniteWidthKernel(depth=3, activation="relu")
    >>> ntkfast.eigenpairs(k, 5, x=X)             # top 5 eigenpairs of K/N, residuals included
    >>> ntkfast.operator_norm(k, x=X)             # λ_max(K)/N
    >>> ntkfast.definiteness(k(X)).verdict        # "positive definite", "semidefinite (rank r of N)", ...

Conventions (docs/ntk-math.md §4, §5): p_in is the empirical distribution of the N points,
‖f‖²_p_in = (1/N) Σ_i ‖f(x_i)‖², ⟨f, g⟩_K = (1/N²) fᵀ 𝐊 g over the N·n_L block Gram 𝐊, which is
K ⊗ Id for a scalar Gram (N, N) and the full blocks for (N, N, O, O) (``empirical_ntk(...,
output="full")``). Eigenvalues are of K/N (the scalar Gram's serve for K ⊗ Id, each n_L times):
they set the speed of each direction of kernel gradient descent. The kernel is a Gram array, or
a kernel object with the points ``x``; infinite-width kernel objects are used matrix-free
through ``kernel.operator(x)`` (Lanczos: N = 10⁵ without an N×N matrix). scipy is imported only
on the Lanczos path.
"""
from __future__ import annotations

import numpy as np

from . import _interruptible as interruptible
from . import _spectra_args as args
from . import _spectra_results as results
from ._spectra_results import Definiteness, Eigenpairs, SpectrumNotConvergedError

__all__ = ["pin_norm", "kernel_inner", "kernel_norm", "eigenpairs", "operator_norm",
           "definiteness", "Eigenpairs", "Definiteness", "SpectrumNotConvergedError"]

# method="auto" takes the exact dense eigh up to this order of the Gram, Lanczos above it.
DENSE_LIMIT = 2048
METHODS = ("auto", "dense", "lanczos")


def pin_norm(f) -> float:
    """‖f‖_p_in = sqrt((1/N) Σ_i ‖f(x_i)‖²) for f (N,) or (N, O) on the N points."""
    arr = np.asarray(f)
    n = arr.shape[0] if arr.ndim else 0
    if n == 0:
        raise ValueError(f"f: expected an array of shape (N,) or (N, O), got shape {arr.shape}")
    arr = args.functions(arr, n, n, "f")
    return float(np.sqrt(np.sum(arr * arr) / n))


def kernel_inner(f, g, kernel, x=None, *, n_threads=None) -> float:
    """⟨f, g⟩_K = (1/N²) fᵀ 𝐊 g for f, g (N,) or (N, O). Infinite-width kernel objects apply 𝐊
    matrix-free (its operator); other kernels form the Gram."""
    apply, size, n = _applier(kernel, x, n_threads)
    ff = args.functions(f, size, n, "f")
    gg = args.functions(g, size, n, "g")
    if ff.shape != gg.shape:
        raise ValueError(f"f, g: expected the same shape, got {np.shape(f)} and {np.shape(g)}")
    kg = apply(gg.reshape(size, -1) if size != n else gg)
    return float(np.sum(ff.reshape(kg.shape) * kg) / (n * n))


def kernel_norm(f, kernel, x=None, *, n_threads=None) -> float:
    """‖f‖_K = sqrt(⟨f, f⟩_K); a rounding-negative square (a semidefinite kernel along its null
    space) gives 0."""
    return float(np.sqrt(max(kernel_inner(f, f, kernel, x, n_threads=n_threads), 0.0)))


def eigenpairs(kernel, k=1, *, x=None, which="top", method="auto", tol=1e-10, maxiter=None,
               verify=True, n_threads=None) -> Eigenpairs:
    """The k largest (``which="top"``) or smallest (``"bottom"``) eigenpairs of K/N.

    method : "dense": numpy's eigh of the whole Gram (exact to rounding; O(M³)). "lanczos":
        scipy's eigsh, through ``kernel.operator(x)`` for infinite-width kernel objects (never an
        N×N matrix), else on the Gram; needs k < M. "auto": dense up to M = 2048, else Lanczos.
    tol, maxiter : eigsh's; residuals are re-measured and a pair whose residual exceeds
        100·tol·‖K/N‖ raises SpectrumNotConvergedError, as does ARPACK's non-convergence (with
        the residuals reached). Ignored by the dense path, whose residuals are reported all the
        same.
    verify : Lanczos only. Lanczos from one start vector sees a repeated eigenvalue once (exact
        pairs, but the k-th returned is then not the k-th eigenvalue; duplicated points repeat
        the eigenvalue 0). With verify, one more Lanczos run on the operator with the found
        pairs deflated looks for an eigenvalue beyond them; one found is added, and the check
        repeats (a copy within 100·tol·‖K/N‖ of the k-th pair is the same value to the accuracy
        asked for, and is not told apart). It costs one more Lanczos run for one eigenpair, and one per missed copy: 0.5-0.7
        of the first run's time for top pairs, up to twice it for bottom pairs (the small
        eigenvalues of a kernel are clustered, and Lanczos converges slowly there; measured at
        N = 1500 to 20 000). False skips it where the spectrum is known to be simple.
    Returns Eigenpairs(values, vectors, residuals, method, n_points).
    """
    which = args.which(which)
    method = args.method(method, METHODS)
    tol = args.positive(tol, "tol")
    if maxiter is not None:
        maxiter = args.positive_count(maxiter, "maxiter")
    size = _size(kernel, x)
    k = args.count(k, size)
    if method == "auto":
        method = "dense" if size <= DENSE_LIMIT else "lanczos"
    if method == "lanczos" and k >= size:
        raise ValueError(f"k: Lanczos finds at most {size - 1} eigenpairs of a Gram of order "
                         f"{size}, got k={k}; use method='dense'")
    if method == "dense":
        gram, n = args.gram(*_materialized(kernel, x, n_threads))
        lam, vec = interruptible.eigh(gram)
        sel = slice(size - 1, size - 1 - k, -1) if which == "top" else slice(0, k)
        if which == "top" and k == size:
            sel = slice(None, None, -1)
        lam, vec = lam[sel] / n, np.ascontiguousarray(vec[:, sel])
        res = results.residuals(lambda v: gram @ v, lam, vec, n)
        return Eigenpairs(lam, vec, res, "dense", n)
    from ._lanczos import eigenpairs as lanczos
    op, n = _operator(kernel, x, n_threads)
    return lanczos(op, k, which, n, tol, maxiter, bool(verify))


def operator_norm(kernel, x=None, *, method="auto", tol=1e-10, maxiter=None,
                  n_threads=None) -> float:
    """‖K‖_op = λ_max(𝐊)/N, the convention of ntk-math.md §5 (the appendix calls the leading
    eigenvalue scaled by 1/N the operator norm). It is max ‖f‖²_K / ‖f‖²_p_in over functions on
    the data; the appendix's formula max_{‖f‖_p_in ≤ 1} ‖f‖_K is its square root."""
    # verify=False: a missed copy of λ_max would not change its value.
    return float(eigenpairs(kernel, 1, x=x, which="top", method=method, tol=tol, maxiter=maxiter,
                            verify=False, n_threads=n_threads).values[0])


def definiteness(kernel, x=None, *, rtol=None, n_threads=None) -> Definiteness:
    """Whether ‖f‖_p_in > 0 ⇒ ‖f‖_K > 0 on the data: every eigenvalue of the Gram, by dense
    eigvalsh, classified with the tolerance rtol·λ_max (rtol = M·eps by default; see
    :class:`Definiteness` for the verdicts and why the tolerance is rigorous enough).

    Dense on purpose: the verdict counts every eigenvalue below the tolerance (the rank), and
    only a full decomposition counts them; Lanczos finds the bottom few, not how many lie below a
    threshold. For the smallest eigenvalues of a Gram too large to form, use
    ``eigenpairs(kernel, k, x=x, which="bottom", method="lanczos")``."""
    if rtol is not None:
        rtol = args.positive(rtol, "rtol")
    gram, _ = args.gram(*_materialized(kernel, x, n_threads))
    return results.classify(np.linalg.eigvalsh(gram), rtol)


# --- how the Gram is reached --------------------------------------------------------------------
def _materialized(kernel, x, n_threads):
    """(Gram array or kernel(x), None, name) for args.gram, the object called with n_threads."""
    if args.is_kernel_object(kernel):
        if x is None:
            raise ValueError(f"x: a kernel object ({type(kernel).__name__}) needs the points x")
        return kernel(x, n_threads=n_threads), None, "kernel(x)"
    return kernel, x, "kernel"


def _matrix_free(kernel) -> bool:
    return args.is_kernel_object(kernel) and hasattr(kernel, "operator")


def _size(kernel, x) -> int:
    """The Gram's order M, without computing it for kernel objects."""
    if not args.is_kernel_object(kernel):
        return args.gram(kernel, x)[0].shape[0]
    if x is None:
        raise ValueError(f"x: a kernel object ({type(kernel).__name__}) needs the points x")
    n = np.shape(x)[0] if np.ndim(x) else 0
    outputs = int(np.prod(getattr(kernel, "output_shape", ()) or (1,)))
    full = getattr(kernel, "output", None) == "full"
    return n * (int(np.sqrt(outputs)) if full else 1)


def _operator(kernel, x, n_threads):
    """(LinearOperator or array, N): matrix-free for infinite-width kernel objects."""
    if _matrix_free(kernel):
        op = kernel.operator(x, ridge=0.0, n_threads=n_threads)
        return op, op.shape[0]
    return args.gram(*_materialized(kernel, x, n_threads))


def _applier(kernel, x, n_threads):
    """(v ↦ 𝐊 v, order M, N)."""
    op, n = _operator(kernel, x, n_threads)
    return (lambda v: np.asarray(op @ v)), op.shape[0], n
