"""ntkfast.random_functions: fast vs reference, and §3.1 of the paper: gradient descent on θ for
F^lin is kernel gradient descent with K̃ (MSE and cross-entropy, to 1e-10); prior draws, their
jitter; Monte Carlo kernels blocked to a memory budget."""
from __future__ import annotations

import numpy as np

import ntkfast
from ntkfast import reference

N, O = 8, 3
X = np.random.default_rng(0).normal(size=(N, 3))
K = ntkfast.nngp(X, depth=3, activation="relu", bias_std=0.2)
TS = np.array([0.0, 0.3, 1.0, 3.0, 10.0])


def per_output(g, n_outputs):
    """Random functions with one output each, g^(p) e_a for every p and a: their K̃ is exactly
    (K̃_g / O) ⊗ Id, the scalar kernel kernel_gd takes."""
    p, n = g.shape
    f = np.zeros((p * n_outputs, n, n_outputs))
    for a in range(n_outputs):
        f[a::n_outputs, :, a] = g
    return f


def test_random_kernel_and_flin_fast_vs_reference():
    f = ntkfast.gp_prior_draws(K, 7, n_outputs=O, seed=1).f
    assert f.shape == (7, N, O)
    np.testing.assert_allclose(ntkfast.random_kernel(f), reference.random_kernel(f), atol=1e-14)
    np.testing.assert_allclose(ntkfast.random_kernel(f[:, :, 0]), reference.random_kernel(f[:, :, 0]),
                               atol=1e-14)
    theta = np.arange(7.0)
    np.testing.assert_allclose(ntkfast.flin(theta, f), reference.flin(theta, f), atol=1e-13)
    assert ntkfast.flin(theta, f[:, :, 1]).shape == (N,)


def test_scalar_functions_give_k_kron_identity():
    g = ntkfast.gp_prior_draws(K, 5, seed=2).f
    kt = ntkfast.random_kernel(per_output(g, O))
    want = np.einsum("ij,ab->ijab", ntkfast.random_kernel(g) / O, np.eye(O))
    np.testing.assert_allclose(kt, want, rtol=1e-14, atol=0)


def test_flin_gd_mse_is_kernel_gd_with_the_random_kernel():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(N, O))
    for p in (5, 40):  # K̃ rank-deficient (P·O... < N·O) and full rank
        f = per_output(ntkfast.gp_prior_draws(K, p, seed=p).f, O)
        theta0 = rng.normal(size=f.shape[0])
        got = ntkfast.flin_gd(f, y, np.append(TS, np.inf), theta0=theta0)
        want = ntkfast.kernel_gd_mse(ntkfast.random_kernel(f)[:, :, 0, 0], y, np.append(TS, np.inf),
                                     f0_train=ntkfast.flin(theta0, f))
        np.testing.assert_allclose(got.f_train, want.f_train, rtol=0, atol=1e-10)
        np.testing.assert_allclose(got.loss, want.loss, rtol=0, atol=1e-10)
        ref = reference.flin_gd(f, y, TS, theta0=theta0)
        np.testing.assert_allclose(got.theta[:-1], ref.theta, rtol=0, atol=1e-10)


def test_flin_gd_mse_full_blocks():
    """General multi-output functions: K̃ has full n_L×n_L blocks; flattened to (N·O, N·O) for
    kernel_gd_mse, whose 1/N then counts N·O rows, so its time is ours × O."""
    rng = np.random.default_rng(4)
    f = ntkfast.gp_prior_draws(K, 10, n_outputs=O, seed=5).f
    f = f + 0.3 * f[:, :, ::-1]  # correlate the outputs
    flat = ntkfast.random_kernel(f).transpose(0, 2, 1, 3).reshape(N * O, N * O)
    y, theta0 = rng.normal(size=(N, O)), rng.normal(size=10)
    got = ntkfast.flin_gd(f, y, TS, theta0=theta0)
    want = ntkfast.kernel_gd_mse(flat, y.ravel(), TS * O, f0_train=ntkfast.flin(theta0, f).ravel())
    np.testing.assert_allclose(got.f_train.reshape(TS.size, -1), want.f_train, rtol=0, atol=1e-10)


def test_flin_gd_cross_entropy_is_kernel_gd_with_the_random_kernel():
    rng = np.random.default_rng(6)
    y = rng.dirichlet(np.ones(O), size=N)
    f = per_output(ntkfast.gp_prior_draws(K, 20, seed=7).f, O)
    theta0 = rng.normal(size=f.shape[0])
    got = ntkfast.flin_gd(f, y, TS, loss="cross_entropy", theta0=theta0)
    want = ntkfast.kernel_gd(ntkfast.random_kernel(f)[:, :, 0, 0], y, TS, loss="ce",
                             f0_train=ntkfast.flin(theta0, f), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got.f_train, want.f_train, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.loss, want.loss, rtol=0, atol=1e-10)
    ref = reference.flin_gd(f, y, TS, loss="ce", theta0=theta0)  # its own RK4, the same steps
    np.testing.assert_allclose(got.f_train, ref.f_train, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.theta, ref.theta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-12)


def test_prior_draws_fast_vs_reference_and_jitter():
    # The reference factors and draws with its own code (a loop over draws): the two agree to
    # rounding, jitter included, for scalar Grams (1 and 2 outputs), full blocks, and a Gram of
    # duplicated points that Cholesky factors only with a jitter.
    blocks = ntkfast.random_kernel(ntkfast.gp_prior_draws(K, 5, n_outputs=2, seed=3).f)
    singular = ntkfast.nngp(np.vstack([X, X[:3]]), depth=3, activation="relu", bias_std=0.2)
    q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(9, 9)))
    rounded = (q * np.append(np.linspace(1.0, 2.0, 8), -3e-13)) @ q.T  # factors at rung 4 or so
    for gram, outputs in ((K, 2), (K, 1), (blocks, 1), (singular, 1), (rounded, 1)):
        for method in ("cholesky", "eigh"):
            a = ntkfast.gp_prior_draws(gram, 4, n_outputs=outputs, seed=8, method=method)
            b = reference.gp_prior_draws(gram, 4, n_outputs=outputs, seed=8, method=method)
            assert a.f.shape == b.f.shape
            np.testing.assert_allclose(a.f, b.f, rtol=1e-12, atol=1e-12 * np.abs(a.f).max())
            assert a.method == b.method == method and a.jitter == b.jitter >= 0
    assert ntkfast.gp_prior_draws(singular, 2).jitter > 0
    assert ntkfast.gp_prior_draws(rounded, 2).jitter >= 1e3 * np.finfo(float).eps
    # Duplicate points: an exactly singular Gram; the draws at the copies coincide to the jitter.
    xd = np.vstack([X, X[:2]])
    k = ntkfast.InfiniteWidthKernel(depth=3, activation="relu", get="nngp")
    chol = ntkfast.gp_prior_draws(k, 50, x=xd, seed=9)
    eig = ntkfast.gp_prior_draws(k, 50, x=xd, seed=9, method="eigh")
    scale = np.sqrt(np.diag(k(xd)).max())
    assert 0 <= chol.jitter <= 1e-4 * scale**2
    for d in (chol, eig):
        assert np.abs(d.f[:, N:] - d.f[:, :2]).max() <= 1e-6 * scale


def test_network_draws_fast_vs_reference():
    a = ntkfast.network_draws([3, 32, 32, 2], X, 3, activation="erf", bias_std=0.1, seed=10)
    b = reference.network_draws([3, 32, 32, 2], X, 3, activation="erf", bias_std=0.1, seed=10)
    assert a.shape == (3, N, 2)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    net = ntkfast.init_mlp([3, 32, 32, 2], activation="erf", bias_std=0.1,
                           seed=np.random.default_rng(10).integers(0, 2**63 - 1, size=3)[1])
    np.testing.assert_array_equal(a[1], net(X))


def test_monte_carlo_fast_vs_reference_and_blocks():
    kw = dict(depth=3, width=24, n_networks=3, n_outputs=2, activation="tanh", bias_std=0.3,
              seed=11)
    fast = ntkfast.monte_carlo_kernels(X, n_threads=1, **kw)
    ref = reference.monte_carlo_kernels(X, **kw)
    for a, b in zip(fast[:4], ref[:4]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(fast.ntk).max())
    # 5000 bytes: blocks of 4 rows (2 × 4 × 576 bytes of arrays; the rest holds the features of
    # two inputs): the same networks in every block, the same estimate.
    small = ntkfast.monte_carlo_kernels(X, memory_budget=5000, n_threads=1, **kw)
    for a, b in zip(fast[:4], small[:4]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13 * np.abs(fast.ntk).max())
    np.testing.assert_array_equal(fast.ntk, fast.ntk.T)
    # Cross kernels against x2.
    cross = ntkfast.monte_carlo_kernels(X[:3], X, n_threads=1, **kw)
    np.testing.assert_allclose(cross.ntk, fast.ntk[:3], rtol=0, atol=1e-13 * np.abs(fast.ntk).max())
    # The NNGP comes from the last layer's term: the mean of empirical_nngp.
    seeds = np.random.default_rng(11).integers(0, 2**63 - 1, size=3)
    nets = [ntkfast.init_mlp([3, 24, 24, 2], activation="tanh", bias_std=0.3, seed=s) for s in seeds]
    mean_nngp = np.mean([ntkfast.empirical_nngp(n, X) for n in nets], axis=0)
    np.testing.assert_allclose(fast.nngp, mean_nngp, rtol=0, atol=1e-13 * np.abs(mean_nngp).max())
    assert fast.n_networks == 3 and fast.width == 24
