"""The compiled empirical NTK (ntkfast.empirical_ntk / empirical_nngp / apply) against the numpy
reference (ntkfast.reference.*), which test_empirical_truth.py checks against explicit Jacobians.

float64 agrees to rounding: 1e-10 normalised by the Cauchy–Schwarz bound of each entry,
sqrt(Θ_kk(x,x) Θ_mm(x',x')) from the reference's own diagonal (see `_scale`). float32 is
computed in float32 by the fast code and in float64 by the reference, so it is compared
against the largest entry with a looser tolerance (F32_TOL).

Also here: row blocks forced by a tiny memory_budget (same result to 1e-12), thread invariance
(bit-identical for any n_threads), parameters replaced after construction, dtypes.
"""
from __future__ import annotations

import math

import ntkfast
import ntkfast._empirical_passes as fast_passes
import numpy as np
import pytest
from ntkfast import activations, reference

F64_TOL = 1e-10
# Measured worst case over this file's float32 cases: 5e-7 of the largest entry (the fast path
# runs forward/backward and the Gram products in float32; the reference in float64).
F32_TOL = 1e-4
OUTPUTS = ("trace", "diagonal", "full")


def _tanh_plus(z):
    return np.tanh(z) + 0.1 * z


def _tanh_plus_prime(z):
    return 1.0 - np.tanh(z) ** 2 + 0.1


ACTIVATIONS = [(name, name) for name in activations.NAMES] + [
    ("leaky_relu(0.2)", activations.leaky_relu(0.2)),
    ("elu(0.5)", activations.elu(0.5)),
    ("custom+derivative", activations.custom(_tanh_plus, _tanh_plus_prime)),
]
ACT_IDS = [a for a, _ in ACTIVATIONS]
SPEC = dict(ACTIVATIONS)
HIDDEN = [7, 5, 6, 4]  # hidden widths, first depth-1 of them used


def make_net(act, depth, n_out, parameterization="ntk", bias_std=0.0, weight_std=1.3, seed=0,
             n_in=4, dtype=np.float64, hidden=HIDDEN):
    widths = [n_in] + list(hidden[:depth - 1]) + [n_out]
    return ntkfast.init_mlp(widths, activation=SPEC.get(act, act), weight_std=weight_std,
                            bias_std=bias_std, parameterization=parameterization,
                            seed=[seed, depth, n_out], dtype=dtype)


def points(seed=0, n1=7, n2=5, n_in=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n1, n_in)), rng.standard_normal((n2, n_in))


def _self_diag(net, x, per_layer):
    """Reference Θ_kk(x_i, x_i) (N, n_L), and per layer (L, N, n_L)."""
    res = reference.empirical_ntk(net, x, output="diagonal", per_layer=True)
    d = np.einsum("iik->ik", res.ntk.astype(np.float64))
    dl = np.einsum("liik->lik", res.per_layer.astype(np.float64))
    return dl if per_layer else d


def _scale(d1, d2, output):
    """Cauchy–Schwarz bound of each entry from diagonals d1 (N1, n_L), d2 (N2, n_L), floored
    at 1e-6 of the largest (a point whose diagonal is 0 has an exactly-zero row)."""
    d1, d2 = np.abs(d1), np.abs(d2)
    floor = 1e-6 * max(d1.max(), d2.max())
    s1, s2 = np.sqrt(np.maximum(d1, floor)), np.sqrt(np.maximum(d2, floor))
    full = s1[:, None, :, None] * s2[None, :, None, :]
    if output == "full":
        return full
    diag = np.einsum("ijkk->ijk", full)
    return diag if output == "diagonal" else diag.mean(axis=2)


def assert_close(actual, expected, scale, tol, what=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert np.isfinite(actual).all(), f"{what}: non-finite values"
    err = np.abs(actual.astype(np.float64) - expected.astype(np.float64)) / scale
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err[worst] <= tol, (f"{what}: normalised error {err[worst]:.3g} > {tol:.3g} at {worst}: "
                               f"got {actual[worst]!r}, expected {expected[worst]!r}")


def check_parity(net, x1, x2, outputs=OUTPUTS, per_layer=True):
    """Fast vs reference for every output mode, x2 None and given, per_layer, nngp and apply."""
    d1, d1l = _self_diag(net, x1, False), _self_diag(net, x1, True)
    d2, d2l = (d1, d1l) if x2 is None else (_self_diag(net, x2, False), _self_diag(net, x2, True))
    for output in outputs:
        ref = reference.empirical_ntk(net, x1, x2, output=output)
        got = ntkfast.empirical_ntk(net, x1, x2, output=output)
        assert_close(got, ref, _scale(d1, d2, output), F64_TOL, output)
        if not per_layer:
            continue
        ref_l = reference.empirical_ntk(net, x1, x2, output=output, per_layer=True)
        got_l = ntkfast.empirical_ntk(net, x1, x2, output=output, per_layer=True)
        assert isinstance(got_l, ntkfast.EmpiricalNTK)
        # asking for the layers does not change the total
        assert_close(got_l.ntk, ref_l.ntk, _scale(d1, d2, output), F64_TOL, f"{output} with layers")
        np.testing.assert_allclose(got_l.ntk, got, rtol=1e-13, atol=1e-15 * np.abs(got).max())
        assert got_l.per_layer.shape == (net.depth,) + ref.shape
        for l in range(net.depth):
            assert_close(got_l.per_layer[l], ref_l.per_layer[l], _scale(d1l[l], d2l[l], output),
                         F64_TOL, f"{output} per_layer[{l}]")
    # empirical NNGP and the forward pass
    ref = reference.empirical_nngp(net, x1, x2)
    n1 = np.sqrt(np.abs(np.diagonal(reference.empirical_nngp(net, x1))))
    n2 = n1 if x2 is None else np.sqrt(np.abs(np.diagonal(reference.empirical_nngp(net, x2))))
    scale = np.maximum(np.outer(n1, n2), 1e-6 * max(n1.max(), n2.max()) ** 2)
    assert_close(ntkfast.empirical_nngp(net, x1, x2), ref, scale, F64_TOL, "nngp")
    f_ref = reference.apply(net, x1)
    f = ntkfast.apply(net, x1)
    assert_close(f, f_ref, np.full(f.shape, np.abs(f_ref).max()), F64_TOL, "apply")
    np.testing.assert_array_equal(net(x1), f)


def _cases():
    """Each activation twice; depth cycles 1..5, n_L through {1, 3, 10}, the two
    parameterizations and bias 0 / 0.5 so that every value meets several activations
    (test_depth_and_outputs_grid has the full depth x n_L grid)."""
    out = []
    n_outs, pars, biases = (1, 3, 10), ("ntk", "standard"), (0.0, 0.5)
    for a_index, act in enumerate(ACT_IDS):
        for rep in range(2):
            k = 2 * a_index + rep
            depth = 1 + k % 5
            n_out = n_outs[k % 3]
            par = pars[(k // 5) % 2]
            bias = biases[(a_index + rep) % 2]
            out.append(pytest.param(act, depth, n_out, par, bias,
                                    id=f"{act}-L{depth}-out{n_out}-{par}-b{bias}"))
    return out


@pytest.mark.parametrize("act, depth, n_out, parameterization, bias_std", _cases())
@pytest.mark.parametrize("symmetric", [True, False], ids=["x2=None", "x2"])
def test_matches_reference(act, depth, n_out, parameterization, bias_std, symmetric):
    net = make_net(act, depth, n_out, parameterization, bias_std)
    x1, x2 = points()
    check_parity(net, x1, None if symmetric else x2)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("n_out", [1, 3, 10])
def test_depth_and_outputs_grid(depth, n_out):
    """The full depth x n_L grid for relu and tanh, the closed-form and numpy-callable paths."""
    x1, x2 = points(seed=depth)
    for act, par in (("relu", "ntk"), ("tanh", "standard")):
        net = make_net(act, depth, n_out, par, bias_std=0.3)
        check_parity(net, x1, x2, per_layer=False)
        check_parity(net, x1, None, per_layer=False)


@pytest.mark.parametrize("act", ACT_IDS)
def test_wide_hidden_layers(act):
    """Hidden layers wider than a register block / tile and not a multiple of it."""
    net = make_net(act, 3, 3, "ntk", 0.2, hidden=[67, 45])
    x1, x2 = points(seed=2, n1=41, n2=19)
    check_parity(net, x1, x2, outputs=("trace", "full"), per_layer=False)
    check_parity(net, x1, None, outputs=("diagonal",), per_layer=False)


def test_zero_input_and_dead_units():
    """A zero input with bias 0 and relu has an exactly zero Θ row; nothing becomes NaN."""
    net = make_net("relu", 3, 3, "ntk", 0.0)
    x1, x2 = points(seed=3)
    x1[2] = 0.0
    x2[0] = 0.0
    for xb in (None, x2):
        for output in OUTPUTS:
            k = ntkfast.empirical_ntk(net, x1, xb, output=output)
            assert np.isfinite(k).all()
            assert not k[2].any()
    check_parity(net, x1, x2)
    check_parity(net, x1, None)


def _gelu_tanh_approx(z):
    return 0.5 * z * (1.0 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))


def _gelu_tanh_approx_prime(z):
    u = math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)
    t = np.tanh(u)
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * z * z)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "gelu", "silu"])
def test_custom_activation_named_like_a_builtin_is_the_users(name):
    """custom(fn, derivative, name=...) is the user's function whatever it is called; e.g. the
    common tanh approximation of GELU, defined as `def gelu(z): ...`."""
    act = activations.custom(_gelu_tanh_approx, _gelu_tanh_approx_prime, name=name)
    net = make_net(act, 3, 3, "ntk", 0.3)
    x1, x2 = points(seed=14)
    x1, x2 = 3 * x1, 3 * x2  # where the approximation and every built-in differ clearly
    check_parity(net, x1, x2, outputs=("full",), per_layer=False)


# ---------------------------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("act, depth, n_out",
                         [(act, *((2, 10), (4, 3), (3, 1))[i % 3]) for i, act in enumerate(ACT_IDS)])
def test_float32_matches_reference(act, depth, n_out):
    net = make_net(act, depth, n_out, ("ntk", "standard")[depth % 2], 0.4, dtype=np.float32)
    x1, x2 = points(seed=4)
    for xb in (None, x2):
        for output in OUTPUTS:
            ref = reference.empirical_ntk(net, x1, xb, output=output, per_layer=True)
            got = ntkfast.empirical_ntk(net, x1, xb, output=output, per_layer=True)
            assert got.ntk.dtype == np.float32 and got.per_layer.dtype == np.float32
            assert ref.ntk.dtype == np.float32
            big = np.abs(ref.ntk.astype(np.float64)).max()
            assert_close(got.ntk, ref.ntk, np.full(ref.ntk.shape, big), F32_TOL, output)
            assert_close(got.per_layer, ref.per_layer, np.full(ref.per_layer.shape, big), F32_TOL,
                         f"{output} per_layer")
        ref = reference.empirical_nngp(net, x1, xb)
        got = ntkfast.empirical_nngp(net, x1, xb)
        assert_close(got, ref, np.full(ref.shape, np.abs(ref).max()), F32_TOL, "nngp")
    f_ref, f = reference.apply(net, x1), ntkfast.apply(net, x1)
    assert f.dtype == np.float32
    assert_close(f, f_ref, np.full(f.shape, np.abs(f_ref).max()), F32_TOL, "apply")


def test_float32_network_gives_float32_and_accepts_float64_inputs():
    net = make_net("tanh", 3, 3, "ntk", 0.2, dtype=np.float32)
    assert net.dtype == np.float32
    x1, x2 = points(seed=5)
    x1_32, x2_32 = x1.astype(np.float32), x2.astype(np.float32)
    for output in OUTPUTS:
        got = ntkfast.empirical_ntk(net, x1, x2, output=output)
        assert got.dtype == np.float32
        # float64 inputs are rounded to the network's dtype first: exactly the float32 call
        np.testing.assert_array_equal(got, ntkfast.empirical_ntk(net, x1_32, x2_32, output=output))
        np.testing.assert_array_equal(ntkfast.empirical_ntk(net, x1, output=output),
                                      ntkfast.empirical_ntk(net, x1_32, output=output))
    assert ntkfast.empirical_nngp(net, x1).dtype == np.float32
    np.testing.assert_array_equal(ntkfast.empirical_nngp(net, x1, x2),
                                  ntkfast.empirical_nngp(net, x1_32, x2_32))
    assert ntkfast.apply(net, x1).dtype == np.float32
    np.testing.assert_array_equal(ntkfast.apply(net, x1), ntkfast.apply(net, x1_32))
    res = ntkfast.empirical_ntk(net, x1, output="full", per_layer=True)
    assert res.ntk.dtype == np.float32 and res.per_layer.dtype == np.float32
    # and a float32 input into a float64 network is widened, also exactly
    net64 = net.astype(np.float64)
    np.testing.assert_array_equal(ntkfast.empirical_ntk(net64, x1_32, x2_32),
                                  ntkfast.empirical_ntk(net64, x1_32.astype(np.float64),
                                                        x2_32.astype(np.float64)))
    assert ntkfast.empirical_ntk(net64, x1_32).dtype == np.float64


def test_input_forms_accepted():
    """Lists, integers, strided and Fortran-ordered inputs: same as the C-contiguous float64."""
    net = make_net("erf", 3, 3, "ntk", 0.2)
    rng = np.random.default_rng(6)
    wide = rng.standard_normal((6, 8))
    x = np.ascontiguousarray(wide[:, ::2])
    x_int = rng.integers(-3, 4, size=(5, 4))
    base = ntkfast.empirical_ntk(net, x, output="full")
    for variant in (x.tolist(), wide[:, ::2], np.asfortranarray(x)):
        np.testing.assert_array_equal(ntkfast.empirical_ntk(net, variant, output="full"), base)
        np.testing.assert_array_equal(ntkfast.empirical_nngp(net, variant), ntkfast.empirical_nngp(net, x))
        np.testing.assert_array_equal(ntkfast.apply(net, variant), ntkfast.apply(net, x))
    np.testing.assert_array_equal(ntkfast.empirical_ntk(net, x_int, x),
                                  ntkfast.empirical_ntk(net, x_int.astype(float), x))


# ---------------------------------------------------------------------------------------------
# Row blocks under a small memory_budget
# ---------------------------------------------------------------------------------------------
def _feature_row_bytes(net, backward=True):
    """Bytes of the per-input features: the hidden activations and, for the NTK, one
    back-propagated sensitivity per output and hidden unit (ntk-math.md §3)."""
    hidden = sum(net.widths[1:-1])
    return (hidden + (net.widths[-1] * hidden if backward else 0)) * net.dtype.itemsize


@pytest.fixture
def feature_calls(monkeypatch):
    """Record the number of rows of each block the fast code featurizes (to check that a small
    memory_budget really splits the work; the results are checked independently of this).
    None if the private hook has gone: the results are still compared, the split is not."""
    inner = getattr(fast_passes, "features", None)
    if inner is None:
        return None
    calls = []

    def spy(cn, x, *args, **kwargs):
        calls.append(x.shape[0])
        return inner(cn, x, *args, **kwargs)

    monkeypatch.setattr(fast_passes, "features", spy)
    return calls


@pytest.mark.parametrize("act, n_out, dtype", [("relu", 3, np.float64), ("tanh", 1, np.float64),
                                               ("custom+derivative", 2, np.float64),
                                               ("gelu", 3, np.float32)])
@pytest.mark.parametrize("symmetric", [True, False], ids=["x2=None", "x2"])
def test_memory_budget_blocks_do_not_change_the_result(feature_calls, act, n_out, dtype, symmetric):
    """N1 = 37, N2 = 23 rows in blocks of about 1, 3 and 5 rows: none divides them."""
    net = make_net(act, 3, n_out, "ntk", 0.3, hidden=[9, 6], dtype=dtype)
    x1, x2 = points(seed=8, n1=37, n2=23)
    xb = None if symmetric else x2
    row = _feature_row_bytes(net)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for output in OUTPUTS:
        whole = ntkfast.empirical_ntk(net, x1, xb, output=output, per_layer=True)
        big = np.abs(whole.ntk).max()
        for rows in ((1, 3, 5) if output == "full" else (3,)):
            if feature_calls is not None:
                feature_calls.clear()
            got = ntkfast.empirical_ntk(net, x1, xb, output=output, per_layer=True,
                                        memory_budget=2 * rows * row)
            if feature_calls is not None:
                assert len(feature_calls) > 2, f"{rows} rows did not split: {feature_calls}"
                assert max(feature_calls) < len(x1)
            np.testing.assert_allclose(got.ntk, whole.ntk, rtol=0, atol=tol * big,
                                       err_msg=f"{output}, {rows} rows")
            np.testing.assert_allclose(got.per_layer, whole.per_layer, rtol=0, atol=tol * big,
                                       err_msg=f"{output} per_layer, {rows} rows")
            plain = ntkfast.empirical_ntk(net, x1, xb, output=output, memory_budget=2 * rows * row)
            np.testing.assert_allclose(plain, whole.ntk, rtol=0, atol=tol * big)
            if symmetric:
                axes = {"trace": (1, 0), "diagonal": (1, 0, 2), "full": (1, 0, 3, 2)}[output]
                np.testing.assert_array_equal(got.ntk, got.ntk.transpose(axes))
        # a budget far above the need is the same as none
        np.testing.assert_array_equal(
            ntkfast.empirical_ntk(net, x1, xb, output=output, memory_budget=1e12), whole.ntk)
    # the reference accepts (and ignores) the argument
    np.testing.assert_array_equal(reference.empirical_ntk(net, x1, xb, memory_budget=2 * row),
                                  reference.empirical_ntk(net, x1, xb))


@pytest.mark.parametrize("symmetric", [True, False], ids=["x2=None", "x2"])
def test_memory_budget_blocks_nngp(feature_calls, symmetric):
    net = make_net("erf", 4, 3, "standard", 0.3, hidden=[9, 6, 5])
    x1, x2 = points(seed=9, n1=37, n2=23)
    xb = None if symmetric else x2
    whole = ntkfast.empirical_nngp(net, x1, xb)
    row = _feature_row_bytes(net, backward=False)
    for rows in (1, 3, 5):
        if feature_calls is not None:
            feature_calls.clear()
        got = ntkfast.empirical_nngp(net, x1, xb, memory_budget=2 * rows * row)
        if feature_calls is not None:
            assert len(feature_calls) > 2
        np.testing.assert_allclose(got, whole, rtol=0, atol=1e-12 * np.abs(whole).max())
        if symmetric:
            np.testing.assert_array_equal(got, got.T)
    np.testing.assert_array_equal(reference.empirical_nngp(net, x1, xb, memory_budget=2 * row),
                                  reference.empirical_nngp(net, x1, xb))


# ---------------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("act, n_out", [("relu", 1), ("tanh", 4), ("custom+derivative", 3)])
def test_thread_count_does_not_change_a_bit(act, n_out):
    net = make_net(act, 3, n_out, "ntk", 0.2, hidden=[40, 33])
    x1, x2 = points(seed=10, n1=70, n2=45)
    row = _feature_row_bytes(net)
    calls = []
    for xb in (None, x2):
        for output in ("trace", "full"):
            calls.append(lambda t, xb=xb, o=output: ntkfast.empirical_ntk(
                net, x1, xb, output=o, per_layer=True, n_threads=t))
            calls.append(lambda t, xb=xb, o=output: ntkfast.empirical_ntk(
                net, x1, xb, output=o, n_threads=t, memory_budget=2 * 9 * row))
        calls.append(lambda t, xb=xb: ntkfast.empirical_nngp(net, x1, xb, n_threads=t))
    calls.append(lambda t: ntkfast.apply(net, np.concatenate([x1] * 5), n_threads=t))
    for call in calls:
        one = call(1)
        for t in (2, 3):
            other = call(t)
            if isinstance(one, tuple):
                np.testing.assert_array_equal(other.ntk, one.ntk)
                np.testing.assert_array_equal(other.per_layer, one.per_layer)
            else:
                np.testing.assert_array_equal(other, one)
    # and the process-wide setting
    want = calls[0](1)
    ntkfast.set_num_threads(2)
    got = ntkfast.empirical_ntk(net, x1, output="trace", per_layer=True)
    np.testing.assert_array_equal(got.ntk, want.ntk)


# ---------------------------------------------------------------------------------------------
# The network's arrays are read at every call
# ---------------------------------------------------------------------------------------------
def test_parameters_replaced_after_construction_are_used():
    net = make_net("tanh", 3, 3, "ntk", 0.3)
    x1, x2 = points(seed=11)
    before = ntkfast.empirical_ntk(net, x1, x2, output="full")
    rng = np.random.default_rng(12)
    new_w0 = rng.standard_normal(net.weights[0].shape)
    net.weights[0] = new_w0
    fresh = ntkfast.MLP([w.copy() for w in net.weights], [b.copy() for b in net.biases],
                        activation="tanh", weight_std=net.weight_std, bias_std=net.bias_std)
    after = ntkfast.empirical_ntk(net, x1, x2, output="full")
    assert not np.allclose(after, before)
    np.testing.assert_array_equal(after, ntkfast.empirical_ntk(fresh, x1, x2, output="full"))
    check_parity(net, x1, x2, outputs=("full",))

    # in-place changes too
    net.biases[1] *= 2.0
    net.weights[2][0, 0] += 1.0
    fresh.biases[1] *= 2.0
    fresh.weights[2][0, 0] += 1.0
    for fn in (lambda n: ntkfast.empirical_ntk(n, x1, x2), lambda n: ntkfast.empirical_nngp(n, x1),
               lambda n: ntkfast.apply(n, x1), lambda n: n(x1)):
        np.testing.assert_array_equal(fn(net), fn(fresh))
    assert not np.array_equal(ntkfast.empirical_ntk(net, x1, x2, output="full"), after)

    # non-contiguous replacement arrays (a transposed copy, a strided view) are honoured
    w1 = net.weights[1]
    net.weights[1] = np.asfortranarray(w1)
    big = np.zeros((w1.shape[0], 2 * w1.shape[1]))
    big[:, ::2] = w1
    np.testing.assert_array_equal(ntkfast.empirical_ntk(net, x1, x2), ntkfast.empirical_ntk(fresh, x1, x2))
    net.weights[1] = big[:, ::2]
    np.testing.assert_array_equal(ntkfast.empirical_ntk(net, x1, x2), ntkfast.empirical_ntk(fresh, x1, x2))
    np.testing.assert_array_equal(ntkfast.apply(net, x1), ntkfast.apply(fresh, x1))

    # a replaced activation too
    net.activation = activations.get_activation("sin")
    check_parity(net, x1, x2, outputs=("trace",), per_layer=False)
    assert not np.allclose(ntkfast.apply(net, x1), ntkfast.apply(fresh, x1))


def test_copy_and_astype_are_independent():
    net = make_net("relu", 2, 3, "ntk", 0.3)
    x1, _ = points(seed=13)
    twin = net.copy()
    base = ntkfast.empirical_ntk(net, x1)
    twin.weights[0][...] = 0.5
    np.testing.assert_array_equal(ntkfast.empirical_ntk(net, x1), base)
    assert not np.allclose(ntkfast.empirical_ntk(twin, x1), base)
    n32 = net.astype(np.float32)
    assert n32.dtype == np.float32 and net.dtype == np.float64
    np.testing.assert_allclose(ntkfast.empirical_ntk(n32, x1), base, rtol=1e-5, atol=1e-6 * np.abs(base).max())
