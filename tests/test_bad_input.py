"""Bad input: every case raises ValueError or TypeError *naming the offending argument*, before
any work is done, from the compiled API and the numpy reference alike (they share validation).
"""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

import ntkfast
from conftest import raises_naming
from ntkfast import activations, reference

GOOD = np.arange(6.0).reshape(3, 2) / 6

PAIR_FUNCTIONS = [
    pytest.param(ntkfast.kernels, id="kernels"),
    pytest.param(ntkfast.nngp, id="nngp"),
    pytest.param(ntkfast.ntk, id="ntk"),
    pytest.param(reference.kernels, id="reference.kernels"),
    pytest.param(reference.ntk, id="reference.ntk"),
]
DIAG_FUNCTIONS = [pytest.param(ntkfast.nngp_diag, id="nngp_diag"),
                  pytest.param(ntkfast.ntk_diag, id="ntk_diag")]


def _with(x, index, value):
    x = x.copy()
    x[index] = value
    return x


# (argument named in the message, x1, x2): bad points.
BAD_POINTS = [
    pytest.param("x1", np.ones(3), None, id="x1-1d"),
    pytest.param("x1", np.ones((2, 2, 2)), None, id="x1-3d"),
    pytest.param("x2", GOOD, np.ones(2), id="x2-1d"),
    pytest.param("x2", GOOD, np.ones((3, 3)), id="features-mismatch"),
    pytest.param("x1", _with(GOOD, (1, 0), np.nan), None, id="x1-nan"),
    pytest.param("x1", _with(GOOD, (2, 1), np.inf), None, id="x1-inf"),
    pytest.param("x1", _with(GOOD, (0, 1), -np.inf), GOOD, id="x1-neg-inf-with-x2"),
    pytest.param("x2", GOOD, _with(GOOD, (1, 1), np.nan), id="x2-nan"),
    pytest.param("x2", GOOD, _with(GOOD, (0, 0), np.inf), id="x2-inf"),
    pytest.param("x1", np.ones((0, 2)), None, id="x1-no-rows"),
    pytest.param("x1", np.ones((2, 0)), None, id="x1-no-columns"),
    pytest.param("x2", GOOD, np.ones((0, 2)), id="x2-no-rows"),
    pytest.param("x1", GOOD + 1j, None, id="x1-complex"),
    pytest.param("x2", GOOD, GOOD.astype(complex), id="x2-complex"),
    pytest.param("x1", np.array([[1.0, None]], dtype=object), None, id="x1-object"),
    pytest.param("x1", np.array([["a", "b"]]), None, id="x1-strings"),
]


@pytest.mark.parametrize("fn", PAIR_FUNCTIONS)
@pytest.mark.parametrize("arg, x1, x2", BAD_POINTS)
def test_bad_points(fn, arg, x1, x2):
    raises_naming(arg, fn, x1, x2, depth=2)


def test_ragged_list():
    """A ragged nested list cannot become a 2-D array; the error should still say which argument."""
    raises_naming("x1", ntkfast.ntk, [[1.0, 2.0], [3.0]], depth=2)


@pytest.mark.parametrize("fn", DIAG_FUNCTIONS)
@pytest.mark.parametrize("x", [np.ones(3), np.ones((2, 2, 2)), _with(GOOD, (1, 0), np.nan),
                               np.ones((0, 2)), np.ones((2, 0)), GOOD + 1j, np.array([["a"]])],
                         ids=["1d", "3d", "nan", "no-rows", "no-columns", "complex", "strings"])
def test_bad_points_diag(fn, x):
    raises_naming("x", fn, x, depth=2)


# (argument, keyword overrides)
BAD_SETTINGS = [
    pytest.param("depth", dict(depth=0), id="depth-0"),
    pytest.param("depth", dict(depth=-1), id="depth-negative"),
    pytest.param("depth", dict(depth=2.5), id="depth-float"),
    pytest.param("depth", dict(depth=True), id="depth-bool"),
    pytest.param("depth", dict(depth="3"), id="depth-str"),
    pytest.param("weight_std", dict(weight_std=-1.0), id="weight-negative"),
    pytest.param("weight_std", dict(weight_std=math.nan), id="weight-nan"),
    pytest.param("weight_std", dict(weight_std=math.inf), id="weight-inf"),
    pytest.param("bias_std", dict(bias_std=-0.1), id="bias-negative"),
    pytest.param("bias_std", dict(bias_std=np.nan), id="bias-nan"),
    pytest.param("bias_std", dict(bias_std="0.1"), id="bias-str"),
    pytest.param("activation", dict(activation="relux"), id="activation-unknown"),
    pytest.param("activation", dict(activation=3), id="activation-int"),
    pytest.param("dtype", dict(dtype=np.int32), id="dtype-int32"),
    pytest.param("dtype", dict(dtype="float16"), id="dtype-float16"),
    pytest.param("dtype", dict(dtype=np.complex128), id="dtype-complex"),
    pytest.param("dtype", dict(dtype="not a dtype"), id="dtype-garbage"),
]


@pytest.mark.parametrize("fn", PAIR_FUNCTIONS + DIAG_FUNCTIONS)
@pytest.mark.parametrize("arg, overrides", BAD_SETTINGS)
def test_bad_settings(fn, arg, overrides):
    kw = dict(depth=2)
    kw.update(overrides)
    raises_naming(arg, fn, GOOD, **kw)


def test_unknown_activation_lists_valid_names():
    msg = raises_naming("activation", ntkfast.ntk, GOOD, depth=2, activation="swish2")
    assert all(name in msg for name in activations.NAMES), msg


# n_threads: validated by the compiled API (the reference documents that it ignores it).
@pytest.mark.parametrize("fn", PAIR_FUNCTIONS[:3])
@pytest.mark.parametrize("value", [0, "2", 2.0, 1.5])
def test_bad_n_threads(fn, value):
    raises_naming("n_threads", fn, GOOD, depth=2, n_threads=value)


@pytest.mark.parametrize("value", [0, "2", 2.0])
def test_bad_set_num_threads(value):
    raises_naming("n_threads", ntkfast.set_num_threads, value)


@pytest.mark.parametrize("fn", PAIR_FUNCTIONS)
@pytest.mark.parametrize("with_x2", [False, True])
def test_output_too_large_fails_fast(fn, with_x2):
    """A (3e6 x 3e6) kernel needs 72 TB: refuse before allocating, say how much, and be a
    MemoryError for callers who catch that and a ValueError for those who validate."""
    x = np.zeros((3_000_000, 1))
    start = time.perf_counter()
    with pytest.raises(ntkfast.OutputTooLargeError) as info:
        fn(x, x if with_x2 else None, depth=3)
    assert time.perf_counter() - start < 5.0
    assert isinstance(info.value, ValueError) and isinstance(info.value, MemoryError)
    assert "GB" in str(info.value)


@pytest.mark.parametrize("fn", PAIR_FUNCTIONS + DIAG_FUNCTIONS)
@pytest.mark.parametrize("bad_fn", [lambda z: z * np.nan, lambda z: np.where(np.abs(z) > 2, np.inf, z)],
                         ids=["nan", "inf-in-tails"])
def test_activation_returning_nan(fn, bad_fn):
    raises_naming("activation", fn, GOOD, depth=2, activation=bad_fn)


def test_activation_factories_reject_non_finite_parameters():
    for factory, arg in ((activations.leaky_relu, "negative_slope"), (activations.elu, "alpha")):
        raises_naming(arg, factory, math.nan)
    raises_naming("activation", activations.custom, "not callable")


# ---- found in review: overflow, erf at large variance, thread and depth limits ---------------

OVERFLOWING = [  # settings whose kernel values cannot be represented
    pytest.param(np.full((2, 3), 1e200), dict(depth=3), id="huge-inputs"),
    pytest.param(np.ones((2, 3)), dict(depth=2000, weight_std=2.0), id="deep-growing"),
    pytest.param(np.ones((2, 3)), dict(depth=3, bias_std=1e308), id="huge-bias"),
    pytest.param(np.full((2, 3), 1e20), dict(depth=3, dtype=np.float32), id="float32-range"),
    pytest.param(np.ones((2, 3)), dict(depth=2, activation=activations.leaky_relu(1e200)),
                 id="huge-slope"),
]


@pytest.mark.parametrize("fn", PAIR_FUNCTIONS + DIAG_FUNCTIONS)
@pytest.mark.parametrize("x, kw", OVERFLOWING)
def test_overflowing_kernel_raises_instead_of_returning_inf_or_nan(fn, x, kw):
    with pytest.raises(FloatingPointError, match="overflows"):
        fn(x, **kw)


@pytest.mark.parametrize("fn", [ntkfast.ntk, reference.ntk], ids=["fast", "reference"])
def test_erf_duplicate_points_at_large_variance_stay_finite(fn):
    # 1 + 2k11 + 2k22 + 4(k11 k22 - k12²) instead of p1 p2 - 4k12²: the latter cancelled to 0
    # (an infinite Σ̇) for duplicated rows at Σ(x, x) ~ 1e16
    x = np.random.default_rng(1).normal(size=(3, 5)) * 1e8
    with pytest.warns(RuntimeWarning, match="ill-conditioned"):
        k = fn(np.vstack([x, x]), x, depth=3, activation="erf")
    assert np.isfinite(k).all()
    assert (k[:3].diagonal() > 0).all() and (k[3:].diagonal() > 0).all()  # the duplicated pairs
    # at Σ(x, x) ~ 1e8 the duplicates agree with the exact diagonal to the warned accuracy
    x = np.random.default_rng(1).normal(size=(3, 5)) * 1e4
    with pytest.warns(RuntimeWarning, match="good to about"):
        k = fn(np.vstack([x, x]), depth=3, activation="erf")
    np.testing.assert_allclose(k[:3, 3:].diagonal(), k.diagonal()[:3], rtol=1e-6)


@pytest.mark.parametrize("activation", ["erf", "sin"])
def test_no_conditioning_warning_at_ordinary_scales(activation):
    x = np.random.default_rng(2).normal(size=(4, 3))
    ntkfast.ntk(np.vstack([x, x]), depth=3, activation=activation)  # warnings are errors here
    ntkfast.ntk(x, depth=3, activation=activation, dtype=np.float32)


@pytest.mark.parametrize("fn", PAIR_FUNCTIONS + DIAG_FUNCTIONS)
@pytest.mark.parametrize("value", [True, np.bool_(True), 2**40, -(2**40)])
def test_n_threads_bools_and_impossible_counts(fn, value):
    # bool is not a count; 2**40 threads failed later as a raw pybind11 argument error
    raises_naming("n_threads", fn, GOOD, depth=2, n_threads=value)


@pytest.mark.parametrize("value", [True, 2**31])
def test_set_num_threads_refuses_bools_and_impossible_counts(value):
    raises_naming("n_threads", ntkfast.set_num_threads, value)


@pytest.mark.parametrize("fn", PAIR_FUNCTIONS + DIAG_FUNCTIONS)
def test_depth_beyond_a_million_layers_is_refused(fn):
    raises_naming("depth", fn, GOOD, depth=2**31)


@pytest.mark.parametrize("fn", PAIR_FUNCTIONS)
def test_inputs_beyond_the_float32_range_are_named_as_such(fn):
    msg = raises_naming("x1", fn, np.full((2, 3), 1e39), depth=2, dtype=np.float32)
    assert "does not fit in float32" in msg, msg


@pytest.mark.parametrize("factory, arg", [(activations.leaky_relu, "negative_slope"),
                                          (activations.elu, "alpha")])
@pytest.mark.parametrize("value", ["0.1", True, None])
def test_activation_parameters_must_be_numbers(factory, arg, value):
    raises_naming(arg, factory, value)


NNGP_ONLY = [pytest.param(ntkfast.nngp, id="nngp"), pytest.param(reference.nngp, id="reference.nngp"),
             pytest.param(ntkfast.nngp_diag, id="nngp_diag"),
             pytest.param(reference.nngp_diag, id="reference.nngp_diag")]


@pytest.mark.parametrize("fn", NNGP_ONLY)
@pytest.mark.parametrize("kw", [dict(depth=100, activation="erf", weight_std=2.0, dtype=np.float32),
                                dict(depth=1100, activation="sin", weight_std=2.0),
                                dict(depth=400, activation="erf", weight_std=10.0)],
                         ids=["erf-f32", "sin", "erf-wide"])
def test_nngp_is_not_refused_when_only_the_ntk_would_overflow(fn, kw):
    # bounded activations keep Σ small while Θ grows without bound; the NNGP needs no Θ
    x = np.random.default_rng(0).standard_normal((4, 3))
    k = fn(x, **kw)
    assert np.isfinite(k).all()
    np.testing.assert_allclose(np.diagonal(k) if k.ndim == 2 else k,
                               reference.nngp_diag(x, **kw), rtol=1e-5 if kw.get("dtype") else 1e-12)


@pytest.mark.parametrize("fn", [ntkfast.ntk, reference.ntk], ids=["fast", "reference"])
def test_large_but_representable_relu_kernels_are_computed(fn):
    # only erf's pair formula needs its variances below sqrt(max); relu's 7e18 in float32 is fine
    x = np.random.default_rng(0).standard_normal((4, 3)) * 3e9
    k = fn(x, depth=3, dtype=np.float32)
    assert np.isfinite(k).all() and k.max() > 1e18


@pytest.mark.parametrize("call", [
    pytest.param(lambda x: ntkfast.ntk_diag(x, depth=3, activation="erf"), id="ntk_diag"),
    pytest.param(lambda x: ntkfast.nngp_diag(x, depth=3, activation="erf"), id="nngp_diag"),
    pytest.param(lambda x: ntkfast.nngp(x, depth=3, activation="erf"), id="erf-nngp"),
    pytest.param(lambda x: reference.nngp(x, depth=3, activation="erf"), id="reference.erf-nngp"),
])
def test_no_conditioning_warning_where_nothing_is_ill_conditioned(call):
    # the diagonal uses angle 0 exactly, and erf's Σ (unlike its Σ̇) is well conditioned
    x = np.random.default_rng(1).normal(size=(3, 5)) * 1e4
    call(np.vstack([x, x]))  # warnings are errors here


@pytest.mark.parametrize("fn", [ntkfast.ntk, reference.ntk], ids=["fast", "reference"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conditioning_warning_points_at_the_callers_line(fn, dtype):
    x = np.random.default_rng(1).normal(size=(3, 5)) * (1e4 if dtype == np.float64 else 1e2)
    with pytest.warns(RuntimeWarning, match="ill-conditioned") as record:
        fn(np.vstack([x, x]), depth=3, activation="erf", dtype=dtype)
    assert record[0].filename == __file__
    assert ("use float64" in str(record[0].message)) == (dtype == np.float32)


# ---- activation callables that write into their argument (issue 11, item 5) -----------------
def _tanh_in_place(z):
    return np.tanh(z, out=z)


@pytest.mark.parametrize("fn", [ntkfast.ntk, reference.ntk], ids=["fast", "reference"])
def test_activation_writing_into_its_argument_does_not_corrupt_the_kernel(fn):
    # The Hermite coefficients evaluate φ(sqrt(k)·x) and φ(−sqrt(k)·x) from one array: a φ with
    # out=z overwrote it and the kernel came out 14% off tanh's, without an error.
    x = np.random.default_rng(5).standard_normal((6, 3))
    in_place = fn(x, depth=2, activation=_tanh_in_place)
    plain = fn(x, depth=2, activation=lambda z: np.tanh(z))
    np.testing.assert_array_equal(in_place, plain)
    np.testing.assert_allclose(in_place, fn(x, depth=2, activation="tanh"), rtol=1e-9, atol=1e-10)


def test_activation_call_leaves_the_callers_array_alone():
    act = activations.custom(_tanh_in_place, lambda z: np.subtract(1.0, np.square(np.tanh(z, out=z), out=z), out=z))
    z = np.linspace(-2.0, 2.0, 9)
    before = z.copy()
    np.testing.assert_array_equal(act(z), np.tanh(before))
    np.testing.assert_array_equal(act.derivative(z), 1.0 - np.tanh(before) ** 2)
    np.testing.assert_array_equal(z, before)


def test_directly_built_activation_gets_copies_too():
    act = activations.Activation("mine", _tanh_in_place, None, "mehler")
    x = np.random.default_rng(5).standard_normal((6, 3))
    np.testing.assert_array_equal(ntkfast.ntk(x, depth=2, activation=act),
                                  ntkfast.ntk(x, depth=2, activation=lambda z: np.tanh(z)))


# ---- overflow hints that are true for the dtype (issue 11, item 10) -------------------------

def test_input_beyond_float64_does_not_suggest_float64():
    x = np.ones((2, 2), dtype=np.longdouble)
    x[0, 0] = np.longdouble(10) ** 400
    if not np.isfinite(x[0, 0]):
        pytest.skip("longdouble is float64 on this platform")
    msg = raises_naming("x1", ntkfast.ntk, x, depth=2)
    assert "use float64" not in msg
    assert "use float64" in raises_naming("x1", ntkfast.ntk, np.full((2, 2), 1e300), depth=2,
                                          dtype=np.float32)


# ---- 0-d arrays wherever a real scalar is accepted (issue 11, item 10) -------------------------
def _scalar_table():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 2))
    y = rng.standard_normal((5, 2))
    k = ntkfast.ntk(x, depth=2)
    w = [rng.standard_normal((3, 2)), rng.standard_normal((2, 3))]
    b = [rng.standard_normal(3), rng.standard_normal(2)]
    net = ntkfast.init_mlp([2, 4, 2], seed=0)
    ens = ntkfast.infinite_ensemble(x, y, x[:2], [1.0], depth=2)
    rows = [  # (parameter named in errors, f(value) -> array, a valid value)
        ("depth", lambda v: ntkfast.ntk(x, depth=v), 3),
        ("depth", lambda v: reference.ntk(x, depth=v), 3),
        ("depth", lambda v: ntkfast.ntk_diag(x, depth=v), 3),
        ("weight_std", lambda v: ntkfast.ntk(x, depth=2, weight_std=v), 1.5),
        ("bias_std", lambda v: ntkfast.nngp(x, depth=2, bias_std=v), 0.2),
        ("negative_slope", lambda v: ntkfast.ntk(x, depth=2, activation=activations.leaky_relu(v)), 0.2),
        ("alpha", lambda v: ntkfast.ntk(x, depth=2, activation=activations.elu(alpha=v)), 0.5),
        ("weight_std", lambda v: ntkfast.init_mlp([2, 4, 1], seed=0, weight_std=v)(x), 1.5),
        ("bias_std", lambda v: ntkfast.init_mlp([2, 4, 1], seed=0, bias_std=v)(x), 0.3),
        ("widths", lambda v: ntkfast.init_mlp([2, v, 1], seed=0)(x), 4),
        ("weight_std", lambda v: ntkfast.MLP(w, b, weight_std=v)(x), 1.5),
        ("bias_std", lambda v: ntkfast.MLP(w, b, bias_std=v)(x), 0.3),
        ("memory_budget", lambda v: ntkfast.empirical_ntk(net, x, memory_budget=v), 10**6),
        ("memory_budget", lambda v: reference.empirical_ntk(net, x, memory_budget=v), 10**6),
        ("n_threads", lambda v: ntkfast.empirical_ntk(net, x, n_threads=v), 1),
        ("ridge", lambda v: ntkfast.kernel_gd_mse(k, y, 1.0, ridge=v).f_train, 0.1),
        ("rtol", lambda v: ntkfast.kernel_gd(k, y, 1.0, rtol=v).f_train, 1e-6),
        ("atol", lambda v: reference.kernel_gd(k, y, 1.0, atol=v).f_train, 1e-8),
        ("dt", lambda v: ntkfast.kernel_gd(k, y, 1.0, method="rk4", dt=v).f_train, 0.25),
        ("max_steps", lambda v: ntkfast.kernel_gd(k, y, 1.0, max_steps=v).f_train, 10**5),
        ("depth", lambda v: ntkfast.infinite_ensemble(x, y, x[:2], 1.0, depth=v).mean, 3),
        ("ridge", lambda v: ntkfast.infinite_ensemble(x, y, x[:2], 1.0, depth=2, ridge=v).mean, 0.1),
        ("q", lambda v: ens.quantile(v), 0.9),
        ("lr", lambda v: ntkfast.train(net, x, y, lr=v, steps=2, progress=False).f_train, 0.1),
        ("lr", lambda v: reference.train(net, x, y, lr=v, steps=2, progress=False).f_train, 0.1),
        ("steps", lambda v: ntkfast.train(net, x, y, lr=0.1, steps=v, progress=False).f_train, 3),
        ("record_every", lambda v: ntkfast.train(net, x, y, lr=0.1, steps=4, record_every=v,
                                                 progress=False).f_train, 2),
        ("seed", lambda v: ntkfast.init_mlp([2, 4, 1], seed=v).weights[0], 7),
    ]
    return [pytest.param(*row, id=f"{i}-{row[0]}") for i, row in enumerate(rows)]


@pytest.mark.parametrize("name, call, value", _scalar_table())
def test_0d_arrays_are_accepted_wherever_scalars_are(name, call, value):
    # weight_std=np.array(1.5) was refused while np.float64(1.5) was accepted
    expected = call(value)
    np.testing.assert_array_equal(call(np.array(value)), expected)
    np.testing.assert_array_equal(call(np.asarray(value).dtype.type(value)), expected)  # numpy scalar
    for flag in (True, np.True_, np.array(True)):  # bools stay refused
        raises_naming(name, call, flag)
    if name != "seed":  # (a seed may be a sequence)
        raises_naming(name, call, np.array([value]))  # a 1-element 1-d array is not a scalar
