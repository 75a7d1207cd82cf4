"""ntkfast.regression: Nyström kernel ridge regression with Falkon's preconditioned CG, kernel
gradient descent at finite t through the Nyström eigen-approximation, and CG on the full system.

Truth: with M = N and C = X the Nyström problem is exact kernel ridge regression, so it must equal
np.linalg.solve / kernel_gd_mse (t = ∞ and finite t) to rounding; at M < N, on a teacher with
noise, its test error must be close to exact KRR's at the same ridge. The rest: the memory budget
and the thread count change no bit, Ctrl-C leaves nothing behind, bad input is refused by name.
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from conftest import NTKShim, raises_naming
from scipy.sparse.linalg import aslinearoperator

import ntkfast
from ntkfast import _nystrom_blocks, cg_krr, kernel_gd_mse, nystrom_krr, nystrom_preconditioner

RELU = ntkfast.InfiniteWidthKernel(depth=3, activation="relu")
RELU_DUCK = NTKShim(depth=3, activation="relu")  # the same kernel as a user's duck type


def rel_err(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def teacher(x, seed=0, width=8):
    """A smooth random function: a tanh network with `width` hidden units of unit-variance weights."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((x.shape[1], width)) / np.sqrt(x.shape[1])
    w2 = rng.standard_normal(width) / np.sqrt(width)
    return np.tanh(x @ w1) @ w2


def noisy_problem(n, d, noise, seed=1, n_test=1000):
    """x (n, d) and test points standard normal; y = teacher + noise·std(teacher)·N(0, 1)."""
    rng = np.random.default_rng(seed)
    x, xt = rng.standard_normal((n, d)), rng.standard_normal((n_test, d))
    f = teacher(x)
    return x, f + noise * f.std() * rng.standard_normal(n), xt, teacher(xt)


@pytest.fixture(scope="module")
def small():
    """N = 240 training and 60 test points in 5 dimensions, two outputs, the exact kernels."""
    rng = np.random.default_rng(7)
    x, xt = rng.standard_normal((240, 5)), rng.standard_normal((60, 5))
    y = np.stack([np.sin(x[:, 0]) + x[:, 1] ** 2, np.cos(x @ np.ones(5))], axis=1)
    return x, y, xt, RELU(x), RELU(xt, x)


@pytest.fixture
def small_blocks(monkeypatch):
    """Product blocks of 32 rows and factor blocks of 96, so that the small problem spans several
    (by default a block holds 1 MB of kernel values: all of it)."""
    monkeypatch.setattr(_nystrom_blocks, "product_rows", lambda m: 32)
    monkeypatch.setattr(_nystrom_blocks, "factor_rows", lambda m: 96)


# ------------------------------------------------------------------------- M = N: exact KRR

@pytest.mark.parametrize("ridge", [0.1, 0.0])
@pytest.mark.parametrize("one_output", [True, False])
def test_all_points_as_centers_is_exact_kernel_ridge_regression(small, ridge, one_output):
    x, y, xt, k, kt = small
    y = y[:, 0] if one_output else y
    model = nystrom_krr(RELU, x, y, ridge=ridge, centers=x, tol=1e-12)
    exact = np.linalg.solve(k + ridge * np.eye(len(x)), y)
    assert model.coefficients.shape == exact.shape
    assert rel_err(model.coefficients, exact) < 1e-8
    f = kernel_gd_mse(k, y, np.inf, k_test_train=kt, ridge=ridge).f_test[0]
    assert rel_err(model.predict(xt), f) < 1e-8
    # P = H⁻¹ when C = X (the Falkon preconditioner is exact): one or two iterations
    assert model.solver == "falkon" and model.iterations <= 3 and model.converged
    assert model.residuals[0] == 1.0 and model.residuals[-1] <= 1e-12
    assert len(model.residuals) == model.iterations + 1


@pytest.mark.parametrize("t", [0.5, 10.0, 1000.0])
@pytest.mark.parametrize("ridge", [0.3, 0.0])
def test_finite_time_with_all_points_as_centers_is_kernel_gd_mse(small, t, ridge):
    x, y, xt, k, kt = small
    model = nystrom_krr(RELU, x, y, ridge=ridge, centers=x, t=t)
    exact = kernel_gd_mse(k, y, t, k_test_train=np.vstack([kt, k]), ridge=ridge)
    f_test, f_at_train = exact.f_test[0][:len(xt)], exact.f_test[0][len(xt):]
    assert rel_err(model.predict(xt), f_test) < 1e-8
    # the function at the training inputs; kernel_gd_mse's f_train adds ridge·g_t(K + ridge) y
    assert rel_err(model.predict(x), f_at_train) < 1e-8
    if ridge == 0:
        assert rel_err(model.predict(x), exact.f_train[0]) < 1e-8
    assert model.solver == "spectral" and model.iterations == 0 and model.converged


def test_finite_time_tends_to_the_nystrom_ridge_solution(small):
    x, y, xt, _, _ = small
    ridge_fit = nystrom_krr(RELU, x, y, ridge=0.3, n_centers=60, random_state=3, tol=1e-13)
    late = nystrom_krr(RELU, x, y, ridge=0.3, n_centers=60, random_state=3, t=1e12)
    assert np.array_equal(late.centers, ridge_fit.centers)
    assert rel_err(late.predict(xt), ridge_fit.predict(xt)) < 1e-8
    early = nystrom_krr(RELU, x, y, ridge=0.3, n_centers=60, random_state=3, t=1.0)
    assert rel_err(early.predict(xt), ridge_fit.predict(xt)) > 0.1  # t = 1 is far from converged


def test_time_zero_is_the_initial_function(small):
    x, y, xt, _, _ = small
    model = nystrom_krr(RELU, x, y[:, 0], ridge=0.1, n_centers=30, t=0)
    assert model.kernel_passes == 0 and not model.coefficients.any()
    assert np.array_equal(model.predict(xt), np.zeros(len(xt)))


# ------------------------------------------------------- M < N: accuracy and convergence

def _accuracy_and_iterations(n, d, m, ridge, exact_coefficients, maxiter_plain):
    x, y, xt, ft = noisy_problem(n, d, noise=0.5)
    kt = RELU(xt, x)
    mse_exact = np.mean((kt @ exact_coefficients(x, y) - ft) ** 2)
    model = nystrom_krr(RELU, x, y, ridge=ridge, n_centers=m, random_state=0)
    mse = np.mean((model.predict(xt) - ft) ** 2)
    assert mse <= 1.05 * mse_exact, (mse, mse_exact)
    assert mse < 0.1 * ft.var()  # and the fit is a fit
    assert model.converged and model.iterations <= 30 and model.residuals[-1] <= 1e-7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # not converged: expected
        plain = nystrom_krr(RELU, x, y, ridge=ridge, n_centers=m, random_state=0,
                            preconditioner=False, maxiter=maxiter_plain)
    assert plain.iterations > 3 * model.iterations or not plain.converged
    return model, plain


def test_nystrom_is_close_to_exact_krr_and_the_preconditioner_pays():
    """N = 5000, M = 500 (N/M as in the slow N = 20 000 test), d = 4, noise std 0.5 std(f),
    ridge 3 (the best of 0.3, 1, 3, 10 for exact KRR here): measured test MSE ratio 0.99, 15
    preconditioned iterations; plain CG had not converged after 100."""
    def exact(x, y):
        return np.linalg.solve(RELU(x) + 3.0 * np.eye(len(x)), y)

    model, plain = _accuracy_and_iterations(5000, 4, 500, 3.0, exact, maxiter_plain=100)
    assert not plain.converged


@pytest.mark.slow
def test_nystrom_is_close_to_exact_krr_at_n_20000():
    """N = 20 000, M = 2000, d = 8, noise std 0.5 std(f), ridge 1 (exact KRR's test MSE: 0.0071 at
    ridge 1, 0.0073 at 3). Exact KRR by cg_krr on the dense K (3.2 GB, in place) to 1e-10 with a
    Nyström preconditioner. Measured: Nyström / exact test MSE 0.98, 19 iterations.
    At d = 16 the depth-3 ReLU NTK needs far more centers: its effective dimension
    tr K(K + ρI)⁻¹ at N = 4000 is 648 at ρ = 1, and M = 2000 at N = 20 000 was 8-38 % worse than
    exact KRR for ρ from 0.3 to 10."""
    def exact(x, y):
        k = RELU(x)
        k[np.diag_indices_from(k)] += 1.0
        p = nystrom_preconditioner(RELU, x, ridge=1.0, n_centers=2000, random_state=5)
        res = cg_krr(aslinearoperator(k), y, preconditioner=p, tol=1e-10, maxiter=200)
        assert res.converged
        return res.coefficients

    _accuracy_and_iterations(20000, 8, 2000, 1.0, exact, maxiter_plain=91)


# ------------------------------------------------------ budget, threads, pickling, Ctrl-C

class CountingKernel(NTKShim):
    """NTKShim that counts its calls and can raise KeyboardInterrupt at a given call."""

    def __init__(self, interrupt_at=None, **kw):
        super().__init__(**kw)
        self.calls, self.interrupt_at = 0, interrupt_at

    def __call__(self, x1, x2=None, *, n_threads=None):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return super().__call__(x1, x2, n_threads=n_threads)


@pytest.mark.parametrize("t", [np.inf, 20.0])
def test_memory_budget_changes_no_bit(small, small_blocks, t):
    x, y, xt, _, _ = small
    kept_kernel, redone_kernel = CountingKernel(depth=3), CountingKernel(depth=3)
    kw = dict(ridge=0.2, n_centers=50, random_state=1, t=t)
    kept = nystrom_krr(kept_kernel, x, y, **kw)
    one_block = 32 * 50 * 8
    redone = nystrom_krr(redone_kernel, x, y, memory_budget=one_block, **kw)
    assert np.array_equal(kept.coefficients, redone.coefficients)
    n_blocks = 240 // 32 + 1
    # K(C, C) once, at t = ∞ K(sample, C) once (the preconditioner's 190 more points: one call),
    # K(X, C) in one call per pass when kept, per block and pass when not
    sample = 1 if np.isinf(t) else 0
    assert kept_kernel.calls == 1 + sample + 1
    assert redone_kernel.calls == 1 + sample + redone.kernel_passes * n_blocks
    assert redone.kernel_passes == (1 + redone.iterations if np.isinf(t) else 1)


@pytest.mark.parametrize("size, budget_blocks", [(None, 1), (None, 3), (96, 1), (96, 2), (96, 3),
                                                 (128, 3), (1000, 2)])
def test_blocks_cover_the_rows_in_order_whatever_the_calls(small, small_blocks, size, budget_blocks):
    x, _, _, _, _ = small
    c = x[:50]
    rows = _nystrom_blocks.KernelRows(RELU, x, c, memory_budget=budget_blocks * 32 * 50 * 8,
                                      n_threads=None)
    assert not rows.keep and rows.call_rows == budget_blocks * 32
    full = RELU(x, c)
    step = size or 32
    seen = []
    for start, stop, kb in rows.blocks(size, on_block=seen.append):
        assert start % step == 0 and stop == min(start + step, 240)
        assert np.array_equal(kb, full[start:stop])
    assert seen == [min(s + step, 240) for s in range(0, 240, step)]
    assert rows.passes == rows.computed_passes == 1


@pytest.mark.parametrize("t", [np.inf, 20.0])
def test_thread_count_changes_no_bit(small, small_blocks, t):
    x, y, xt, _, _ = small
    fits = [nystrom_krr(RELU, x, y, ridge=0.2, n_centers=50, random_state=1, t=t,
                        memory_budget=2 * 32 * 50 * 8, n_threads=k) for k in (1, 2, 3)]
    for other in fits[1:]:
        assert np.array_equal(fits[0].coefficients, other.coefficients)
        assert fits[0].iterations == other.iterations
    p = [fits[0].predict(xt, n_threads=k, block_rows=7) for k in (1, 2, 3)]
    assert np.array_equal(p[0], p[1]) and np.array_equal(p[0], p[2])
    # other blocks: BLAS may round a product of another shape differently
    assert rel_err(fits[0].predict(xt, block_rows=1000), p[0]) < 1e-14


def test_a_users_duck_typed_kernel_gives_the_same_bits(small):
    x, y, xt, _, _ = small
    ours = nystrom_krr(RELU, x, y, ridge=0.2, n_centers=40, random_state=2)
    duck = nystrom_krr(RELU_DUCK, x, y, ridge=0.2, n_centers=40, random_state=2)
    assert np.array_equal(ours.coefficients, duck.coefficients)
    assert np.array_equal(ours.predict(xt), duck.predict(xt))


def test_model_pickles_and_predicts_the_same(small):
    x, y, xt, _, _ = small
    model = nystrom_krr(RELU, x, y[:, 1], ridge=0.2, n_centers=40, random_state=2)
    back = pickle.loads(pickle.dumps(model))
    assert np.array_equal(back.predict(xt), model.predict(xt))
    assert back.iterations == model.iterations and np.array_equal(back.residuals, model.residuals)
    assert back.n_centers == 40 and np.array_equal(back.center_indices, model.center_indices)


@pytest.mark.parametrize("t", [np.inf, 5.0])
def test_keyboard_interrupt_propagates_and_leaves_nothing_behind(small, small_blocks, t):
    x, y, xt, _, _ = small
    kw = dict(ridge=0.2, n_centers=50, random_state=4, t=t, memory_budget=32 * 50 * 8, tol=1e-5)
    kernel = CountingKernel(interrupt_at=5, depth=3)
    with pytest.raises(KeyboardInterrupt):
        nystrom_krr(kernel, x, y, **kw)
    kernel.interrupt_at = None
    again = nystrom_krr(kernel, x, y, **kw)
    clean = nystrom_krr(RELU, x, y, **kw)
    assert np.array_equal(again.coefficients, clean.coefficients)


# ----------------------------------------------------------------- jitter and refusals

def test_duplicated_centers_get_a_jitter_and_the_same_predictions(small):
    """Duplicated centers make K(C, C) and H singular; the jittered preconditioner is huge along
    their difference, which bounds the attainable residual (it stalled at 3.5e-8 here), but the
    predictions do not see that direction (the duplicated columns of K(x, C) are equal)."""
    x, y, xt, _, _ = small
    unique = x[:40]
    doubled = np.vstack([unique, unique[:5]])
    base = nystrom_krr(RELU, x, y, ridge=0.2, centers=unique)
    with pytest.warns(RuntimeWarning, match=r"jitter [0-9.e+-]+ .*the solution is unchanged"):
        dup = nystrom_krr(RELU, x, y, ridge=0.2, centers=doubled)
    assert dup.jitter > 0 and base.jitter == 0 and dup.converged
    assert rel_err(dup.predict(xt), base.predict(xt)) < 1e-5
    with pytest.warns(RuntimeWarning, match=r"jitter .*\(K\(C, C\) \+ jitter·I\)⁻¹"):
        nystrom_krr(RELU, x, y, ridge=0.2, centers=doubled, t=3.0)


class Negated(NTKShim):
    def __call__(self, x1, x2=None, *, n_threads=None):
        return -super().__call__(x1, x2, n_threads=n_threads)


def test_an_indefinite_kernel_is_refused_naming_its_smallest_eigenvalue(small):
    x, y, _, _, _ = small
    with pytest.raises(ValueError, match=r"smallest eigenvalue is -[0-9.]+"):
        nystrom_krr(Negated(depth=3), x, y, ridge=0.1, n_centers=20)


def test_not_converging_warns_and_says_so(small):
    x, y, _, _, _ = small
    with pytest.warns(RuntimeWarning, match="stopped after 2 iterations"):
        model = nystrom_krr(RELU, x, y, ridge=0.01, n_centers=60, maxiter=2, tol=1e-14,
                            preconditioner_points=60)  # Falkon's (the default samples all 240)
    assert not model.converged and model.iterations == 2 and len(model.residuals) == 3


def test_a_larger_preconditioner_sample_saves_iterations_not_accuracy():
    """The preconditioner's sample S (centers + uniform rows of x) changes the iteration count,
    never the solution (to tol); S = M is Falkon's own, S = N makes P = H⁻¹ (one or two steps)."""
    x, y, xt, _ = noisy_problem(3000, 4, noise=0.5)
    kw = dict(ridge=0.3, n_centers=100, random_state=0, tol=1e-10, maxiter=500)
    fits = {s: nystrom_krr(RELU, x, y, preconditioner_points=s, **kw) for s in (100, 1000, 3000)}
    its = [fits[s].iterations for s in (100, 1000, 3000)]
    assert its[0] > 2 * its[1] and its[2] <= 2, its
    for s in (1000, 3000):
        assert np.array_equal(fits[s].centers, fits[100].centers)
        assert rel_err(fits[s].predict(xt), fits[100].predict(xt)) < 1e-7
    default = nystrom_krr(RELU, x, y, **kw)  # min(N, 25 M, max(M, 256 N / M)) = 2500
    assert np.array_equal(default.coefficients,
                          nystrom_krr(RELU, x, y, preconditioner_points=2500, **kw).coefficients)
    with pytest.raises(ValueError, match="preconditioner_points"):
        nystrom_krr(RELU, x, y, preconditioner_points=99, **kw)
    with pytest.raises(ValueError, match="preconditioner_points"):
        nystrom_krr(RELU, x, y, preconditioner_points=3001, **kw)


def test_progress_bar(small, capsys):
    x, y, _, _, _ = small
    nystrom_krr(RELU, x, y, ridge=0.2, n_centers=30, progress=True)
    nystrom_krr(RELU, x, y, ridge=0.2, n_centers=30, progress=True, t=2.0)
    err = capsys.readouterr().err
    assert "nystrom_krr" in err and "iterations" in err and "rows" in err
    nystrom_krr(RELU, x, y, ridge=0.2, n_centers=30, progress=False)
    assert capsys.readouterr().err == ""


def test_float32_kernel(small):
    x, y, xt, _, _ = small
    f64 = nystrom_krr(RELU, x, y, ridge=0.2, n_centers=50, random_state=0)
    f32 = nystrom_krr(NTKShim(depth=3, dtype=np.float32), x, y, ridge=0.2, n_centers=50,
                      random_state=0)
    assert f32.coefficients.dtype == np.float64
    assert rel_err(f32.predict(xt), f64.predict(xt)) < 1e-4


BAD = [
    ("n_centers", dict(n_centers=241)),
    ("n_centers", dict(n_centers=0)),
    ("n_centers", dict(n_centers=2.0)),
    ("n_centers", dict(n_centers=3, centers=np.zeros((4, 5)))),
    ("centers", dict(centers=np.zeros((4, 3)))),
    ("centers", dict(centers=np.full((4, 5), np.nan))),
    ("ridge", dict(ridge=-1.0)),
    ("ridge", dict(ridge=np.nan)),
    ("ridge", dict(ridge=None)),
    ("tol", dict(tol=0.0)),
    ("tol", dict(tol=-1e-3)),
    ("tol", dict(tol=np.nan)),
    ("maxiter", dict(maxiter=0)),
    ("maxiter", dict(maxiter=1.5)),
    ("memory_budget", dict(memory_budget=100)),
    ("memory_budget", dict(memory_budget=-5)),
    ("t", dict(t=-1.0)),
    ("t", dict(t=np.nan)),
    ("t", dict(t=[1.0, 2.0])),
    ("preconditioner", dict(preconditioner="yes")),
    ("random_state", dict(random_state="seed")),
    ("n_threads", dict(n_threads=0)),
    ("progress", dict(progress="yes")),
]


@pytest.mark.parametrize("name, kw", BAD, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD)])
def test_bad_arguments_are_refused_by_name(small, name, kw):
    x, y, _, _, _ = small
    call = dict(ridge=0.1, n_centers=20)
    call.update(kw)
    raises_naming(name, nystrom_krr, RELU, x, y, **call)


def test_bad_data_is_refused_by_name(small):
    x, y, _, _, _ = small
    bad_x = x.copy()
    bad_x[3, 1] = np.inf
    raises_naming("x", nystrom_krr, RELU, bad_x, y, ridge=0.1)
    raises_naming("x", nystrom_krr, RELU, x[:, 0], y, ridge=0.1)
    bad_y = y.copy()
    bad_y[7, 0] = np.nan
    raises_naming("y", nystrom_krr, RELU, x, bad_y, ridge=0.1)
    raises_naming("y", nystrom_krr, RELU, x, y[:-1], ridge=0.1)
    raises_naming("y", nystrom_krr, RELU, x, y[:, :, None], ridge=0.1)
    raises_naming("kernel", nystrom_krr, "relu", x, y, ridge=0.1)
    model = nystrom_krr(RELU, x, y, ridge=0.1, n_centers=10)
    raises_naming("x", model.predict, x[:, :3])
    raises_naming("block_rows", model.predict, x, block_rows=0)


# ---------------------------------------------------------------------------- cg_krr

@pytest.mark.parametrize("form", ["linear_operator", "callable", "matrix"])
def test_cg_on_the_full_system_is_exact_krr(small, form):
    x, y, _, k, _ = small
    a = k + 0.1 * np.eye(len(x))
    op = {"linear_operator": aslinearoperator(a), "callable": lambda v: a @ v, "matrix": a}[form]
    exact = np.linalg.solve(a, y)
    res = cg_krr(op, y, tol=1e-12)
    assert res.converged and rel_err(res.coefficients, exact) < 1e-8
    one = cg_krr(op, y[:, 0], tol=1e-12)
    assert one.coefficients.shape == (len(x),) and rel_err(one.coefficients, exact[:, 0]) < 1e-8
    assert one.residuals[0] == 1.0 and one.residuals[-1] <= 1e-12
    assert len(one.residuals) == one.iterations + 1


def test_the_nystrom_preconditioner_cuts_cg_iterations(small):
    x, y, _, k, _ = small
    a = k + 0.1 * np.eye(len(x))
    plain = cg_krr(aslinearoperator(a), y, tol=1e-10)
    p = nystrom_preconditioner(RELU, x, ridge=0.1, n_centers=60, random_state=0)
    assert p.shape == (240, 240) and p.ridge == 0.1 and p.jitter == 0.0
    pre = cg_krr(aslinearoperator(a), y, tol=1e-10, preconditioner=p)
    assert pre.converged and pre.iterations * 2 < plain.iterations
    assert rel_err(pre.coefficients, np.linalg.solve(a, y)) < 1e-8
    # with every point a center the preconditioner is the inverse
    full = nystrom_preconditioner(RELU, x, ridge=0.1, centers=x)
    assert rel_err(full @ y, np.linalg.solve(a, y)) < 1e-8


def test_cg_bad_input(small):
    x, y, _, k, _ = small
    a = aslinearoperator(k + 0.1 * np.eye(len(x)))
    raises_naming("operator", cg_krr, aslinearoperator(np.eye(10)), y)
    raises_naming("operator", cg_krr, 3.0, y)
    raises_naming("operator", cg_krr, lambda v: v[:-1], y)
    raises_naming("operator", cg_krr, lambda v: v * np.nan, y)
    raises_naming("preconditioner", cg_krr, a, y, preconditioner=aslinearoperator(np.eye(5)))
    raises_naming("y", cg_krr, a, y[:-3])
    raises_naming("tol", cg_krr, a, y, tol=0)
    raises_naming("maxiter", cg_krr, a, y, maxiter=0)
    raises_naming("ridge", nystrom_preconditioner, RELU, x, ridge=0.0)
    with pytest.warns(RuntimeWarning, match="cg_krr: conjugate gradients stopped after 1 "):
        assert not cg_krr(a, y, maxiter=1).converged


def test_public_names():
    assert ntkfast.nystrom_krr is nystrom_krr and "nystrom_krr" in ntkfast.__all__
    for name in ("cg_krr", "nystrom_preconditioner", "NystromModel", "CGResult",
                 "NystromPreconditioner"):
        assert name in ntkfast.__all__ and getattr(ntkfast, name) is getattr(ntkfast.regression, name)


def test_cg_stops_on_an_operator_or_preconditioner_that_is_not_positive_definite(small):
    x, y, _, k, _ = small
    a = k + 0.1 * np.eye(len(x))
    with pytest.warns(RuntimeWarning, match="stopped after 1 iterations"):
        res = cg_krr(lambda v: -(a @ v), y[:, 0], tol=1e-8)
    assert not res.converged and res.residuals[-1] == 1.0 and not res.coefficients.any()
    raises_naming("preconditioner", cg_krr, aslinearoperator(a), y, preconditioner=lambda r: -r)


class DropsAColumn(NTKShim):
    def __call__(self, x1, x2=None, *, n_threads=None):
        k = super().__call__(x1, x2, n_threads=n_threads)
        return k if x2 is None else k[:, 1:]


class NaNInCross(NTKShim):
    def __call__(self, x1, x2=None, *, n_threads=None):
        k = super().__call__(x1, x2, n_threads=n_threads)
        if x2 is not None:
            k[-1, 0] = np.nan
        return k


def test_a_user_kernel_is_checked_on_the_preconditioner_sample(small):
    """The preconditioner's K(sample, C) calls are checked like every other call of a user's
    kernel: a wrong shape or a NaN names the call, before anything is factored."""
    x, y, _, _, _ = small
    with pytest.raises(ValueError, match=r"kernel: returned shape \(\d+, 19\) for K\(sample\[0:\d+\], "
                                         r"centers\), expected \(\d+, 20\)"):
        nystrom_krr(DropsAColumn(depth=3), x, y, ridge=0.1, n_centers=20)
    with pytest.raises(ValueError, match=r"kernel: K\(sample\[0:\d+\], centers\) has NaN"):
        nystrom_krr(NaNInCross(depth=3), x, y, ridge=0.1, n_centers=20)
