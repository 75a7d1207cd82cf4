"""The empirical kernel as an object (issue 12): ntkfast.EmpiricalKernel, frozen, hashable and
picklable, whose tiles, diagonal and row blocks equal the one-call Gram bit for bit, for every
activation, dtype, output mode, thread count and memory_budget (the core computes every product
per entry in a fixed order, src/cpp/ntkfast/row_dots.hpp)."""
from __future__ import annotations

import contextlib
import copy
import pickle
import re

import numpy as np
import pytest

import ntkfast
from ntkfast import EmpiricalKernel, activations, reference

RNG = np.random.default_rng(1213)
X = RNG.standard_normal((61, 5))
X[9] = X[40]            # a duplicated point
X[12] = -X[33]          # and an antipodal pair
X2 = RNG.standard_normal((23, 5)) * 0.7


def _sin_plus(z):
    return np.sin(z) + 0.5 * z


def _sin_plus_prime(z):
    return np.cos(z) + 0.5


ACTIVATIONS = [pytest.param(name, id=name) for name in ("relu", "tanh", "erf", "gelu", "elu")] + [
    pytest.param(activations.leaky_relu(0.2), id="leaky_relu(0.2)"),
    pytest.param(activations.custom(_sin_plus, _sin_plus_prime), id="callable"),
]
DTYPES = [pytest.param(np.float64, id="f64"), pytest.param(np.float32, id="f32")]
# (get, output): the NNGP has one kernel for all outputs
KINDS = [("ntk", "trace"), ("ntk", "diagonal"), ("ntk", "full"), ("nngp", "trace")]


def net_of(activation="relu", dtype=np.float64, widths=(5, 37, 29, 3), seed=0, **kw):
    """Widths that are no multiple of any vector or register block: every product has edges."""
    return ntkfast.init_mlp(list(widths), activation=activation, bias_std=0.3, seed=seed,
                            dtype=dtype, **kw)


@contextlib.contextmanager
def naming(name: str):
    """The block must raise ValueError or TypeError whose message names ``name``."""
    with pytest.raises((ValueError, TypeError)) as info:
        yield
    assert re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", str(info.value)), str(info.value)


def random_cuts(n: int, rng) -> list[int]:
    """Cut points of a random tiling of range(n): ragged pieces of 1 to n points."""
    k = int(rng.integers(1, 6))
    return sorted({0, n, *rng.integers(1, n, k).tolist()})


def assemble(kernel, x, rng, n_threads, square=False) -> np.ndarray:
    """The Gram of x put together from the tiles of a random tiling (rows and columns cut
    independently, or the same cuts on both axes with ``square``: the diagonal tiles are then
    square blocks centred on the diagonal, as in ntkfast.dask's Grams)."""
    rows = random_cuts(len(x), rng)
    cols = rows if square else random_cuts(len(x), rng)
    out = np.full((len(x), len(x)) + kernel.output_shape, np.nan, kernel.dtype)
    for a, b in zip(rows[:-1], rows[1:]):
        for c, d in zip(cols[:-1], cols[1:]):
            out[a:b, c:d] = kernel.tile(x[a:b], x[c:d], offsets=(a, c), n_threads=n_threads)
    return out


def diagonal(gram: np.ndarray) -> np.ndarray:
    return np.stack([gram[i, i] for i in range(gram.shape[0])])


@pytest.mark.parametrize("get, output", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_random_tilings_equal_the_one_call_gram(activation, dtype, get, output):
    rng = np.random.default_rng(7)
    kernel = EmpiricalKernel(net_of(activation, dtype), get=get, output=output)
    full = kernel(X, n_threads=2)
    assert full.shape == (len(X), len(X)) + kernel.output_shape and full.dtype == dtype
    for n_threads in (1, 2, 3):
        np.testing.assert_array_equal(assemble(kernel, X, rng, n_threads, square=n_threads == 3), full)
        np.testing.assert_array_equal(kernel.diag(X, n_threads=n_threads), diagonal(full))
    # cross tiles: blocks of K(x1, x2) from slices of x1 and x2
    cross = kernel(X, X2, n_threads=3)
    for _ in range(4):
        a, b = sorted(rng.integers(0, len(X) + 1, 2))
        c, d = sorted(rng.integers(0, len(X2) + 1, 2))
        np.testing.assert_array_equal(kernel.tile(X[a:b], X2[c:d], n_threads=1), cross[a:b, c:d])
    # the one-call Gram's blocks from the functional API, for any slices
    fn = ntkfast.empirical_nngp if get == "nngp" else ntkfast.empirical_ntk
    kw = {} if get == "nngp" else {"output": output}
    np.testing.assert_array_equal(fn(kernel.net, X[5:31], X[20:58], **kw), full[5:31, 20:58])


@pytest.mark.parametrize("get, output", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_row_blocks_of_a_small_memory_budget_change_no_bit(dtype, get, output):
    net = net_of("tanh", dtype)
    whole = EmpiricalKernel(net, get=get, output=output)
    full, cross, diag = whole(X), whole(X, X2), whole.diag(X)
    floats = sum(net.widths[1:-1]) * (1 if get == "nngp" else 1 + net.widths[-1])
    for rows in (1, 4, 7):
        small = whole.replace(memory_budget=2 * rows * floats * np.dtype(dtype).itemsize)
        assert small == whole  # the budget says how to compute, not what
        for n_threads in (1, 3):
            np.testing.assert_array_equal(small(X, n_threads=n_threads), full)
            np.testing.assert_array_equal(small(X, X2, n_threads=n_threads), cross)
            np.testing.assert_array_equal(small.diag(X, n_threads=n_threads), diag)


@pytest.mark.parametrize("output", ["trace", "full"])
def test_grams_of_several_core_tiles(output):
    """More points than one core tile (about 256 points; 24 in "full" mode with n_L = 10), so the
    one-call Gram itself is assembled from many tiles, diagonal tiles included."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300 if output == "trace" else 70, 6))
    for dtype in (np.float32, np.float64):
        kernel = EmpiricalKernel(net_of("relu", dtype, widths=(6, 50, 10)), output=output)
        full = kernel(x, n_threads=3)
        np.testing.assert_array_equal(assemble(kernel, x, rng, 2), full)
        np.testing.assert_array_equal(kernel.diag(x), diagonal(full))
        np.testing.assert_array_equal(kernel(x[::-1])[::-1, ::-1], full)  # any order of the rows


def test_per_layer_terms_do_not_change_the_total():
    for output in ("trace", "diagonal", "full"):
        kernel = EmpiricalKernel(net_of("gelu", widths=(5, 20, 20, 20, 2)), output=output)
        res = kernel.per_layer(X, X2)
        np.testing.assert_array_equal(res.ntk, kernel(X, X2))
        np.testing.assert_array_equal(res.per_layer.sum(axis=0), res.ntk)  # summed in layer order
        assert res.per_layer.shape == (4,) + res.ntk.shape


def test_the_network_outputs_do_not_depend_on_the_batch():
    for activation in ("relu", "tanh", activations.custom(_sin_plus, _sin_plus_prime)):
        for dtype in (np.float32, np.float64):
            net = net_of(activation, dtype, widths=(5, 37, 29, 4))
            f = net(X)
            for a, b in ((0, 1), (3, 17), (40, 61)):
                np.testing.assert_array_equal(net(X[a:b]), f[a:b])


def test_functional_api_is_the_object():
    net = net_of("erf", widths=(5, 16, 11, 3))
    for output in ("trace", "diagonal", "full"):
        kernel = EmpiricalKernel(net, output=output)
        np.testing.assert_array_equal(ntkfast.empirical_ntk(net, X, output=output), kernel(X))
        np.testing.assert_array_equal(ntkfast.empirical_ntk(net, X, X2, output=output), kernel(X, X2))
        res = ntkfast.empirical_ntk(net, X, output=output, per_layer=True)
        np.testing.assert_array_equal(res.per_layer, kernel.per_layer(X).per_layer)
    np.testing.assert_array_equal(ntkfast.empirical_nngp(net, X, X2), EmpiricalKernel(net, get="nngp")(X, X2))


@pytest.mark.parametrize("get, output", KINDS)
def test_the_reference_object_agrees(get, output):
    net = net_of("tanh", widths=(5, 16, 11, 3))
    fast, ref = EmpiricalKernel(net, get=get, output=output), reference.EmpiricalKernel(net, get=get, output=output)
    for got, want in ((fast(X), ref(X)), (fast(X, X2), ref(X, X2)), (fast.diag(X), ref.diag(X))):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())
    np.testing.assert_allclose(ref.diag(X), diagonal(ref(X)), rtol=1e-13, atol=0)
    assert ref.tile(X[:5], X[3:9], offsets=(0, 3)).shape == (5, 6) + fast.output_shape
    assert ref == reference.EmpiricalKernel(net, get=get, output=output) and ref != fast


def test_the_kernel_is_frozen_against_changes_of_the_network():
    net = net_of("relu")
    kernel = EmpiricalKernel(net)
    before = kernel(X)
    net.weights[0][...] = 0.0          # training would change the arrays in place
    net.biases[1] = net.biases[1] + 1  # or replace them
    net.activation = "tanh"
    np.testing.assert_array_equal(kernel(X), before)
    copy_of_net = kernel.net
    copy_of_net.weights[1][...] = 0.0  # the net property is a copy too
    np.testing.assert_array_equal(kernel(X), before)
    with pytest.raises(ValueError):
        kernel._cn.weights[0][0, 0] = 1.0  # the kept arrays are read-only


def test_identity_hash_pickle_copy():
    a = EmpiricalKernel(net_of("tanh", seed=3), output="diagonal")
    b = EmpiricalKernel(net_of(activations.tanh(), seed=3), output="diagonal", memory_budget=1 << 20)
    assert a == b and hash(a) == hash(b)  # same parameters, same settings; the budget aside
    assert a != a.replace(output="full") and a != a.replace(get="nngp", output="trace")
    assert a != EmpiricalKernel(net_of("tanh", seed=4), output="diagonal")      # other weights
    assert a != EmpiricalKernel(net_of("relu", seed=3), output="diagonal")      # other activation
    assert a != EmpiricalKernel(net_of("tanh", seed=3, parameterization="standard"), output="diagonal")
    assert a != EmpiricalKernel(net_of("tanh", np.float32, seed=3), output="diagonal")
    nudged = net_of("tanh", seed=3)
    nudged.weights[1][2, 3] = np.nextafter(nudged.weights[1][2, 3], 1.0)  # one ulp of one weight
    assert a != EmpiricalKernel(nudged, output="diagonal")
    assert a != reference.EmpiricalKernel(**a.params())
    assert len({a, b, a.replace(output="trace")}) == 2
    for obj in (a, EmpiricalKernel(net_of(activations.leaky_relu(0.2)), get="nngp")):
        back = pickle.loads(pickle.dumps(obj))
        assert back == obj and hash(back) == hash(obj)
        np.testing.assert_array_equal(back(X), obj(X))
    assert copy.copy(a) is a and copy.deepcopy(a) is a
    with pytest.raises(AttributeError, match="immutable"):
        a.output = "full"
    with pytest.raises(AttributeError, match="immutable"):
        del a.get
    assert "tanh" in repr(a) and "diagonal" in repr(a) and "[5, 37, 29, 3]" in repr(a)
    assert a.params()["output"] == "diagonal" and a.widths == (5, 37, 29, 3)
    assert a.output_shape == (3,) and a.replace(output="full").output_shape == (3, 3)
    assert a.replace(output="trace").output_shape == () and a.dtype == np.float64


def test_empty_tiles():
    kernel = EmpiricalKernel(net_of(), output="full")
    assert kernel.tile(X[:0], X[:4], offsets=(0, 0)).shape == (0, 4, 3, 3)
    assert kernel.tile(X[:3], X[:0]).shape == (3, 0, 3, 3)


@pytest.mark.parametrize("kwargs, name", [
    (dict(get="theta"), "get"),
    (dict(output="mean"), "output"),
    (dict(get="nngp", output="diagonal"), "output"),
    (dict(memory_budget=-1), "memory_budget"),
    (dict(memory_budget="1GB"), "memory_budget"),
])
def test_bad_parameters(kwargs, name):
    with naming(name):
        EmpiricalKernel(net_of(), **kwargs)


def test_bad_networks():
    with naming("net"):
        EmpiricalKernel(np.eye(3))
    net = net_of()
    net.weights[1] = net.weights[1][:, :5]  # does not chain with weights[0]
    with naming("weights[1]"):
        EmpiricalKernel(net)
    net = net_of()
    net.biases[0][2] = np.nan
    with naming("biases[0]"):
        EmpiricalKernel(net)


def test_bad_inputs():
    kernel = EmpiricalKernel(net_of())
    with naming("x1"):
        kernel(X[:, :4])
    with naming("x2"):
        kernel(X, X2[:, :3])
    with naming("x1"):
        kernel(np.where(X > 1, np.nan, X))
    with naming("x"):
        kernel.diag(X[:, :2])
    with naming("x"):
        kernel.diag(X * np.inf)
    with naming("n_threads"):
        kernel(X, n_threads=0)
    with naming("per_layer"):
        EmpiricalKernel(net_of(), get="nngp").per_layer(X)


def test_bad_tiles():
    kernel = EmpiricalKernel(net_of())
    with naming("offsets"):
        kernel.tile(X[:3], X[:3], offsets=5)
    with naming("offsets"):
        kernel.tile(X[:3], X[:3], offsets=(-1, 0))
    with naming("offsets"):
        kernel.tile(X[:3], X[:3], offsets=(0.5, 0))
    with naming("x_cols"):
        kernel.tile(X[:3], X[:3, :2], offsets=(0, 0))
    with naming("x_rows"):
        kernel.tile(X[:3, :4], X[:3], offsets=(0, 0))
    with naming("x_rows"):
        kernel.tile(X[:3] * np.nan, X[:3], offsets=(0, 0))
    with naming("x1"):  # a cross tile is a plain call
        kernel.tile(X[:3, :4], X[:3])
