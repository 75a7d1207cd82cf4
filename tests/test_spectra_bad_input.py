"""ntkfast.spectra refuses bad input with errors that name the argument, alike in the reference;
Lanczos that does not converge raises with its residuals instead of returning wrong values."""
from __future__ import annotations

import numpy as np
import pytest

import ntkfast
from ntkfast import reference

GRAM = ntkfast.ntk(np.random.default_rng(0).normal(size=(8, 3)), depth=2)
BOTH = pytest.mark.parametrize("mod", [ntkfast, reference], ids=["fast", "reference"])


@BOTH
@pytest.mark.parametrize("k, error, match", [
    (9, ValueError, r"k: asked for 9 eigenpairs of a Gram of order 8"),
    (0, ValueError, r"k: expected at least 1"),
    (-2, ValueError, r"k: expected at least 1"),
    (1.5, TypeError, r"k: expected an integer"),
    (True, TypeError, r"k: expected an integer"),
])
def test_bad_k(mod, k, error, match):
    with pytest.raises(error, match=match):
        mod.eigenpairs(GRAM, k)


@BOTH
@pytest.mark.parametrize("maxiter", [0, -1])
def test_bad_maxiter(mod, maxiter):
    with pytest.raises(ValueError, match=rf"maxiter: expected an integer >= 1, got {maxiter}"):
        mod.eigenpairs(GRAM, 2, method="lanczos", maxiter=maxiter)


@BOTH
def test_asymmetric_gram_is_refused_naming_the_asymmetry(mod):
    bad = GRAM.copy()
    bad[2, 5] += 1e-3
    for call in (lambda: mod.eigenpairs(bad, 2), lambda: mod.definiteness(bad),
                 lambda: mod.operator_norm(bad), lambda: mod.kernel_norm(np.ones(8), bad),
                 lambda: mod.gp_prior_draws(bad, 3)):
        with pytest.raises(ValueError, match=r"kernel: expected a symmetric Gram matrix, but entry "
                                             r"\[(2, 5|5, 2)\].*differ by 0.001"):
            call()


@BOTH
@pytest.mark.parametrize("gram, match", [
    (np.ones((3, 4)), r"kernel: expected a square Gram array"),
    (np.ones((3, 3, 2)), r"kernel: expected a square Gram array"),
    (np.full((2, 2), np.nan), r"kernel: contains NaN"),
])
def test_bad_gram(mod, gram, match):
    with pytest.raises(ValueError, match=match):
        mod.eigenpairs(gram, 1)


@BOTH
def test_other_arguments(mod):
    k = ntkfast.InfiniteWidthKernel(depth=2)
    with pytest.raises(ValueError, match=r"x: a kernel object"):
        mod.eigenpairs(k, 1)
    with pytest.raises(ValueError, match=r"which: expected 'top' or 'bottom'"):
        mod.eigenpairs(GRAM, 1, which="middle")
    with pytest.raises(ValueError, match=r"method: expected"):
        mod.eigenpairs(GRAM, 1, method="qr")
    with pytest.raises(ValueError, match=r"tol: expected a positive"):
        mod.eigenpairs(GRAM, 1, tol=0)
    with pytest.raises(ValueError, match=r"rtol: expected a (positive|finite non-negative)"):
        mod.definiteness(GRAM, rtol=-1)
    with pytest.raises(ValueError, match=r"f: expected an array of shape \(8,\)"):
        mod.kernel_norm(np.ones(7), GRAM)
    with pytest.raises(ValueError, match=r"f, g: expected the same shape"):
        mod.kernel_inner(np.ones((8, 2)), np.ones((8, 3)), GRAM)


def test_lanczos_needs_k_below_the_order():
    with pytest.raises(ValueError, match=r"k: Lanczos finds at most 7 eigenpairs.*method='dense'"):
        ntkfast.eigenpairs(GRAM, 8, method="lanczos")
    assert ntkfast.eigenpairs(GRAM, 8).values.shape == (8,)


def test_lanczos_non_convergence_raises_with_residuals():
    x = np.random.default_rng(1).normal(size=(200, 3))
    k = ntkfast.InfiniteWidthKernel(depth=3, activation="relu")
    with pytest.raises(ntkfast.SpectrumNotConvergedError, match=r"did not converge.*residuals") as exc:
        ntkfast.eigenpairs(k, 6, x=x, which="bottom", method="lanczos", tol=1e-14, maxiter=2,
                           n_threads=1)
    assert exc.value.residuals.shape == (6,)
