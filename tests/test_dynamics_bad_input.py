"""Bad input to kernel_gd_mse, kernel_gd and infinite_ensemble (issue item 8): every case raises
ValueError or TypeError naming the offending argument, from the compiled API and the numpy
reference alike; an integration that cannot finish raises RuntimeError saying why.
"""
from __future__ import annotations


from conftest import LOSS_RETURN_CASES, VALID_CALLABLES, mse_value, raises_naming, strided
import ntkfast
import numpy as np
import pytest
from ntkfast import reference

RNG = np.random.default_rng(0)
_A = RNG.standard_normal((5, 5))
K = _A @ _A.T + np.eye(5)  # (5, 5) symmetric positive definite
KT = RNG.standard_normal((3, 5))
Y = RNG.standard_normal((5, 2))
Y_CE = np.eye(2)[[0, 1, 1, 0, 1]]
X = RNG.standard_normal((5, 3))
XS = RNG.standard_normal((3, 3))


def _with(a, index, value):
    a = np.array(a, dtype=np.float64)
    a[index] = value
    return a


def _asym(k):
    k = k.copy()
    k[0, 1] += 1e-3 * np.abs(k).max()
    return k


KGD = [pytest.param(ntkfast.kernel_gd_mse, id="mse"), pytest.param(ntkfast.kernel_gd, id="gd"),
       pytest.param(reference.kernel_gd_mse, id="ref.mse"), pytest.param(reference.kernel_gd, id="ref.gd")]
GD = [pytest.param(ntkfast.kernel_gd, id="gd"), pytest.param(reference.kernel_gd, id="ref.gd")]
ENSEMBLE = [pytest.param(ntkfast.infinite_ensemble, id="ensemble"),
            pytest.param(reference.infinite_ensemble, id="ref.ensemble")]

# (argument named, k_train, y_train, t, keyword arguments)
BAD_KGD = [
    pytest.param("k_train", K[:, :4], Y, 1.0, {}, id="k-not-square"),
    pytest.param("k_train", K[0], Y[:, 0], 1.0, {}, id="k-1d"),
    pytest.param("k_train", K[None], Y, 1.0, {}, id="k-3d"),
    pytest.param("k_train", _asym(K), Y, 1.0, {}, id="k-not-symmetric"),
    pytest.param("k_train", _with(K, (2, 2), np.nan), Y, 1.0, {}, id="k-nan"),
    pytest.param("k_train", _with(K, (1, 3), np.inf), Y, 1.0, {}, id="k-inf"),
    pytest.param("k_train", K + 1j, Y, 1.0, {}, id="k-complex"),
    pytest.param("k_train", np.zeros((0, 0)), np.zeros((0, 2)), 1.0, {}, id="k-empty"),
    pytest.param("y_train", K, Y[:4], 1.0, {}, id="y-rows"),
    pytest.param("y_train", K, Y[None], 1.0, {}, id="y-3d"),
    pytest.param("y_train", K, _with(Y, (0, 1), np.nan), 1.0, {}, id="y-nan"),
    pytest.param("y_train", K, _with(Y, (3, 0), -np.inf), 1.0, {}, id="y-inf"),
    pytest.param("y_train", K, np.zeros((5, 0)), 1.0, {}, id="y-no-outputs"),
    pytest.param("t", K, Y, -1.0, {}, id="t-negative"),
    pytest.param("t", K, Y, [0.0, 2.0, 1.0], {}, id="t-unsorted"),
    pytest.param("t", K, Y, [0.0, np.nan], {}, id="t-nan"),
    pytest.param("t", K, Y, [[1.0]], {}, id="t-2d"),
    pytest.param("t", K, Y, [], {}, id="t-empty"),
    pytest.param("t", K, Y, [np.inf, 1.0], {}, id="t-inf-not-last"),
    pytest.param("t", K, Y, -np.inf, {}, id="t-minus-inf"),
    pytest.param("t", K, Y, "1", {}, id="t-string"),
    pytest.param("f0_train", K, Y, 1.0, {"f0_train": np.zeros((4, 2))}, id="f0-rows"),
    pytest.param("f0_train", K, Y, 1.0, {"f0_train": np.zeros((5, 3))}, id="f0-outputs"),
    pytest.param("f0_train", K, Y[:, 0], 1.0, {"f0_train": np.zeros((5, 1))}, id="f0-2d-for-1d-y"),
    pytest.param("f0_train", K, Y, 1.0, {"f0_train": _with(np.zeros((5, 2)), (1, 1), np.nan)},
                 id="f0-nan"),
    pytest.param("k_test_train", K, Y, 1.0, {"k_test_train": KT[:, :4]}, id="kt-columns"),
    pytest.param("k_test_train", K, Y, 1.0, {"k_test_train": KT[0]}, id="kt-1d"),
    pytest.param("k_test_train", K, Y, 1.0, {"k_test_train": _with(KT, (0, 0), np.inf)},
                 id="kt-inf"),
    pytest.param("f0_test", K, Y, 1.0, {"f0_test": np.zeros((3, 2))}, id="f0-test-without-kt"),
    pytest.param("f0_test", K, Y, 1.0, {"k_test_train": KT, "f0_test": np.zeros((2, 2))},
                 id="f0-test-rows"),
    pytest.param("f0_test", K, Y, 1.0, {"k_test_train": KT, "f0_test": np.zeros((3, 1))},
                 id="f0-test-outputs"),
    pytest.param("f0_test", K, Y, 1.0, {"k_test_train": KT, "f0_test": _with(np.zeros((3, 2)), 0, np.nan)},
                 id="f0-test-nan"),
]


@pytest.mark.parametrize("fn", KGD)
@pytest.mark.parametrize("arg,k,y,t,kw", BAD_KGD)
def test_kernel_gd_rejects(fn, arg, k, y, t, kw):
    raises_naming(arg, fn, k, y, t, **kw)


@pytest.mark.parametrize("fn", [ntkfast.kernel_gd_mse, reference.kernel_gd_mse], ids=["mse", "ref.mse"])
@pytest.mark.parametrize("ridge", [-0.1, np.nan, np.inf, "0.1"])
def test_kernel_gd_mse_rejects_bad_ridge(fn, ridge):
    raises_naming("ridge", fn, K, Y, 1.0, ridge=ridge)


def test_symmetry_is_relative_to_the_kernel_scale():
    # Rounding-level asymmetry (well below 1e-8·max|K|) is accepted, at any scale.
    for scale in (1e-6, 1.0, 1e6):
        k = K * scale
        k[0, 1] += 1e-11 * np.abs(k).max()
        for fn in (ntkfast.kernel_gd_mse, ntkfast.kernel_gd):
            assert np.isfinite(fn(k, Y, 0.1).f_train).all()
        raises_naming("k_train", ntkfast.kernel_gd, _asym(k), Y, 0.1)


@pytest.mark.parametrize("fn", GD)
def test_kernel_gd_refuses_infinite_time_and_points_to_the_closed_form(fn):
    msg = raises_naming("t", fn, K, Y, [1.0, np.inf])
    assert "kernel_gd_mse" in msg


@pytest.mark.parametrize("fn", GD)
@pytest.mark.parametrize("arg,kw", [
    ("loss", {"loss": "hinge"}),
    ("loss", {"loss": 3}),
    ("loss", {"loss": None}),
    ("method", {"method": "euler"}),
    ("method", {"method": None}),
    ("rtol", {"rtol": -1e-6}),
    ("rtol", {"rtol": np.nan}),
    ("atol", {"atol": -1.0}),
    ("atol", {"atol": np.inf}),
    ("dt", {"method": "rk4", "dt": 0.0}),
    ("dt", {"method": "rk4", "dt": -0.1}),
    ("dt", {"method": "rk4", "dt": np.nan}),
    ("dt", {"method": "rk4", "dt": np.inf}),
    ("max_steps", {"max_steps": 0}),
    ("max_steps", {"max_steps": -5}),
    ("max_steps", {"max_steps": 2.5}),
    ("n_threads", {"n_threads": 0}),
    ("n_threads", {"n_threads": "2"}),
])
def test_kernel_gd_rejects_bad_options(fn, arg, kw):
    raises_naming(arg, fn, K, Y, 1.0, **kw)


BAD_CE_TARGETS = [
    pytest.param(Y_CE[:, 0], id="1d"),
    pytest.param(np.ones((5, 1)), id="one-output"),
    pytest.param(Y_CE * 2, id="rows-sum-to-2"),
    pytest.param(Y_CE - 0.5, id="negative"),
    pytest.param(np.full((5, 2), 0.3), id="rows-sum-below-1"),
]


@pytest.mark.parametrize("fn", GD)
@pytest.mark.parametrize("y", BAD_CE_TARGETS)
@pytest.mark.parametrize("loss", ["cross_entropy", "ce"])
def test_cross_entropy_needs_probability_rows(fn, y, loss):
    raises_naming("y_train", fn, K, y, 1.0, loss=loss)


# What a user's loss may return: the table shared with train, in test_dynamics_training_losses.py
# (at the default method); here the refusals again through rk4's own calls of the loss.
REFUSED_RETURNS = [p for p in LOSS_RETURN_CASES if p.values[1] is not None]


@pytest.mark.parametrize("fn", GD)
@pytest.mark.parametrize("bad, expected", REFUSED_RETURNS)
def test_callable_loss_returning_garbage_through_rk4(fn, bad, expected):
    with pytest.raises(expected, match=r"(?<![\w.])loss(?!\w)"):
        fn(K, Y, 1.0, loss=bad, method="rk4")


@pytest.mark.parametrize("fn", GD)
def test_callable_loss_exceptions_propagate(fn):
    class Boom(Exception):
        pass

    def boom(f, y):
        raise Boom("from the user's loss")

    with pytest.raises(Boom):
        fn(K, Y, 1.0, loss=boom)


@pytest.mark.parametrize("fn", GD)
def test_max_steps_exceeded_is_a_runtime_error(fn):
    for kw in ({"method": "rk4", "dt": 1e-3}, {"method": "dopri5", "rtol": 1e-12, "atol": 1e-14}):
        with pytest.raises(RuntimeError, match="max_steps"):
            fn(K, Y, 50.0, max_steps=20, **kw)


@pytest.mark.parametrize("fn", GD)
def test_blow_up_is_not_returned_silently(fn):
    # A custom loss whose flow explodes in finite time (d = f³ grows like 1/(t* − t)): the
    # integrator must not hand back inf/NaN; a clear error (step size underflow, max_steps or
    # a non-finite state) is expected.
    def cubic(f, y):
        return float((f ** 4).sum(axis=1).mean() / 4), f ** 3

    with pytest.raises((RuntimeError, FloatingPointError, ValueError)):
        res = fn(-K, Y * 0 + 3.0, 10.0, loss=cubic, f0_train=np.full((5, 2), 3.0), max_steps=10000)
        assert np.isfinite(res.f_train).all(), "returned non-finite values"


# ---------------------------------------------------------------------------------------------
# infinite_ensemble
# ---------------------------------------------------------------------------------------------
BAD_ENSEMBLE = [  # (argument, x_train, y_train, x_test, t, keyword arguments)
    pytest.param("x_train", X[:, :2], Y, XS, 1.0, {}, id="x-width"),
    pytest.param("x_test", X, Y, XS[:, :2], 1.0, {}, id="x-test-width"),
    pytest.param("x_train", _with(X, (0, 0), np.nan), Y, XS, 1.0, {}, id="x-nan"),
    pytest.param("x_test", X, Y, _with(XS, (1, 1), np.inf), 1.0, {}, id="x-test-inf"),
    pytest.param("y_train", X, Y[:4], XS, 1.0, {}, id="y-rows"),
    pytest.param("y_train", X, _with(Y, (0, 0), np.nan), XS, 1.0, {}, id="y-nan"),
    pytest.param("t", X, Y, XS, -1.0, {}, id="t-negative"),
    pytest.param("t", X, Y, XS, [2.0, 1.0], {}, id="t-unsorted"),
    pytest.param("t", X, Y, XS, [np.nan], {}, id="t-nan"),
    pytest.param("get", X, Y, XS, 1.0, {"get": "both"}, id="get"),
    pytest.param("get", X, Y, XS, 1.0, {"get": ("ntk", "nngp")}, id="get-tuple"),
    pytest.param("depth", X, Y, XS, 1.0, {"depth": 0}, id="depth"),
    pytest.param("activation", X, Y, XS, 1.0, {"activation": "swish!"}, id="activation"),
    pytest.param("ridge", X, Y, XS, 1.0, {"ridge": -1.0}, id="ridge"),
    pytest.param("weight_std", X, Y, XS, 1.0, {"weight_std": -1.0}, id="weight-std"),
]


@pytest.mark.parametrize("fn", ENSEMBLE)
@pytest.mark.parametrize("arg,x,y,xs,t,kw", BAD_ENSEMBLE)
def test_infinite_ensemble_rejects(fn, arg, x, y, xs, t, kw):
    kw = {"depth": 3, **kw}
    raises_naming(arg, fn, x, y, xs, t, **kw)


@pytest.mark.parametrize("fn", ENSEMBLE)
@pytest.mark.parametrize("q", [0.0, 1.0, -0.5, 1.5, np.nan])
def test_quantile_needs_a_probability(fn, q):
    res = fn(X, Y[:, 0], XS, 1.0, depth=3)
    raises_naming("q", res.quantile, q)


@pytest.mark.parametrize("fn", ENSEMBLE)
def test_quantile_without_covariance(fn):
    # Either the variances are kept (then they must be right) or the error says why.
    res = fn(X, Y[:, 0], XS, 1.0, depth=3, covariance=False)
    full = fn(X, Y[:, 0], XS, 1.0, depth=3)
    try:
        q = res.quantile(0.9)
    except (ValueError, TypeError) as err:
        assert "covariance" in str(err)
    else:
        np.testing.assert_allclose(q, full.quantile(0.9), rtol=1e-12)
        np.testing.assert_allclose(res.std, full.std, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Unusual but valid input: same numbers as the plain call
# ---------------------------------------------------------------------------------------------
ALL_KGD = [pytest.param(ntkfast.kernel_gd_mse, id="mse"), pytest.param(ntkfast.kernel_gd, id="gd"),
           pytest.param(reference.kernel_gd_mse, id="ref.mse"),
           pytest.param(reference.kernel_gd, id="ref.gd")]


@pytest.mark.parametrize("fn", ALL_KGD)
def test_layouts_lists_and_float32_give_the_same_result(fn):
    f0 = RNG.standard_normal((5, 2))
    f0t = RNG.standard_normal((3, 2))
    plain = fn(K, Y, [0.0, 0.5, 2.0], f0_train=f0, k_test_train=KT, f0_test=f0t)
    variants = [
        (np.asfortranarray(K), np.asfortranarray(Y), np.asfortranarray(f0), np.asfortranarray(KT),
         np.asfortranarray(f0t)),
        (strided(K), strided(Y), f0[::-1][::-1], strided(KT), strided(f0t)),
        (K.tolist(), Y.tolist(), f0.tolist(), KT.tolist(), f0t.tolist()),
    ]
    for k, y, a, kt, b in variants:
        got = fn(k, y, (0.0, 0.5, 2.0), f0_train=a, k_test_train=kt, f0_test=b)
        np.testing.assert_array_equal(got.f_train, plain.f_train)
        np.testing.assert_array_equal(got.f_test, plain.f_test)
    # a result is a frozen record
    with pytest.raises(AttributeError):
        plain.t = None


@pytest.mark.parametrize("fn", ALL_KGD)
def test_one_training_point(fn):
    res = fn(np.array([[2.0]]), np.array([1.0]), [0.0, 1.0, 3.0])
    np.testing.assert_allclose(res.f_train, 1.0 - np.exp(-2.0 * np.array([[0.0], [1.0], [3.0]])),
                               rtol=1e-7 if fn in (ntkfast.kernel_gd, reference.kernel_gd) else 1e-14)


@pytest.mark.parametrize("fn", GD)
def test_rk4_lands_on_requested_times_closer_than_dt(fn):
    times = [0.0, 0.01, 0.02, 0.02, 1.5, 5.0]
    res = fn(K, Y, times, method="rk4", dt=0.05)
    exact = ntkfast.kernel_gd_mse(K, Y, times)
    assert np.abs(res.f_train - exact.f_train).max() < 1e-6 * np.abs(exact.f_train).max()
    np.testing.assert_array_equal(res.t, times)


@pytest.mark.parametrize("fn", GD)
def test_times_need_not_start_at_zero(fn):
    a = fn(K, Y_CE, [2.0], loss="ce", method="rk4", dt=0.1)
    b = fn(K, Y_CE, [0.0, 2.0], loss="ce", method="rk4", dt=0.1)
    np.testing.assert_array_equal(a.f_train[0], b.f_train[1])


@pytest.mark.parametrize("fn", ENSEMBLE)
@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_ensemble_at_the_training_points(fn, get):
    # At t = ∞ the training points are interpolated: variance ~0, rounding may make it slightly
    # negative; std must stay finite (no NaN, no warning) and the mean must be y.
    res = fn(X, Y, X, [0.0, 10.0, np.inf], get=get, depth=3)
    assert np.isfinite(res.std).all() and (res.std >= 0).all()
    assert res.std[-1].max() < 1e-5 * res.std[0].max()
    np.testing.assert_allclose(res.mean[-1], Y, atol=1e-8)


@pytest.mark.parametrize("fn", [ntkfast.kernel_gd_mse, reference.kernel_gd_mse], ids=["mse", "ref.mse"])
def test_repeated_infinite_times_are_allowed(fn):
    res = fn(K, Y, [1.0, np.inf, np.inf])  # filterwarnings=error: a warning fails here
    np.testing.assert_array_equal(res.f_train[1], res.f_train[2])
    np.testing.assert_allclose(res.f_train[2], Y, atol=1e-9)


@pytest.mark.parametrize("fn", ENSEMBLE)
def test_repeated_infinite_times_in_the_ensemble(fn):
    res = fn(X, Y, XS, [np.inf, np.inf], depth=3)
    np.testing.assert_array_equal(res.mean[0], res.mean[1])


@pytest.mark.parametrize("fn", GD)
def test_kernel_gd_refuses_repeated_infinite_times_cleanly(fn):
    raises_naming("t", fn, K, Y, [1.0, np.inf, np.inf])


@pytest.mark.parametrize("fn", GD)
@pytest.mark.parametrize("loss", VALID_CALLABLES)
def test_callable_loss_returns_in_any_layout(fn, loss):
    plain = fn(K, Y, [0.0, 1.0], loss="mse", method="rk4", dt=0.1)
    got = fn(K, Y, [0.0, 1.0], loss=loss, method="rk4", dt=0.1)
    np.testing.assert_allclose(got.f_train, plain.f_train, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("fn", GD)
@pytest.mark.parametrize("y", [Y[:, 0], Y[:, :1]], ids=["y-1d", "y-column"])
def test_callable_loss_may_return_d_as_a_vector_for_one_output(fn, y):
    # f is (N, 1); d as (N,) means the same, as in train
    def loss(f, yy):
        return mse_value(f, yy), (f - yy)[:, 0]

    plain = fn(K, y, [0.0, 1.0], loss="mse", method="rk4", dt=0.1)
    got = fn(K, y, [0.0, 1.0], loss=loss, method="rk4", dt=0.1)
    np.testing.assert_allclose(got.f_train, plain.f_train, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got.loss, plain.loss, rtol=1e-13)


# ---- found in review: blow-ups, indefinite kernels, null directions, float32 symmetry --------

def _small_kernel(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return ntkfast.ntk(rng.standard_normal((n, 3)), depth=2), rng.standard_normal(n)


@pytest.mark.parametrize("fn", [ntkfast.kernel_gd, reference.kernel_gd], ids=["fast", "ref"])
def test_unstable_rk4_step_raises_instead_of_returning_nan(fn):
    k, y = _small_kernel()
    # MSE: certainly beyond RK4's stability limit, refused before integrating (issue 11, item 6)
    msg = raises_naming("dt", fn, k, y, [0.0, 1e5], method="rk4", dt=200.0)
    assert "dt=200" in msg and "stability limit" in msg
    # K = v vᵀ, v = (1, -1, 1, ...): λ_max = N = 20 but max K_ii = 1 and 1ᵀK1 = 0, so the cheap
    # bound lets dt = 50 through (limit 2.785·N/1 = 55.7; the true one is 2.785): it overflows
    # and the error says so
    v = np.resize([1.0, -1.0], 20)
    with pytest.raises(FloatingPointError, match="dt=50"):
        fn(np.outer(v, v), y, [0.0, 1e5], method="rk4", dt=50.0)


@pytest.mark.parametrize("fn", [ntkfast.kernel_gd_mse, reference.kernel_gd_mse], ids=["fast", "ref"])
def test_indefinite_kernel_is_refused(fn):
    k, y = _small_kernel()
    k = k - 0.5 * np.linalg.eigvalsh(k).max() * np.eye(k.shape[0])
    with pytest.raises(ValueError, match="k_train.*positive semi-definite"):
        fn(k, y, [1.0])


@pytest.mark.parametrize("fn", [ntkfast.kernel_gd_mse, reference.kernel_gd_mse], ids=["fast", "ref"])
def test_null_directions_do_not_move_test_outputs_at_huge_t(fn):
    # K = X Xᵀ of rank 5: f_test at t = 1e15 must equal the t = inf limit (the null directions of
    # K are orthogonal to K(x*, X) in exact arithmetic; their rounding must not be scaled by t).
    rng = np.random.default_rng(3)
    x, xt, y = rng.standard_normal((200, 5)), rng.standard_normal((3, 5)), rng.standard_normal(200)
    res = fn(x @ x.T, y, [1e15, np.inf], k_test_train=xt @ x.T)
    np.testing.assert_allclose(res.f_test[0], res.f_test[1], rtol=1e-6)


def test_float32_kernel_with_rounding_asymmetry_is_accepted():
    j = np.random.default_rng(4).standard_normal((50, 2000)).astype(np.float32)
    k = (np.float32(1.0001) * j) @ j.T  # float32 rounding: not an exact mirror image
    assert np.abs(k - k.T).max() > 0
    res = ntkfast.kernel_gd_mse(k, np.ones(50), [1.0])
    assert np.isfinite(res.f_train).all()


# ---------------------------------------------------------------------------------------------
# Regressions from the second review of the dynamics code
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", GD)
@pytest.mark.parametrize("t,kw", [
    pytest.param([1.0, 2.0], {"dt": 1e-20}, id="2e20-steps"),       # the count passed 2^64
    pytest.param([1e300], {}, id="t-1e300-default-dt"),              # was a false 'unstable dt'
    pytest.param([1e19, 2e19], {"dt": 1.0, "max_steps": 2**64 - 1}, id="sum-past-2^64"),  # hung
    pytest.param([1.0], {"dt": 5e-324}, id="infinite-count"),
])
def test_rk4_step_counts_beyond_size_t_are_refused(fn, t, kw):
    # ceil(span/dt) was cast to size_t (undefined beyond 2^64) and summed with wrap-around: the
    # fast path returned after 2 steps, blamed a stable dt, or ran (nearly) forever.
    with pytest.raises(RuntimeError, match=r"rk4 with dt=\S+ needs \S+ steps, more than"):
        fn(K, Y, t, method="rk4", **kw)


@pytest.mark.parametrize("fn", GD)
def test_rk4_count_message_is_the_same_in_fast_and_reference(fn):
    with pytest.raises(RuntimeError) as info:
        fn(K, Y, [1.0, 2.0], method="rk4", dt=1e-20)
    assert "needs 2e+20 steps, more than max_steps=1000000" in str(info.value)
    with pytest.raises(RuntimeError) as info:  # below max_steps but past what a double counts
        fn(K, Y, [2.0**60], method="rk4", dt=1.0, max_steps=2**63)
    assert "more than the 2^53 steps" in str(info.value)


@pytest.mark.parametrize("fn", GD)
def test_max_steps_range(fn):
    msg = raises_naming("max_steps", fn, K, Y, 1.0, max_steps=2**64)
    assert "2**64 - 1" in msg
    raises_naming("max_steps", fn, K, Y, 1.0, max_steps=np.True_)
    assert np.isfinite(fn(K, Y, 1.0, max_steps=2**64 - 1).f_train).all()
    assert np.isfinite(fn(K, Y, 1.0, max_steps=np.uint64(2**64 - 1)).f_train).all()


@pytest.mark.parametrize("fn", GD)
@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_method_as_a_0d_numpy_string(fn, method):
    a = fn(K, Y, 1.0, method=np.array(method))
    b = fn(K, Y, 1.0, method=method)
    np.testing.assert_array_equal(a.f_train, b.f_train)


@pytest.mark.parametrize("fn", GD)
def test_method_array_is_a_clear_error(fn):
    msg = raises_naming("method", fn, K, Y, 1.0, method=np.array(["rk4", "rk4"]))
    assert "ambiguous" not in msg


@pytest.mark.parametrize("fn", ENSEMBLE)
def test_get_as_numpy_strings(fn):
    a = fn(X, Y, XS, 1.0, depth=2, get=np.array("nngp"))
    b = fn(X, Y, XS, 1.0, depth=2, get="nngp")
    np.testing.assert_array_equal(a.mean, b.mean)
    msg = raises_naming("get", fn, X, Y, XS, 1.0, depth=2, get=np.array(["ntk", "ntk"]))
    assert "ambiguous" not in msg


@pytest.mark.parametrize("fn", KGD)
@pytest.mark.parametrize("arg,k,y,kw", [
    pytest.param("y_train", [[2.0]], np.array(3.0), {}, id="0d-y"),
    pytest.param("f0_train", [[2.0]], [3.0], {"f0_train": np.array(1.0)}, id="0d-f0"),
    pytest.param("k_train", np.array(2.0), [3.0], {}, id="0d-k"),
    pytest.param("f0_test", [[2.0]], [3.0], {"k_test_train": [[1.0]], "f0_test": np.array(1.0)},
                 id="0d-f0-test"),
])
def test_0d_arrays_are_refused_with_their_true_shape(fn, arg, k, y, kw):
    # They became shape (1,): silently accepted for N = 1, and reported as "got shape (1,)".
    msg = raises_naming(arg, fn, k, y, 1.0, **kw)
    assert "got shape ()" in msg


@pytest.mark.parametrize("fn", KGD)
def test_targets_whose_mse_overflows_are_a_floating_point_error(fn):
    # The fast closed form returned NaN f_train (its eigenbasis projection overflowed), both
    # returned a loss of inf, with RuntimeWarnings.
    kw = {"method": "rk4"} if fn in (ntkfast.kernel_gd, reference.kernel_gd) else {}
    with pytest.raises(FloatingPointError, match="y_train"):
        fn(K, np.full(5, 1e308), [0.0, 1.0, 5.0], **kw)
    with pytest.raises(FloatingPointError, match="y_train"):
        fn(K, np.full(5, 1e200), [0.0, 1.0], **kw)


@pytest.mark.parametrize("fn", GD)
def test_dopri5_with_targets_near_1e200_does_not_underflow_its_first_step(fn):
    # The initial-step norms squared ~1e210 to inf, giving h = 0 and a false 'step size
    # underflow'; now the outputs integrate and the overflowing MSE is what is reported.
    with pytest.raises(FloatingPointError, match="MSE overflow"):
        fn(K, np.full(5, 1e200), [0.0, 1.0])
    big = fn(K, np.full(5, 1e100), [0.0, 1.0])
    small = fn(K, np.full(5, 1.0), [0.0, 1.0])
    np.testing.assert_allclose(big.f_train, small.f_train * 1e100, rtol=1e-6)


@pytest.mark.parametrize("fn", [ntkfast.kernel_gd_mse, reference.kernel_gd_mse], ids=["fast", "ref"])
def test_huge_times_leak_no_overflow_warnings(fn):
    # pytest turns warnings into errors: t·λ overflowed in early/decay/bracket (right results).
    r = fn(K, Y, [1e300, np.finfo(float).max], k_test_train=KT)
    inf = fn(K, Y, np.inf, k_test_train=KT)
    np.testing.assert_allclose(r.f_test[-1], inf.f_test[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn", ENSEMBLE)
def test_ensemble_at_huge_times_leaks_no_overflow_warnings(fn):
    r = fn(X, Y, XS, [1e300, np.finfo(float).max], depth=2)
    assert np.isfinite(r.mean).all() and np.isfinite(r.cov).all()


@pytest.mark.parametrize("fn", GD)
@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_tiny_valid_times_are_integrated(fn, method):
    # dopri5 refused 1e-301 with 'step size underflow' (an absolute floor h < 1e-300).
    r = fn(K, Y, [1e-301, 1.0], method=method)
    assert np.abs(r.f_train[0]).max() < 1e-299  # f0 = 0 moved by ~1e-301·K·Y/N
    ref = ntkfast.kernel_gd_mse(K, Y, 1.0)
    tol = 1e-6 if method == "dopri5" else 2e-3  # rk4 at its default (stability-limit) dt
    np.testing.assert_allclose(r.f_train[1], ref.f_train[0], rtol=tol, atol=tol)
    r = fn(K, Y, [5e-324, 1e-300], method=method)
    assert np.abs(r.f_train).max() < 1e-298


@pytest.mark.parametrize("fn", KGD)
@pytest.mark.parametrize("t", [np.bool_(True), np.array([True, False]), np.array([False, True])],
                         ids=["numpy-bool", "bool-array-unsorted", "bool-array"])
def test_bool_times_are_refused_like_python_bools(fn, t):
    raises_naming("t", fn, K, Y, t)


@pytest.mark.parametrize("fn", [ntkfast.kernel_gd_mse, reference.kernel_gd_mse, ntkfast.kernel_gd,
                                reference.kernel_gd], ids=["mse", "reference.mse", "gd", "reference.gd"])
def test_overflowing_test_outputs_blame_the_test_kernel(fn):
    # finite training outputs, a huge K(x*, X): the message used to blame y_train and the MSE
    kt = np.random.default_rng(3).standard_normal((3, 5)) * 1e307
    with pytest.raises(FloatingPointError, match="test outputs overflow"):
        fn(K, 10 * Y[:, 0], [1.0, 2.0], k_test_train=kt)


# ---- diverged solutions, meaningless tolerances, unstable fixed steps (issue 11, item 6) -------
def _issue_problem():
    """The depth-3 NTK of 40 Gaussian points and Gaussian targets (as in the issue)."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 5)), rng.standard_normal(40)
    return ntkfast.ntk(x, depth=3), y


def _message(fn, *args, **kwargs):
    with pytest.raises((ValueError, FloatingPointError)) as info:
        fn(*args, **kwargs)
    return type(info.value), str(info.value)


def test_fast_and_reference_refuse_the_same_calls_with_the_same_errors():
    k, y = _issue_problem()
    v = np.resize([1.0, -1.0], 20)
    calls = [
        ((k, y, [0.0, 500.0]), dict(method="rk4", dt=100.0)),
        ((k, y, [1.0, 1000.0]), dict(rtol=10, atol=10)),
        ((k, y, [1.0, 1000.0]), dict(atol=10.0)),
        ((np.outer(v, v), y[:20], [0.0, 500.0]), dict(method="rk4", dt=50.0)),
        ((-k, y, [0.0, 100.0]), dict(loss=lambda f, t: (mse_value(f, t), f - t))),
    ]
    for args, kw in calls:
        assert _message(ntkfast.kernel_gd, *args, **kw) == _message(reference.kernel_gd, *args, **kw)


@pytest.mark.parametrize("fn", GD)
def test_rk4_step_beyond_stability_is_refused_for_mse(fn):
    # returned a loss of 8e36 (true 0.2) without an error
    k, y = _issue_problem()
    msg = raises_naming("dt", fn, k, y, [0.0, 500.0], method="rk4", dt=100.0)
    assert "stability limit" in msg and "dt=100" in msg
    limit = 2.785293563405282 * 40 / max(k.diagonal().max(), k.sum() / 40)  # the message's bound
    assert f"{limit:.4g}" in msg
    # the same dt where requested times are closer than it takes stable steps: accepted
    near = fn(k, y, [0.0, 1.0, 2.0], method="rk4", dt=100.0)
    np.testing.assert_allclose(near.f_train, ntkfast.kernel_gd_mse(k, y, [0.0, 1.0, 2.0]).f_train,
                               rtol=1e-4, atol=1e-5)  # RK4 at h = 1: local error ~(hλ/N)⁵/120
    # a stable explicit dt is accepted and right
    ok = fn(k, y, [0.0, 500.0], method="rk4", dt=0.9 * 2.785 * 40 / np.linalg.eigvalsh(k)[-1])
    np.testing.assert_allclose(ok.loss, ntkfast.kernel_gd_mse(k, y, [0.0, 500.0]).loss, rtol=1e-4)


@pytest.mark.parametrize("fn", GD)
def test_rk4_step_beyond_the_cross_entropy_bound_warns(fn):
    k, _ = _issue_problem()
    y = np.eye(2)[np.arange(40) % 2]
    with pytest.warns(RuntimeWarning, match=r"stability limit for cross-entropy") as record:
        fn(k, y, [0.0, 1000.0], loss="ce", method="rk4", dt=200.0)
    assert record[0].filename == __file__  # points at the caller's line
    fn(k, y, [0.0, 1000.0], loss="ce", method="rk4", dt=20.0)  # within 2·2.785·N/λ_max: silent
    # a callable's curvature is unknown: no judgement beforehand
    fn(k, y, [0.0, 10.0], loss=lambda f, t: (mse_value(f, t), f - t), method="rk4", dt=100.0)


@pytest.mark.parametrize("fn", GD)
@pytest.mark.parametrize("kw", [{"rtol": 10, "atol": 10}, {"rtol": 1.0}, {"rtol": 1.5, "atol": 1e-12}],
                         ids=["issue", "rtol-1", "rtol-1.5"])
def test_relative_tolerance_of_one_or_more_is_refused(fn, kw):
    # rtol=10, atol=10 returned a loss of 1.7e102 (true 0.107)
    k, y = _issue_problem()
    msg = raises_naming("rtol", fn, k, y, [1.0, 1000.0], **kw)
    assert "below 1" in msg


@pytest.mark.parametrize("fn", GD)
def test_absolute_tolerance_as_large_as_the_outputs_is_refused(fn):
    k, y = _issue_problem()
    scale = np.abs(y).max()
    msg = raises_naming("atol", fn, k, y, [1.0, 1000.0], atol=10.0)
    assert f"{scale:.3g}" in msg
    raises_naming("atol", fn, k, y, [1.0], atol=scale)
    raises_naming("atol", fn, k, 1e-3 * y, [1.0], atol=1e-2)  # it is relative to the outputs' size
    raises_naming("atol", fn, k, np.eye(2)[np.arange(40) % 2], [1.0], loss="ce", atol=1.0)
    fn(k, 1e6 * y, [1.0], atol=10.0)  # large outputs: atol=10 is small
    fn(k, y, [1.0], atol=0.1 * scale)
    fn(k, np.zeros(40), [1.0], atol=1.0)  # nothing to compare with (the solution is 0)
    fn(k, y, [1.0], loss=lambda f, t: (mse_value(f, t), f - t), atol=10.0)  # a callable: any size


@pytest.mark.parametrize("fn", GD)
def test_diverged_solution_is_refused_with_trains_rule(fn):
    # K = v vᵀ (λ_max = 20, but the cheap bound only knows λ_max >= 1): dt = 50 grows the top
    # mode by ~2.6e5 per step; 10 steps gave a loss of 4.5e106, returned without an error.
    _, y = _issue_problem()
    v = np.resize([1.0, -1.0], 20)
    with pytest.raises(FloatingPointError, match=r"diverged.*at t=500.*1e\+06.*rk4 with dt=50"):
        fn(np.outer(v, v), y[:20], [0.0, 500.0], method="rk4", dt=50.0)
    # an indefinite kernel at the default tolerances: the flow itself grows (finite, 7e16)
    k, _ = _issue_problem()
    with pytest.raises(FloatingPointError, match=r"diverged.*flow itself grows.*negative eigenvalues"):
        fn(-k, y, [1.0, 100.0], loss=lambda f, t: (mse_value(f, t), f - t))
    # the rule is train's: a loss up to 1e6·(|C0| + 1) is not divergence
    from ntkfast._losses import DIVERGENCE_FACTOR
    from ntkfast._training_records import DIVERGENCE_FACTOR as TRAIN_FACTOR
    assert DIVERGENCE_FACTOR == TRAIN_FACTOR == 1e6
    r = fn(-0.01 * k, y, [0.0, 100.0], loss=lambda f, t: (mse_value(f, t), f - t))
    assert 1 < r.loss[1] / r.loss[0] < 1e6
