"""ntkfast.spectra in plain numpy: the Gram is always formed (``kernel(x)`` for kernel objects)
and every eigenpair comes from numpy's eigh, whatever ``method`` says (validated alike). The
tests hold the fast path's Lanczos and matrix-free products against this."""
from __future__ import annotations

import numpy as np

from .. import _spectra_args as args
from .. import _spectra_results as results
from .._spectra_results import Definiteness, Eigenpairs

METHODS = ("auto", "dense", "lanczos")


def pin_norm(f) -> float:
    arr = np.asarray(f, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[0] == 0:
        raise ValueError(f"f: expected an array of shape (N,) or (N, O), got shape {arr.shape}")
    return float(np.sqrt(np.mean(np.sum(arr.reshape(arr.shape[0], -1) ** 2, axis=1))))


def kernel_inner(f, g, kernel, x=None, *, n_threads=None) -> float:
    gram, n = _gram(kernel, x)
    ff = args.functions(f, gram.shape[0], n, "f")
    gg = args.functions(g, gram.shape[0], n, "g")
    if ff.shape != gg.shape:
        raise ValueError(f"f, g: expected the same shape, got {np.shape(f)} and {np.shape(g)}")
    if gram.shape[0] == n:  # K ⊗ Id: the same K on every output
        return float(sum(ff[:, a] @ gram @ gg[:, a] for a in range(ff.shape[1])) / n**2)
    return float(ff.ravel() @ gram @ gg.ravel() / n**2)


def kernel_norm(f, kernel, x=None, *, n_threads=None) -> float:
    return float(np.sqrt(max(kernel_inner(f, f, kernel, x), 0.0)))


def eigenpairs(kernel, k=1, *, x=None, which="top", method="auto", tol=1e-10, maxiter=None,
               verify=True, n_threads=None) -> Eigenpairs:
    which = args.which(which)
    args.method(method, METHODS)
    args.positive(tol, "tol")
    if maxiter is not None:
        args.positive_count(maxiter, "maxiter")
    gram, n = _gram(kernel, x)
    k = args.count(k, gram.shape[0])
    lam, vec = np.linalg.eigh(gram)
    idx = np.arange(k) if which == "bottom" else np.arange(gram.shape[0] - 1, gram.shape[0] - 1 - k, -1)
    lam, vec = lam[idx] / n, vec[:, idx]
    res = np.linalg.norm(gram @ vec / n - vec * lam, axis=0)
    return Eigenpairs(lam, vec, res, "dense", n)


def operator_norm(kernel, x=None, *, method="auto", tol=1e-10, maxiter=None,
                  n_threads=None) -> float:
    gram, n = _gram(kernel, x)
    return float(np.linalg.eigvalsh(gram)[-1] / n)


def definiteness(kernel, x=None, *, rtol=None, n_threads=None) -> Definiteness:
    if rtol is not None:
        rtol = args.positive(rtol, "rtol")
    gram, _ = _gram(kernel, x)
    return results.classify(np.linalg.eigvalsh(gram), rtol)


def _gram(kernel, x):
    if args.is_kernel_object(kernel):
        if x is None:
            raise ValueError(f"x: a kernel object ({type(kernel).__name__}) needs the points x")
        return args.gram(kernel(x), None, "kernel(x)")
    return args.gram(kernel, x)
