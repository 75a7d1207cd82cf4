"""ntkfast.spectra: fast vs reference, and the reference vs the truths it serves (paper §3,
appendix A): the Rayleigh quotient of the operator norm, K ⊗ Id and full-block inner products,
the positive-definiteness theorem and its counterexamples, and the decay of kernel gradient
descent along the eigenvectors."""
from __future__ import annotations

import numpy as np
import pytest

import ntkfast
from ntkfast import reference


def sphere(n, n0, seed):
    x = np.random.default_rng(seed).normal(size=(n, n0))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * np.sqrt(n0)  # ‖x‖²/n0 = 1


def aligned(a, b):
    """Columns equal up to sign."""
    s = np.sign(np.sum(a * b, axis=0))
    return np.abs(a - b * s).max()


@pytest.mark.parametrize("which", ["top", "bottom"])
@pytest.mark.parametrize("method", ["dense", "lanczos"])
def test_eigenpairs_fast_vs_reference(which, method):
    x = sphere(120, 4, 0)
    k = ntkfast.InfiniteWidthKernel(depth=3, activation="erf", bias_std=0.2)
    fast = ntkfast.eigenpairs(k, 4, x=x, which=which, method=method, n_threads=1)
    ref = reference.eigenpairs(reference.InfiniteWidthKernel(depth=3, activation="erf",
                                                             bias_std=0.2), 4, x=x, which=which)
    assert fast.method == method and fast.n_points == 120
    scale = ref.values[0] if which == "top" else ntkfast.operator_norm(k, x)
    np.testing.assert_allclose(fast.values, ref.values, rtol=0, atol=1e-11 * scale)
    assert np.all(fast.residuals <= 1e-8 * scale)
    gaps = np.abs(np.diff(ref.values)).min()
    assert aligned(fast.vectors, ref.vectors) < 1e-7 * scale / gaps


def test_lanczos_matrix_free_needs_no_gram(monkeypatch):
    """The Lanczos path on a kernel object multiplies through its operator, never calling it."""
    x = sphere(300, 3, 1)
    k = ntkfast.InfiniteWidthKernel(depth=2, activation="relu")
    dense = np.linalg.eigvalsh(k(x))[::-1][:3] / 300
    monkeypatch.setattr(ntkfast.InfiniteWidthKernel, "__call__",
                        lambda *a, **kw: pytest.fail("the Gram was formed"))
    got = ntkfast.eigenpairs(k, 3, x=x, method="lanczos", n_threads=1)
    np.testing.assert_allclose(got.values, dense, rtol=1e-11)


def duplicated(n, copies, seed):
    x = sphere(n, 3, seed)
    return np.vstack([x, x[:copies]])


@pytest.mark.parametrize("which", ["top", "bottom"])
def test_lanczos_finds_every_copy_of_a_repeated_eigenvalue(which):
    """Duplicated points repeat the eigenvalue 0 (three copies here). Lanczos from one start
    vector returns it once, with exact residuals, so no residual test can see the two missing;
    verify (the default) finds them on the deflated operator. Top: K' = c·I − K turns the null
    space into a repeated top eigenvalue. Residuals are judged against ‖K/N‖, not |λ| ≈ 0."""
    x = duplicated(30, 3, 14)
    gram = ntkfast.ntk(x, depth=3, activation="relu")
    if which == "top":
        gram = np.linalg.eigvalsh(gram)[-1] * np.eye(33) - gram
    truth = reference.eigenpairs(gram, 4, which=which)
    scale = np.abs(np.linalg.eigvalsh(gram)).max() / 33  # ‖K/N‖
    assert np.ptp(truth.values[:3]) < 1e-14 * scale
    assert abs(truth.values[3] - truth.values[0]) > 1e-3 * scale
    got = ntkfast.eigenpairs(gram, 4, which=which, method="lanczos")
    np.testing.assert_allclose(got.values, truth.values, rtol=0, atol=1e-12 * scale)
    assert np.all(got.residuals <= 1e-10 * scale)
    np.testing.assert_allclose(got.vectors.T @ got.vectors, np.eye(4), atol=1e-10)
    blind = ntkfast.eigenpairs(gram, 4, which=which, method="lanczos", verify=False)
    assert np.sum(np.abs(blind.values - truth.values[0]) < 1e-10 * scale) < 3


def test_lanczos_top_pairs_near_zero_of_a_negative_semidefinite_gram():
    """−K: the top eigenvalues are the 0 of the null space and ‖K/N‖ lies in the negative ones;
    the residual bound is on ‖K/N‖ (from power steps), so exact pairs near 0 pass."""
    gram = -ntkfast.ntk(duplicated(30, 3, 16), depth=3, activation="relu")
    truth = reference.eigenpairs(gram, 3, which="top")
    got = ntkfast.eigenpairs(gram, 3, which="top", method="lanczos")
    scale = np.abs(np.linalg.eigvalsh(gram)).max() / 33
    np.testing.assert_allclose(got.values, truth.values, rtol=0, atol=1e-12 * scale)


def test_lanczos_residuals_are_measured_not_trusted(monkeypatch):
    """A Ritz pair eigsh claims converged but whose residual, measured again, is far off raises
    with the residuals; it is never returned."""
    import scipy.sparse.linalg as sla

    real = sla.eigsh

    def off(*a, **kw):
        lam, vec = real(*a, **kw)
        vec = vec + 1e-3 * np.random.default_rng(0).normal(size=vec.shape)
        return lam, vec / np.linalg.norm(vec, axis=0)

    monkeypatch.setattr(sla, "eigsh", off)
    cases = [("top", ntkfast.InfiniteWidthKernel(depth=2, activation="erf"), sphere(50, 3, 15)),
             ("bottom", ntkfast.InfiniteWidthKernel(depth=3, activation="relu"), duplicated(30, 3, 14))]
    for which, k, x in cases:
        with pytest.raises(ntkfast.SpectrumNotConvergedError,
                           match=r"residuals .* exceed 100·tol·‖K/N‖") as err:
            ntkfast.eigenpairs(k, 2, x=x, which=which, method="lanczos", n_threads=1)
        assert err.value.residuals.shape == (2,) and np.all(err.value.residuals > 1e-6)


def test_operator_norm_is_the_largest_rayleigh_quotient():
    x = sphere(40, 3, 2)
    gram = ntkfast.ntk(x, depth=3, activation="relu", bias_std=0.1)
    op = ntkfast.operator_norm(gram)
    top = ntkfast.eigenpairs(gram, 1).vectors[:, 0]
    quotient = lambda f: ntkfast.kernel_norm(f, gram) ** 2 / ntkfast.pin_norm(f) ** 2
    assert quotient(top) == pytest.approx(op, rel=1e-12)
    rng = np.random.default_rng(3)
    assert all(quotient(rng.normal(size=40)) <= op for _ in range(20))
    assert op == pytest.approx(np.linalg.eigvalsh(gram)[-1] / 40, rel=1e-13)
    assert reference.operator_norm(gram) == pytest.approx(op, rel=1e-13)


def test_scalar_gram_acts_as_k_kron_identity():
    x = sphere(15, 3, 4)
    k = ntkfast.InfiniteWidthKernel(depth=2, activation="tanh")
    gram = k(x)
    rng = np.random.default_rng(5)
    f, g = rng.normal(size=(15, 3)), rng.normal(size=(15, 3))
    truth = f.ravel() @ np.kron(gram, np.eye(3)) @ g.ravel() / 15**2
    assert ntkfast.kernel_inner(f, g, gram) == pytest.approx(truth, rel=1e-12)
    assert ntkfast.kernel_inner(f, g, k, x, n_threads=1) == pytest.approx(truth, rel=1e-12)
    assert reference.kernel_inner(f, g, gram) == pytest.approx(truth, rel=1e-12)
    for impl in (ntkfast, reference):
        assert impl.kernel_norm(f, gram) == pytest.approx(np.sqrt(f.ravel() @ np.kron(gram, np.eye(3))
                                                                  @ f.ravel()) / 15, rel=1e-12)
    assert ntkfast.kernel_norm(f, k, x, n_threads=1) == pytest.approx(reference.kernel_norm(f, gram),
                                                                       rel=1e-12)
    assert ntkfast.pin_norm(f) == pytest.approx(np.sqrt(np.sum(f**2) / 15), rel=1e-14)
    assert reference.pin_norm(f) == pytest.approx(ntkfast.pin_norm(f), rel=1e-14)


def test_empirical_ntk_full_blocks():
    net = ntkfast.init_mlp([3, 16, 16, 2], activation="relu", seed=0)
    x = sphere(10, 3, 6)
    ek = ntkfast.EmpiricalKernel(net, output="full")
    blocks = ek(x, n_threads=1)                                 # (N, N, O, O)
    flat = blocks.transpose(0, 2, 1, 3).reshape(20, 20)
    rng = np.random.default_rng(7)
    f, g = rng.normal(size=(10, 2)), rng.normal(size=(10, 2))
    truth = np.einsum("ia,ijab,jb->", f, blocks, g) / 100
    assert ntkfast.kernel_inner(f, g, blocks) == pytest.approx(truth, rel=1e-12)
    assert ntkfast.kernel_inner(f, g, ek, x) == pytest.approx(truth, rel=1e-12)
    assert reference.kernel_inner(f, g, blocks) == pytest.approx(truth, rel=1e-12)
    got = ntkfast.eigenpairs(ek, 3, x=x)
    np.testing.assert_allclose(got.values, np.linalg.eigvalsh(flat)[::-1][:3] / 10, rtol=1e-12)
    assert got.vectors.shape == (20, 3)


# --- positive-definiteness (paper §3; Jacot et al. Prop. 2) ---------------------------------------
@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "sin"])
@pytest.mark.parametrize("depth", [2, 3])
def test_non_polynomial_activation_on_the_sphere_is_positive_definite(activation, depth):
    x = sphere(40, 3, 8)
    k = ntkfast.InfiniteWidthKernel(depth=depth, activation=activation)
    got = ntkfast.definiteness(k, x, n_threads=1)
    assert got.verdict == "positive definite" and got.positive_definite and got.rank == 40
    assert got.smallest > got.tolerance > 0
    assert reference.definiteness(k(x)) == got


@pytest.mark.parametrize("bias_std, rank", [(0.3, 4), (0.0, 3)])
def test_identity_activation_has_the_rank_of_an_affine_model(bias_std, rank):
    """With φ = id every Σ^(l), Σ̇^(l) and so Θ^(L) is a·x·x' + b (b > 0 iff β > 0): the Gram is
    a·XXᵀ + b·11ᵀ, of rank n0 + 1 (n0 without bias) for N > n0 + 1 points in general position."""
    x = sphere(12, 3, 9)
    got = ntkfast.definiteness(ntkfast.ntk(x, depth=3, activation="identity", bias_std=bias_std))
    assert got.verdict == f"semidefinite (rank {rank} of 12)"
    assert got.rank == rank and not got.positive_definite


def test_duplicate_points_are_semidefinite():
    x = sphere(10, 3, 10)
    x = np.vstack([x, x[:3]])
    got = ntkfast.definiteness(ntkfast.InfiniteWidthKernel(depth=3, activation="relu"), x)
    assert got.verdict == "semidefinite (rank 10 of 13)"


def test_indefinite_verdicts():
    rng = np.random.default_rng(11)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    make = lambda low: (q * np.array([1.0, 0.5, 0.4, 0.3, 0.2, low])) @ q.T
    assert ntkfast.definiteness(make(-1e-9)).verdict == "indefinite by rounding only"
    assert ntkfast.definiteness(make(-1e-3)).verdict == "indefinite"
    assert ntkfast.definiteness(make(1e-9)).verdict == "positive definite"
    assert ntkfast.definiteness(make(1e-9), rtol=1e-6).verdict == "semidefinite (rank 5 of 6)"


# --- the dynamics the eigenvalues govern ----------------------------------------------------------
def test_residual_decays_along_eigenvectors_at_their_eigenvalues():
    """kernel_gd_mse: ∂_t f = −(1/N) K (f − y), so along an eigenvector of K/N with eigenvalue λ
    the residual is exp(−λ t) times its start: the 1/N of the time scale is in λ."""
    x = sphere(30, 3, 12)
    gram = ntkfast.ntk(x, depth=3, activation="relu", bias_std=0.1)
    y = np.random.default_rng(13).normal(size=30)
    ts = np.array([0.0, 0.5, 2.0, 8.0])
    f = ntkfast.kernel_gd_mse(gram, y, ts).f_train
    pairs = ntkfast.eigenpairs(gram, 4)
    along = (f - y) @ pairs.vectors                                   # (T, k)
    expected = np.exp(-np.outer(ts, pairs.values)) * along[0]
    np.testing.assert_allclose(along, expected, rtol=1e-9, atol=1e-12 * np.abs(y).max())


def test_import_stays_light():
    """ntkfast.spectra and ntkfast.random_functions load on first use; only Lanczos loads scipy."""
    import subprocess
    import sys
    code = ("import sys, numpy as np, ntkfast; print('scipy' in sys.modules); "
            "g = ntkfast.ntk(np.eye(3), depth=2); ntkfast.eigenpairs(g, 1); ntkfast.random_kernel(g[None]); "
            "print('scipy' in sys.modules); ntkfast.eigenpairs(g, 1, method='lanczos'); "
            "print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True"]


@pytest.mark.parametrize("name", ["pin_norm", "kernel_inner", "kernel_norm", "eigenpairs",
                                  "operator_norm", "definiteness", "gp_prior_draws",
                                  "network_draws", "random_kernel", "flin", "flin_gd",
                                  "monte_carlo_kernels"])
def test_reference_twin_has_the_same_signature(name):
    import inspect
    assert name in ntkfast.__all__ and name in reference.__all__
    assert inspect.signature(getattr(ntkfast, name)) == inspect.signature(getattr(reference, name))
