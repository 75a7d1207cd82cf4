"""Kernel objects (issue 12, part 1): the infinite-width kernel as a frozen, hashable, picklable
object, and its tiles: any block computed from the row slices it spans equals the same block of
the one-call Gram bit for bit, for every activation, dtype and thread count, diagonal blocks
included."""
from __future__ import annotations

import contextlib
import copy
import pickle
import re

import numpy as np
import pytest

import ntkfast
from ntkfast import InfiniteWidthKernel, activations, reference


RNG = np.random.default_rng(1212)
X = RNG.standard_normal((70, 5))
X[9] = X[40]            # a duplicated point: its off-diagonal entries sit at ρ = 1
X[12] = -X[33]          # and an antipodal pair, ρ = -1

ACTIVATIONS = [pytest.param(name, id=name) for name in activations.NAMES] + [
    pytest.param(activations.leaky_relu(0.2), id="leaky_relu(0.2)"),
    pytest.param(activations.elu(alpha=0.5), id="elu(0.5)"),
    pytest.param(lambda z: np.sin(z) + 0.5 * z, id="callable"),
]


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
    out = np.full((len(x), len(x)), np.nan, kernel.dtype)
    for a, b in zip(rows[:-1], rows[1:]):
        for c, d in zip(cols[:-1], cols[1:]):
            out[a:b, c:d] = kernel.tile(x[a:b], x[c:d], offsets=(a, c), n_threads=n_threads)
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_random_tilings_equal_the_one_call_gram(activation, dtype):
    rng = np.random.default_rng(7)
    kernel = InfiniteWidthKernel(depth=3, activation=activation, bias_std=0.3, dtype=dtype).planned_for(X)
    full = kernel(X, n_threads=2)
    for n_threads in (1, 2, 3):
        np.testing.assert_array_equal(assemble(kernel, X, rng, n_threads, square=n_threads == 3), full)
    # cross tiles: blocks of K(x1, x2) from slices of x1 and x2
    x2 = RNG.standard_normal((23, 5)) * 0.7
    cross = kernel(X, x2)
    for _ in range(4):
        a, b = sorted(rng.integers(0, 71, 2))
        c, d = sorted(rng.integers(0, 24, 2))
        np.testing.assert_array_equal(kernel.tile(X[a:b], x2[c:d], n_threads=1), cross[a:b, c:d])
    np.testing.assert_array_equal(kernel.diag(X), np.diagonal(full))


@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_deep_kernels_in_passes_tile_consistently(get, monkeypatch):
    """A depth whose tables exceed the budget runs in layer passes; its tiles still agree."""
    from ntkfast import _kernel_passes
    monkeypatch.setattr(_kernel_passes, "table_budget", lambda n1, n2, itemsize: 4096)
    kernel = InfiniteWidthKernel(depth=9, activation="tanh", get=get).planned_for(X)
    full = kernel(X)
    np.testing.assert_array_equal(assemble(kernel, X, np.random.default_rng(3), 2), full)


def test_functional_api_is_the_object():
    for act in ("relu", "tanh", "erf"):
        kw = dict(depth=4, activation=act, weight_std=1.3, bias_std=0.2)
        np.testing.assert_array_equal(ntkfast.ntk(X, **kw), InfiniteWidthKernel(**kw)(X))
        np.testing.assert_array_equal(ntkfast.nngp(X, X[:7], **kw),
                                      InfiniteWidthKernel(get="nngp", **kw)(X, X[:7]))
        np.testing.assert_array_equal(ntkfast.ntk_diag(X, **kw), InfiniteWidthKernel(**kw).diag(X))
        res = InfiniteWidthKernel(**kw).kernels(X, layerwise=True)
        ref = ntkfast.kernels(X, layerwise=True, **kw)
        np.testing.assert_array_equal(res.theta, ref.theta)


@pytest.mark.parametrize("activation", ["tanh", "gelu", "softplus", "sigmoid"])
@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_a_fixed_plan_is_as_accurate_as_the_data_plan(activation, get):
    """The plan from the bound's grid (fast path) against the reference planned from the points
    themselves: both truncate at 1e-11 relative, so they agree far below that."""
    kw = dict(depth=4, activation=activation, bias_std=0.2, get=get)
    fixed = InfiniteWidthKernel(input_bound=3.0, **kw)(X)
    data = reference.InfiniteWidthKernel(**kw)(X)
    scale = np.sqrt(np.outer(np.diagonal(data), np.diagonal(data)))
    assert np.max(np.abs(fixed - data) / scale) < 1e-10
    # and the reference object, with the same fixed plan, matches the fast path as usual
    ref = reference.InfiniteWidthKernel(input_bound=3.0, **kw)(X)
    assert np.max(np.abs(fixed - ref) / scale) < 1e-12


def test_inputs_beyond_the_bound_are_refused():
    kernel = InfiniteWidthKernel(depth=3, activation="tanh").planned_for(X)
    kernel(X)  # the bound's own points pass
    with naming("input_bound"):
        kernel(X * 1.01)
    with naming("input_bound"):
        kernel.diag(X[:3] * 2)
    with naming("input_bound"):
        kernel(X, X * 2)
    # closed forms: the declared bound is enforced too
    with naming("input_bound"):
        InfiniteWidthKernel(depth=2, input_bound=0.5)(X)


def test_tiles_of_a_numerical_activation_need_a_fixed_plan():
    kernel = InfiniteWidthKernel(depth=3, activation="tanh")
    with naming("input_bound"):
        kernel.tile(X[:5], X[5:9], offsets=(0, 5))
    InfiniteWidthKernel(depth=3, activation="relu").tile(X[:5], X[5:9], offsets=(0, 5))
    InfiniteWidthKernel(depth=1, activation="tanh").tile(X[:5], X[5:9], offsets=(0, 5))


def test_empty_tiles():
    kernel = InfiniteWidthKernel(depth=2)
    assert kernel.tile(X[:0], X[:4], offsets=(0, 0)).shape == (0, 4)
    assert kernel.tile(X[:3], X[:0]).shape == (3, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 3), (1, 1), (3, 5), (8, 8), (16, 16), (17, 33), (63, 65),
                                   (64, 64), (130, 7), (1000, 1), (4, 1000), (257, 131)])
def test_the_mirror_of_a_block_is_its_transpose(shape, dtype):
    """The core's blocked transpose (every edge of its 16-wide blocks and of its 8×8 / 4×4
    register tiles), any thread count; an empirical kernel's 4-D blocks swap their output axes
    too."""
    from ntkfast._kernel_tiles import mirrored

    a = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    for threads in (1, 3):
        m = mirrored(a, threads)
        assert m.dtype == dtype and m.flags.c_contiguous
        np.testing.assert_array_equal(m, a.T)
    b = np.random.default_rng(1).standard_normal((3, 4, 2, 2))
    np.testing.assert_array_equal(mirrored(b), b.transpose(1, 0, 3, 2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(40, 24), (37, 45), (130, 64), (3, 5)])
def test_a_transpose_between_any_addresses_is_exact(shape, dtype):
    """The core peels the elements before the first 32-byte boundary of both sides so that its
    register tiles are aligned: block and out at every element offset (row lengths that keep
    the offset row after row, and ones that do not; a block smaller than the peel)."""
    from ntkfast import _core
    from ntkfast._kernel_tiles import mirrored

    n, m = shape
    rng = np.random.default_rng(2)
    source = rng.standard_normal(n * m + 8).astype(dtype)
    target = np.empty(n * m + 8, dtype)
    for start in range(8):
        a = source[start:start + n * m].reshape(n, m)
        assert a.flags.c_contiguous
        np.testing.assert_array_equal(mirrored(a, 2), a.T)
        for out_start in range(8):
            target[:] = np.nan
            out = target[out_start:out_start + n * m].reshape(m, n)
            for threads in (1, 2):
                _core.transpose_into(a, out, threads)
                np.testing.assert_array_equal(out, a.T)
            assert np.isnan(target[:out_start]).all() and np.isnan(target[out_start + n * m:]).all()


def test_identity_hash_pickle_copy():
    a = InfiniteWidthKernel(depth=3, activation="tanh", bias_std=0.1, input_bound=2.0)
    b = InfiniteWidthKernel(depth=3, activation=activations.tanh(), bias_std=0.1, input_bound=2)
    assert a == b and hash(a) == hash(b)
    assert a != a.replace(depth=4) and a != a.replace(get="nngp") and a != a.replace(dtype=np.float32)
    assert a != reference.InfiniteWidthKernel(**a.params())
    assert len({a, b, a.replace(input_bound=None)}) == 2
    for obj in (a, a.replace(activation=activations.leaky_relu(0.2), input_bound=None)):
        back = pickle.loads(pickle.dumps(obj))
        assert back == obj and hash(back) == hash(obj)
        np.testing.assert_array_equal(back(X / 3), obj(X / 3))
    assert copy.copy(a) is a and copy.deepcopy(a) is a
    with pytest.raises(AttributeError, match="immutable"):
        a.depth = 4
    assert "tanh" in repr(a) and "input_bound=2.0" in repr(a)


@pytest.mark.parametrize("kwargs, name", [
    (dict(depth=0), "depth"),
    (dict(depth=2, get="theta"), "get"),
    (dict(depth=2, input_bound=-1.0), "input_bound"),
    (dict(depth=2, input_bound=float("nan")), "input_bound"),
    (dict(depth=2, input_bound=True), "input_bound"),
    (dict(depth=2, activation="nope"), "activation"),
    (dict(depth=2, dtype=np.int32), "dtype"),
    (dict(depth=2, weight_std=-1.0), "weight_std"),
])
def test_bad_parameters(kwargs, name):
    with naming(name):
        InfiniteWidthKernel(**kwargs)


def test_bad_tiles():
    kernel = InfiniteWidthKernel(depth=2)
    with naming("offsets"):
        kernel.tile(X[:3], X[:3], offsets=5)
    with naming("offsets"):
        kernel.tile(X[:3], X[:3], offsets=(-1, 0))
    with naming("x_cols"):
        kernel.tile(X[:3], X[:3, :2], offsets=(0, 0))
    with naming("x_rows"):
        kernel.tile(X[:3] * np.nan, X[:3], offsets=(0, 0))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_objects_operator_is_its_gram(activation):
    """kernel.operator(x) and kernel.apply(x_test, x, v) through the public object."""
    kernel = InfiniteWidthKernel(depth=3, activation=activation).planned_for(np.vstack([X, X[:9] * 0.5]))
    v = RNG.standard_normal((len(X), 2))
    op = kernel.operator(X, ridge=0.25)
    np.testing.assert_allclose(op @ v, kernel(X) @ v + 0.25 * v, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(kernel.operator(X).matmat(np.eye(len(X))[:, :5]), kernel(X)[:, :5])
    np.testing.assert_allclose(kernel.apply(X[:9] * 0.5, X, v), kernel(X[:9] * 0.5, X) @ v,
                               rtol=1e-12, atol=1e-12)
