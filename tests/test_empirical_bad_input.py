"""Bad input to the finite-network API (MLP, init_mlp, apply, empirical_ntk, empirical_nngp):
every case raises ValueError or TypeError *naming the offending argument*, before any real work,
from the compiled API and the numpy reference alike (they share validation); outputs that cannot
fit raise ntkfast.OutputTooLargeError without allocating them.
"""
from __future__ import annotations

import math
import time

import ntkfast
from conftest import raises_naming
import ntkfast._validation as validation
import numpy as np
import pytest
from ntkfast import activations, reference

X = np.arange(6.0).reshape(3, 2) / 6 - 0.4  # 3 points, n_0 = 2


def net_of(widths=(2, 3, 4), dtype=np.float64, **kw):
    return ntkfast.init_mlp(list(widths), seed=0, dtype=dtype, **kw)


def _with(x, index, value):
    x = np.array(x, dtype=np.result_type(x, type(value)))
    x[index] = value
    return x


# The pair functions as f(net, x1, x2): fast and reference, NTK in each output mode, and NNGP.
PAIR = [
    pytest.param(lambda n, a, b: ntkfast.empirical_ntk(n, a, b), id="ntk"),
    pytest.param(lambda n, a, b: ntkfast.empirical_ntk(n, a, b, output="full", per_layer=True),
                 id="ntk-full-layers"),
    pytest.param(lambda n, a, b: ntkfast.empirical_ntk(n, a, b, output="diagonal"), id="ntk-diagonal"),
    pytest.param(lambda n, a, b: ntkfast.empirical_nngp(n, a, b), id="nngp"),
    pytest.param(lambda n, a, b: reference.empirical_ntk(n, a, b), id="reference.ntk"),
    pytest.param(lambda n, a, b: reference.empirical_ntk(n, a, b, output="full", per_layer=True),
                 id="reference.ntk-full-layers"),
    pytest.param(lambda n, a, b: reference.empirical_nngp(n, a, b), id="reference.nngp"),
]
# Everything that takes a network, as f(net): the pair functions at (X, X) and apply.
ANY = PAIR + [
    pytest.param(lambda n, a, b: ntkfast.apply(n, a), id="apply"),
    pytest.param(lambda n, a, b: n(a), id="net(x)"),
    pytest.param(lambda n, a, b: reference.apply(n, a), id="reference.apply"),
]
APPLY = [pytest.param(ntkfast.apply, id="apply"), pytest.param(reference.apply, id="reference.apply"),
         pytest.param(lambda n, x: n(x), id="net(x)")]


# ---------------------------------------------------------------------------------------------
# Points
# ---------------------------------------------------------------------------------------------
BAD_POINTS = [  # (argument named, x1, x2)
    pytest.param("x1", np.ones((3, 3)), None, id="x1-width"),
    pytest.param("x1", np.ones((3, 1)), X, id="x1-width-with-x2"),
    pytest.param("x2", X, np.ones((2, 3)), id="x2-width"),
    pytest.param("x1", np.ones(2), None, id="x1-1d"),
    pytest.param("x1", np.ones((2, 2, 2)), None, id="x1-3d"),
    pytest.param("x2", X, np.ones(2), id="x2-1d"),
    pytest.param("x1", _with(X, (1, 0), np.nan), None, id="x1-nan"),
    pytest.param("x1", _with(X, (2, 1), np.inf), X, id="x1-inf"),
    pytest.param("x2", X, _with(X, (0, 1), -np.inf), id="x2-neg-inf"),
    pytest.param("x2", X, _with(X, (2, 0), np.nan), id="x2-nan"),
    pytest.param("x1", np.ones((0, 2)), None, id="x1-empty"),
    pytest.param("x1", np.ones((3, 0)), None, id="x1-no-features"),
    pytest.param("x2", X, np.ones((0, 2)), id="x2-empty"),
    pytest.param("x1", X + 1j, None, id="x1-complex"),
    pytest.param("x2", X, X.astype(np.complex64), id="x2-complex"),
    pytest.param("x1", np.array([[1.0, None]], dtype=object), None, id="x1-object"),
    pytest.param("x1", np.array([["a", "b"]]), None, id="x1-strings"),
    pytest.param("x1", [[1.0, 2.0], [3.0]], None, id="x1-ragged"),
]


@pytest.mark.parametrize("fn", PAIR)
@pytest.mark.parametrize("arg, x1, x2", BAD_POINTS)
def test_bad_points(fn, arg, x1, x2):
    raises_naming(arg, fn, net_of(), x1, x2)


@pytest.mark.parametrize("fn", APPLY)
@pytest.mark.parametrize("x", [np.ones((3, 3)), np.ones((3, 1)), np.ones(2), np.ones((0, 2)),
                               _with(X, (0, 0), np.nan), _with(X, (1, 1), np.inf), X + 1j,
                               np.array([["a", "b"]])],
                         ids=["width-3", "width-1", "1d", "empty", "nan", "inf", "complex", "strings"])
def test_bad_points_apply(fn, x):
    raises_naming("x", fn, net_of(), x)


def test_float32_network_rejects_inputs_that_overflow_float32():
    """Finite float64 inputs beyond float32's range become inf when cast: refused, naming x1."""
    net = net_of(dtype=np.float32)
    raises_naming("x1", ntkfast.empirical_ntk, net, _with(X, (0, 0), 1e300))
    raises_naming("x2", ntkfast.empirical_ntk, net, X, _with(X, (0, 0), -1e300))
    raises_naming("x", ntkfast.apply, net, _with(X, (0, 0), 1e300))


# ---------------------------------------------------------------------------------------------
# Parameters: at construction and, after the user replaced them, at every call
# ---------------------------------------------------------------------------------------------
W0, W1 = np.ones((3, 2)), np.ones((4, 3))
B0, B1 = np.zeros(3), np.zeros(4)
BAD_PARAMS = [  # (argument named, weights, biases)
    pytest.param("weights[1]", [W0, np.ones((4, 2))], [B0, B1], id="chain-mismatch"),
    pytest.param("weights[2]", [W0, W1, np.ones((1, 3))], [B0, B1, np.zeros(1)], id="chain-mismatch-late"),
    pytest.param("biases[0]", [W0, W1], [np.zeros(4), B1], id="bias-length"),
    pytest.param("biases[1]", [W0, W1], [B0, np.zeros((4, 1))], id="bias-2d"),
    pytest.param("biases", [W0, W1], [B0], id="too-few-biases"),
    pytest.param("biases", [W0, W1], [B0, B1, B1], id="too-many-biases"),
    pytest.param("weights", [], [], id="no-layers"),
    pytest.param("weights[0]", [np.ones(3), W1], [B0, B1], id="weight-1d"),
    pytest.param("weights[0]", [np.ones((3, 2, 1)), W1], [B0, B1], id="weight-3d"),
    pytest.param("weights[0]", [np.ones((0, 2)), W1], [B0, B1], id="weight-empty"),
    pytest.param("weights[0]", [np.ones((3, 2), dtype=int), W1], [B0, B1], id="weight-int"),
    pytest.param("weights[1]", [W0, np.ones((4, 3), dtype=np.float16)], [B0, B1], id="weight-float16"),
    pytest.param("weights[0]", [W0 + 0j, W1], [B0, B1], id="weight-complex"),
    pytest.param("weights[0]", [W0.tolist(), W1], [B0, B1], id="weight-list"),
    pytest.param("biases[1]", [W0, W1], [B0, np.zeros(4, dtype=np.int64)], id="bias-int"),
    pytest.param("weights[1]", [W0, W1.astype(np.float32)], [B0, B1], id="mixed-weights"),
    pytest.param("biases[0]", [W0.astype(np.float32), W1.astype(np.float32)], [B0, B1.astype(np.float32)],
                 id="mixed-bias"),
    pytest.param("weights[0]", [_with(W0, (1, 1), np.nan), W1], [B0, B1], id="weight-nan"),
    pytest.param("weights[1]", [W0, _with(W1, (3, 2), -np.inf)], [B0, B1], id="weight-inf"),
    pytest.param("biases[0]", [W0, W1], [_with(B0, 2, np.inf), B1], id="bias-inf"),
    pytest.param("biases[1]", [W0, W1], [B0, _with(B1, 0, np.nan)], id="bias-nan"),
]


@pytest.mark.parametrize("arg, weights, biases", BAD_PARAMS)
def test_bad_parameters_at_construction(arg, weights, biases):
    raises_naming(arg, ntkfast.MLP, weights, biases)


@pytest.mark.parametrize("fn", ANY)
@pytest.mark.parametrize("arg, weights, biases", BAD_PARAMS)
def test_bad_parameters_set_after_construction(fn, arg, weights, biases):
    """MLP.weights / biases are plain lists the user may change: every call re-checks them."""
    net = ntkfast.MLP([W0, W1], [B0, B1])
    net.weights, net.biases = list(weights), list(biases)
    raises_naming(arg, fn, net, X, X)


@pytest.mark.parametrize("fn", ANY)
def test_parameter_corrupted_in_place(fn):
    net = net_of((2, 3, 4, 2))
    net.weights[1][0, 0] = np.nan
    raises_naming("weights[1]", fn, net, X, None)
    net = net_of((2, 3, 4, 2))
    net.biases[2][1] = np.inf
    raises_naming("biases[2]", fn, net, X, None)
    net = net_of((2, 3, 4, 2))
    net.weights[1] = net.weights[1][:, :2]  # 2 input columns after a layer of 3
    raises_naming("weights[1]", fn, net, X, None)


@pytest.mark.parametrize("fn", [p for p in ANY if p.id in ("ntk", "ntk-diagonal", "nngp", "apply",
                                                             "reference.ntk", "reference.nngp",
                                                             "reference.apply")])
@pytest.mark.parametrize("bad", [None, "mlp", {"weights": [W0], "biases": [B0]}, (W0, B0)],
                         ids=["None", "str", "dict", "tuple"])
def test_not_an_mlp(fn, bad):
    raises_naming("net", fn, bad, X, X)


@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
def test_not_an_mlp_with_per_layer(impl):
    raises_naming("net", impl.empirical_ntk, "mlp", X, per_layer=True)


# ---------------------------------------------------------------------------------------------
# Activations, parameterization, init_mlp
# ---------------------------------------------------------------------------------------------
def test_activation_without_derivative_fails_at_construction():
    for act in (activations.custom(np.tanh), np.tanh, lambda z: z * 0.5):
        raises_naming("activation", ntkfast.MLP, [W0, W1], [B0, B1], activation=act)
        raises_naming("activation", ntkfast.init_mlp, [2, 3, 1], activation=act)
    net = ntkfast.MLP([W0, W1], [B0, B1])  # and swapped in afterwards: refused at the call
    net.activation = activations.custom(np.sin)
    for fn in (ntkfast.empirical_ntk, reference.empirical_ntk, ntkfast.empirical_nngp, ntkfast.apply):
        raises_naming("activation", fn, net, X)


@pytest.mark.parametrize("make", [
    pytest.param(lambda **kw: ntkfast.MLP([W0, W1], [B0, B1], **kw), id="MLP"),
    pytest.param(lambda **kw: ntkfast.init_mlp([2, 3, 1], **kw), id="init_mlp"),
])
@pytest.mark.parametrize("arg, kw", [
    ("activation", {"activation": "relux"}),
    ("activation", {"activation": 3}),
    ("weight_std", {"weight_std": -1.0}),
    ("weight_std", {"weight_std": math.nan}),
    ("weight_std", {"weight_std": "1"}),
    ("bias_std", {"bias_std": -0.5}),
    ("bias_std", {"bias_std": math.inf}),
    ("parameterization", {"parameterization": "NTK-ish"}),
    ("parameterization", {"parameterization": None}),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_network_settings(make, arg, kw):
    raises_naming(arg, make, **kw)


@pytest.mark.parametrize("widths", [[], [3], [3, 0, 1], [3, -2], [3, 2.5], [True, 2], [3, "2"],
                                    "32", None, 5, [3, None]],
                         ids=["empty", "one", "zero", "negative", "float", "bool", "str-entry",
                              "str", "None", "int", "None-entry"])
def test_init_mlp_bad_widths(widths):
    raises_naming("widths", ntkfast.init_mlp, widths)


@pytest.mark.parametrize("dtype", [np.int32, "float16", np.complex128, "nonsense"])
def test_init_mlp_bad_dtype(dtype):
    raises_naming("dtype", ntkfast.init_mlp, [2, 3, 1], dtype=dtype)
    raises_naming("dtype", net_of().astype, dtype)


def test_init_mlp_too_many_parameters_fails_fast():
    start = time.perf_counter()
    with pytest.raises(ntkfast.OutputTooLargeError):
        ntkfast.init_mlp([10, 10**7, 10**7, 1])
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
def test_activation_producing_nan_is_not_returned(impl):
    """φ or φ' returning NaN must not come back as a kernel (the error may name activation or
    say the result is not finite)."""
    nan_fn = activations.custom(lambda z: np.where(z > 0, np.nan, z), lambda z: np.ones_like(z),
                                name="nan_fn")
    nan_prime = activations.custom(lambda z: np.tanh(z), lambda z: np.where(z > 0, np.nan, 1.0),
                                   name="nan_prime")
    x = np.random.default_rng(0).standard_normal((5, 2))
    for act in (nan_fn, nan_prime):
        net = ntkfast.init_mlp([2, 6, 3], activation=act, seed=1)
        with pytest.raises((FloatingPointError, ValueError)):
            impl.empirical_ntk(net, x, output="full")
    net = ntkfast.init_mlp([2, 6, 3], activation=nan_fn, seed=1)
    for fn in (impl.apply, impl.empirical_nngp):
        with pytest.raises((FloatingPointError, ValueError)):
            fn(net, x)


@pytest.mark.parametrize("impl", [
    pytest.param(ntkfast, id="fast"),
    pytest.param(reference, id="reference"),
])
def test_overflow_raises_floating_point_error(impl):
    net = ntkfast.MLP([np.full((3, 2), 1e200), np.full((1, 3), 1e200)], [np.zeros(3), np.zeros(1)],
                      activation="identity")
    for fn in (impl.apply, impl.empirical_ntk, impl.empirical_nngp):
        with pytest.raises(FloatingPointError, match="overflow"):
            fn(net, X)


# ---------------------------------------------------------------------------------------------
# output, per_layer, n_threads, memory_budget
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
@pytest.mark.parametrize("output", ["Full", "sum", "", None, 3, ("full",)])
def test_unknown_output_mode(impl, output):
    msg = raises_naming("output", impl.empirical_ntk, net_of(), X, output=output)
    assert all(m in msg for m in ("trace", "diagonal", "full")), msg


@pytest.mark.parametrize("impl", [
    pytest.param(ntkfast, id="fast"),
    pytest.param(reference, id="reference"),
])
@pytest.mark.parametrize("per_layer", ["yes", 1, None, [True]])
def test_per_layer_must_be_bool(impl, per_layer):
    raises_naming("per_layer", impl.empirical_ntk, net_of(), X, per_layer=per_layer)


@pytest.mark.parametrize("fn", [
    pytest.param(lambda **kw: ntkfast.empirical_ntk(net_of(), X, **kw), id="ntk"),
    pytest.param(lambda **kw: ntkfast.empirical_ntk(net_of(), X, X, output="full", **kw), id="ntk-full"),
    pytest.param(lambda **kw: ntkfast.empirical_nngp(net_of(), X, **kw), id="nngp"),
    pytest.param(lambda **kw: ntkfast.apply(net_of(), X, **kw), id="apply"),
])
@pytest.mark.parametrize("value", [0, "2", 2.0, 1.5])
def test_bad_n_threads(fn, value):
    raises_naming("n_threads", fn, n_threads=value)


BUDGET_FUNCTIONS = [
    pytest.param(lambda x1, x2, **kw: ntkfast.empirical_ntk(net_of(), x1, x2, **kw), id="ntk"),
    pytest.param(lambda x1, x2, **kw: ntkfast.empirical_ntk(net_of(), x1, x2, output="full",
                                                            per_layer=True, **kw), id="ntk-full-layers"),
    pytest.param(lambda x1, x2, **kw: ntkfast.empirical_nngp(net_of(), x1, x2, **kw), id="nngp"),
]


@pytest.mark.parametrize("fn", BUDGET_FUNCTIONS)
@pytest.mark.parametrize("budget", [0, -1, -1e9, math.nan, math.inf, "1000", True, [10**6], 1j],
                         ids=["0", "-1", "-1e9", "nan", "inf", "str", "bool", "list", "complex"])
@pytest.mark.parametrize("with_x2", [False, True])
def test_invalid_memory_budget(fn, budget, with_x2):
    raises_naming("memory_budget", fn, X, X if with_x2 else None, memory_budget=budget)


@pytest.mark.parametrize("fn", BUDGET_FUNCTIONS)
@pytest.mark.parametrize("budget", [1, 8, 20])
@pytest.mark.parametrize("with_x2", [False, True])
def test_memory_budget_below_one_row(fn, budget, with_x2):
    """The features of one input of the (2, 3, 4) network take 3 (+ 4 x 3) floats; a budget of
    a few bytes cannot hold them and must say so, naming memory_budget."""
    msg = raises_naming("memory_budget", fn, X, X if with_x2 else None, memory_budget=budget)
    assert "raise" in msg or "increase" in msg or "larger" in msg, msg


def test_memory_budget_none_and_large_numbers_accepted():
    base = ntkfast.empirical_ntk(net_of(), X)
    for budget in (None, 10**9, 1e9, np.int64(10**9), np.float32(1e9)):
        np.testing.assert_array_equal(ntkfast.empirical_ntk(net_of(), X, memory_budget=budget), base)


# ---------------------------------------------------------------------------------------------
# Outputs that cannot fit
# ---------------------------------------------------------------------------------------------
def _many_rows(n, width):
    """n rows of zeros without allocating them (a read-only broadcast view)."""
    return np.broadcast_to(np.zeros((1, width)), (n, width))


@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
@pytest.mark.parametrize("output", ["full", "diagonal", "trace"])
@pytest.mark.parametrize("with_x2", [False, True])
def test_output_too_large_fails_fast(impl, output, with_x2):
    """10^6 points, 10 outputs: 8e5 GB for full (8e3 GB for trace). Refused before allocating,
    saying how much, as an OutputTooLargeError (a ValueError and a MemoryError)."""
    net = net_of((2, 3, 10))
    x = _many_rows(10**6, 2)
    start = time.perf_counter()
    with pytest.raises(ntkfast.OutputTooLargeError) as info:
        impl.empirical_ntk(net, x, x if with_x2 else None, output=output)
    assert time.perf_counter() - start < 5.0
    assert isinstance(info.value, ValueError) and isinstance(info.value, MemoryError)
    assert "GB" in str(info.value)


@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
def test_nngp_too_large_fails_fast(impl):
    x = _many_rows(10**6, 2)
    start = time.perf_counter()
    with pytest.raises(ntkfast.OutputTooLargeError):
        impl.empirical_nngp(net_of((2, 3, 10)), x, x)
    assert time.perf_counter() - start < 5.0


@pytest.fixture
def tiny_memory(monkeypatch):
    """Pretend the machine has 400 kB available, so limits can be hit with small arrays."""
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 400_000)


@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
def test_per_layer_counts_towards_the_output_size(tiny_memory, impl):
    """200 x 200 float64 = 320 kB fits in 400 kB; with the 2 layers as well (3 arrays) it does not."""
    net = net_of((2, 3, 1))
    x = np.random.default_rng(0).standard_normal((200, 2))
    assert impl.empirical_ntk(net, x).shape == (200, 200)
    with pytest.raises(ntkfast.OutputTooLargeError):
        impl.empirical_ntk(net, x, per_layer=True)


def test_working_set_must_fit_beside_the_output(tiny_memory):
    """The output (320 kB) leaves 80 kB; features of 200 inputs of width 300 need ~1 MB: a
    memory_budget that large cannot be honoured and the error names memory_budget."""
    net = net_of((2, 300, 1))
    x = np.random.default_rng(0).standard_normal((200, 2))
    with pytest.raises(ntkfast.OutputTooLargeError, match="memory_budget"):
        ntkfast.empirical_ntk(net, x, memory_budget=10**7)
    # a budget that fits the 80 kB works, in blocks, and gives the same kernel as the reference
    got = ntkfast.empirical_ntk(net, x, memory_budget=40_000)
    np.testing.assert_allclose(got, reference.empirical_ntk(net, x), rtol=1e-12, atol=1e-14)


# ---- found in review: settings changed after construction, memory_budget, custom φ output ----

@pytest.mark.parametrize("fn", ANY)
@pytest.mark.parametrize("arg, value", [
    ("weight_std", -1.0), ("weight_std", math.nan), ("weight_std", "2"),
    ("bias_std", -0.5), ("parameterization", "foo"), ("activation", 3), ("activation", "relux"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_settings_set_after_construction_are_checked_at_the_call(fn, arg, value):
    # the MLP's attributes are plain and settable; a negative weight_std ran with its sign
    # flipped and an unknown parameterization silently meant "standard"
    net = net_of()
    setattr(net, arg, value)
    raises_naming(arg, fn, net, X, X)


@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
def test_activation_set_by_name_after_construction_works(impl):
    net = net_of(activation="relu")
    net.activation = "tanh"
    np.testing.assert_allclose(impl.empirical_ntk(net, X), impl.empirical_ntk(net_of(activation="tanh"), X),
                               rtol=1e-13)


REFERENCE_BUDGET = [
    pytest.param(lambda x1, x2, **kw: reference.empirical_ntk(net_of(), x1, x2, **kw), id="reference.ntk"),
    pytest.param(lambda x1, x2, **kw: reference.empirical_nngp(net_of(), x1, x2, **kw), id="reference.nngp"),
]


@pytest.mark.parametrize("fn", REFERENCE_BUDGET)
@pytest.mark.parametrize("budget", [0, -5, math.nan, math.inf, "1000", True],
                         ids=["0", "-5", "nan", "inf", "str", "bool"])
def test_reference_refuses_the_same_memory_budgets(fn, budget):
    raises_naming("memory_budget", fn, X, None, memory_budget=budget)


@pytest.mark.parametrize("fn", [reference.empirical_ntk, reference.empirical_nngp, reference.apply])
@pytest.mark.parametrize("value", [0, "2", 1.5, True, 2**40])
def test_reference_refuses_the_same_n_threads(fn, value):
    raises_naming("n_threads", fn, net_of(), X, n_threads=value)


def test_memory_budget_beyond_int64_is_a_number_not_a_crash():
    base = ntkfast.empirical_ntk(net_of(), X)
    np.testing.assert_array_equal(ntkfast.empirical_ntk(net_of(), X, memory_budget=10**30), base)
    msg = raises_naming("memory_budget", ntkfast.empirical_ntk, net_of(), X, memory_budget="1000")
    assert "number of bytes" in msg


@pytest.mark.parametrize("fn", ANY)
def test_big_endian_parameters_are_read_like_native_ones(fn):
    net = net_of()
    swapped = ntkfast.MLP([w.astype(">f8") for w in net.weights], [b.astype(">f8") for b in net.biases])
    first = lambda r: r[0] if isinstance(r, tuple) else r  # noqa: E731 - EmpiricalNTK: its total
    np.testing.assert_array_equal(first(fn(swapped, X, X)), first(fn(net, X, X)))


@pytest.mark.parametrize("fn", ANY)
@pytest.mark.parametrize("act, error", [
    pytest.param(activations.custom(np.tanh, lambda z: np.ones(z.shape[-1])), ValueError, id="derivative-shape"),
    pytest.param(activations.custom(lambda z: np.tanh(z)[..., :1], lambda z: 1 - np.tanh(z) ** 2), ValueError,
                 id="phi-shape"),
    pytest.param(activations.custom(lambda z: np.tanh(z) + 0j, lambda z: 1 - np.tanh(z) ** 2), TypeError,
                 id="phi-complex"),
    pytest.param(activations.custom(np.tanh, lambda z: np.where(z > 0, np.nan, 1.0)), ValueError,
                 id="derivative-nan"),
])
def test_custom_activation_outputs_are_checked(fn, act, error):
    net = net_of(activation=act, widths=(2, 5, 3))
    with pytest.raises(error, match="activation"):
        fn(net, X, X)


@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
def test_custom_activation_may_return_a_constant_derivative(impl):
    doubled = activations.custom(lambda z: 2 * z, lambda z: 2.0, name="doubled")
    net = net_of(activation=doubled)
    np.testing.assert_allclose(impl.empirical_ntk(net, X),
                               impl.empirical_ntk(net_of(activation=activations.custom(
                                   lambda z: 2 * z, lambda z: np.full_like(z, 2.0))), X), rtol=1e-14)


def test_init_mlp_too_large_says_to_use_smaller_widths():
    with pytest.raises(ntkfast.OutputTooLargeError, match="smaller widths"):
        ntkfast.init_mlp([10, 10**7, 10**7, 1])


# ---- activation callables that write into their argument (issue 11, item 5) -----------------
def _tanh_in_place(z):
    return np.tanh(z, out=z)


def _tanh_prime_in_place(z):
    np.tanh(z, out=z)
    np.square(z, out=z)
    return np.subtract(1.0, z, out=z)


@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
def test_in_place_activation_gives_the_same_empirical_ntk(impl):
    # The numpy forward pass computed φ(z) and φ′(z) from one z: with out=z the second saw the
    # first's result and empirical_ntk was 45% off while apply was right.
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 3))
    in_place = ntkfast.init_mlp([3, 8, 8, 2], seed=1,
                                activation=activations.custom(_tanh_in_place, _tanh_prime_in_place))
    plain = ntkfast.init_mlp([3, 8, 8, 2], seed=1, activation=activations.custom(
        lambda z: np.tanh(z), lambda z: 1.0 - np.tanh(z) ** 2))
    for mode in ("trace", "full"):
        np.testing.assert_array_equal(impl.empirical_ntk(in_place, x, output=mode),
                                      impl.empirical_ntk(plain, x, output=mode))
    np.testing.assert_array_equal(impl.empirical_nngp(in_place, x), impl.empirical_nngp(plain, x))
    np.testing.assert_array_equal(impl.apply(in_place, x), impl.apply(plain, x))
    np.testing.assert_allclose(impl.empirical_ntk(in_place, x),
                               impl.empirical_ntk(ntkfast.init_mlp([3, 8, 8, 2], seed=1, activation="tanh"), x),
                               rtol=1e-12)


# ---- string options given as numpy arrays (issue 11, item 10) --------------------------------
@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
def test_output_array_is_refused_naming_output(impl):
    # `output not in OUTPUT_MODES` raised numpy's "truth value of an array is ambiguous"
    for bad in (np.array(["trace", "full"]), np.array(["full"]), np.array([1, 2])):
        msg = raises_naming("output", impl.empirical_ntk, net_of(), X, output=bad)
        assert "ambiguous" not in msg
    # a 0-d string array is its string, as for method=, get= and loss=
    np.testing.assert_array_equal(impl.empirical_ntk(net_of(), X, output=np.array("full")),
                                  impl.empirical_ntk(net_of(), X, output="full"))


def test_other_string_options_accept_0d_string_arrays():
    a = net_of(parameterization=np.array("standard"), activation=np.array("tanh"))
    b = net_of(parameterization="standard", activation="tanh")
    np.testing.assert_array_equal(a(X), b(X))
    raises_naming("parameterization", net_of, parameterization=np.array(["ntk", "standard"]))
    y = np.zeros((3, 4))
    h = ntkfast.train(b, X, y, lr=0.1, steps=1, track_ntk=np.array("full"), progress=False)
    assert h.ntk_drift.shape == (2,)


# ---- init_mlp's seed (issue 11, item 10) -------------------------------------------------------
@pytest.mark.parametrize("seed", ["abc", -1, 1.5, [1, -2], True, np.True_, object(), np.array(-3),
                                  np.array(2.5)],
                         ids=["string", "negative", "float", "negative-in-list", "bool", "numpy-bool",
                              "object", "0d-negative", "0d-float"])
def test_bad_seed_is_named(seed):
    raises_naming("seed", ntkfast.init_mlp, [2, 3, 1], seed=seed)


@pytest.mark.parametrize("seed", [np.array(7), np.int64(7), [7], np.random.SeedSequence(7),
                                  np.random.PCG64(7)],
                         ids=["0d-array", "numpy-int", "list", "seed-sequence", "bit-generator"])
def test_seeds_numpy_accepts_draw_like_the_plain_integer(seed):
    np.testing.assert_array_equal(ntkfast.init_mlp([2, 3, 1], seed=seed).weights[0],
                                  ntkfast.init_mlp([2, 3, 1], seed=7).weights[0])


# ---- overflow hints that are true for the network's dtype (issue 11, item 10) ------------------
@pytest.mark.parametrize("impl", [ntkfast, reference], ids=["fast", "reference"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_overflow_hint_fits_the_dtype(impl, dtype):
    # a float64 network was told to try net.astype(np.float64)
    big = 1e200 if dtype == np.float64 else 1e30
    net = ntkfast.MLP([np.full((3, 2), big, dtype), np.full((1, 3), big, dtype)],
                      [np.zeros(3, dtype), np.zeros(1, dtype)], activation="identity")
    for fn in (impl.apply, impl.empirical_ntk, impl.empirical_nngp):
        with pytest.raises(FloatingPointError, match="overflow") as info:
            fn(net, X)
        assert ("astype(np.float64)" in str(info.value)) == (dtype == np.float32), str(info.value)

