"""The matrix-free kernel operator (ntkfast._kernel_operator): (K + ridge·I) V and K(X', X) V equal
the stored kernels' products, its implied matrix is the Gram of ntkfast.ntk(X) bit for bit (V =
identity columns gives it back exactly), its result is bit-identical for any thread count, it
works inside scipy's solvers, refuses bad vectors by name, and its memory does not grow with N².
"""
import _thread
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import scipy.sparse.linalg as sla

import ntkfast
from ntkfast import _kernel_args, _kernel_operator, activations
from ntkfast._kernel_passes import projector

from conftest import digests_per_omp_threads, raises_naming

ACTIVATIONS = ["relu", "erf", "tanh", "gelu", "elu", "identity", "sin"]
# Points per block of the symmetric schedule (kernel_operator.hpp): sizes around it are ragged.
BLOCK = 256


def _ids(act):
    return getattr(act, "name", None) or (act if isinstance(act, str) else "callable")


def _parse(x, x2=None, *, depth=3, activation="relu", bias_std=0.2, weight_std=0.9,
           dtype=np.float64):
    return _kernel_args.parse(x, x2, depth, activation, weight_std, bias_std, dtype, 0,
                              projector(2))


def _kernel(x, x2=None, get="ntk", **kw):
    fn = ntkfast.ntk if get == "ntk" else ntkfast.nngp
    return fn(x, x2, **{"depth": 3, "bias_std": 0.2, "weight_std": 0.9, **kw})


def _assert_product(y, k, v, ridge, dtype):
    """y = k v + ridge v to the rounding of the sums: |error| <= γ_n (|k| |v| + ridge |v|)
    entrywise (n products per entry, the ridge one more), computed exactly enough in float64."""
    k = k.astype(np.float64)
    v = v.astype(np.float64)
    expected, scale = k @ v, np.abs(k) @ np.abs(v)
    if ridge:
        expected, scale = expected + ridge * v, scale + ridge * np.abs(v)
    bound = scale * (k.shape[1] + 1) * np.finfo(dtype).eps
    assert y.dtype == dtype and y.shape == expected.shape
    err = np.abs(y - expected)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert (err <= bound).all(), f"error {err[worst]:.3g} > bound {bound[worst]:.3g} at {worst}"


def _vectors(rng, n, k, dtype):
    # Values of the working dtype, so that the float64 reference multiplies the same numbers.
    return rng.standard_normal((n, k)).astype(dtype)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 5])
@pytest.mark.parametrize("n", [1, 37, BLOCK + 44])  # one point, less than a block, ragged blocks
def test_symmetric_operator_is_the_gram_times_v(act, dtype, k, n, rng):
    x = rng.standard_normal((n, 4))
    if n > 5:
        x[5] = x[3]  # a duplicated row
    v = _vectors(rng, n, k, dtype)
    y = _kernel_operator.apply_symmetric(_parse(x, activation=act, dtype=dtype), v, ridge=0.3)
    _assert_product(y, _kernel(x, activation=act, dtype=dtype), v, 0.3, dtype)


@pytest.mark.parametrize("act", ["relu", "erf", "tanh", activations.leaky_relu(0.2)], ids=_ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("get", ["ntk", "nngp"])
@pytest.mark.parametrize("n", [BLOCK, 2 * BLOCK + 3])
def test_identity_columns_give_the_gram_bit_for_bit(act, dtype, get, n, rng):
    # Every entry of V = I's product is one kernel entry plus exact zeros: the tiles' values
    # are those of ntk(X), above the diagonal, mirrored below and on it, bit for bit.
    x = rng.standard_normal((n, 3))
    x[7] = x[2]
    call = _parse(x, activation=act, dtype=dtype)
    y = _kernel_operator.apply_symmetric(call, np.eye(n), get=get)
    np.testing.assert_array_equal(y, _kernel(x, get=get, activation=act, dtype=dtype))


@pytest.mark.parametrize("act", ["relu", "tanh", "sin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_cross_product_is_the_cross_kernel_times_v(act, dtype, get, rng):
    # 150 test rows (ragged blocks of 64), 300 training points (ragged column tiles).
    x, xt = rng.standard_normal((BLOCK + 44, 4)), rng.standard_normal((150, 4))
    xt[3] = x[10]  # a test point that is a training point
    call = _parse(xt, x, activation=act, dtype=dtype)
    k = _kernel(xt, x, get=get, activation=act, dtype=dtype)
    np.testing.assert_array_equal(_kernel_operator.apply_cross(call, np.eye(len(x)), get=get), k)
    for width in (1, 5):
        v = _vectors(rng, len(x), width, dtype)
        _assert_product(_kernel_operator.apply_cross(call, v, get=get), k, v, 0.0, dtype)
    y1 = _kernel_operator.apply_cross(call, v[:, 0], get=get)
    assert y1.shape == (len(xt),)
    np.testing.assert_array_equal(y1, _kernel_operator.apply_cross(call, v[:, :1], get=get)[:, 0])


@pytest.mark.parametrize("depth", [1, 2, 7])
def test_any_depth(depth, rng):
    x = rng.standard_normal((BLOCK + 9, 5))
    v = rng.standard_normal((len(x), 2))
    call = _parse(x, depth=depth, activation="gelu")
    _assert_product(_kernel_operator.apply_symmetric(call, v), _kernel(x, depth=depth, activation="gelu"),
                    v, 0.0, np.float64)


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bit_identical_for_any_thread_count(act, dtype, rng):
    # 5 blocks: shifts 1..4 with both colours, phases of one and of several pairs.
    x = 0.7 * rng.standard_normal((4 * BLOCK + 77, 3))
    xt = 0.7 * rng.standard_normal((200, 3))
    v = rng.standard_normal((len(x), 3))
    call, cross = _parse(x, activation=act, dtype=dtype), _parse(xt, x, activation=act, dtype=dtype)
    for width in (1, 3):
        runs = [_kernel_operator.apply_symmetric(call, v[:, :width], ridge=0.1, n_threads=t)
                for t in (1, 2, 3)]
        runs_x = [_kernel_operator.apply_cross(cross, v[:, :width], n_threads=t) for t in (1, 2, 3)]
        for a, b in zip(runs[1:], runs_x[1:]):
            np.testing.assert_array_equal(a, runs[0])
            np.testing.assert_array_equal(b, runs_x[0])


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_more_threads_than_blocks(rng):
    # Two blocks (a phantom in every round) and one row block of test points: threads wait for
    # the products of earlier tasks into the same block.
    x = rng.standard_normal((BLOCK + 40, 3))
    xt = rng.standard_normal((30, 3))
    v = rng.standard_normal((len(x), 2))
    call, cross = _parse(x), _parse(xt, x)
    k, kx = _kernel(x), _kernel(xt, x)
    for threads in (1, 4, 7):
        y = _kernel_operator.apply_symmetric(call, v, n_threads=threads)
        yx = _kernel_operator.apply_cross(cross, v, n_threads=threads)
        if threads == 1:
            first, first_x = y, yx
            _assert_product(y, k, v, 0.0, np.float64)
            _assert_product(yx, kx, v, 0.0, np.float64)
        np.testing.assert_array_equal(y, first)
        np.testing.assert_array_equal(yx, first_x)


_ENV_SCRIPT = """
import hashlib, numpy as np
from ntkfast import _kernel_args, _kernel_operator
from ntkfast._kernel_passes import projector
rng = np.random.default_rng(5)
x = rng.standard_normal((900, 4))
v = rng.standard_normal((900, 2))
call = _kernel_args.parse(x, None, 3, "relu", 1.0, 0.1, np.float64, 0, projector(1))
op = _kernel_operator.KernelOperator(call, ridge=0.5)
cross = _kernel_args.parse(x[:130] + 0.1, x, 3, "relu", 1.0, 0.1, np.float64, 0, projector(1))
y = op.matmat(v).tobytes() + _kernel_operator.apply_cross(cross, v).tobytes()
print(hashlib.sha256(y).hexdigest())
"""


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_bit_identical_for_any_omp_num_threads():
    assert len(digests_per_omp_threads(_ENV_SCRIPT)) == 1


def test_linear_operator_in_scipy_solvers(rng):
    x = rng.standard_normal((BLOCK + 50, 6))
    b = rng.standard_normal(len(x))
    call = _parse(x)
    op = _kernel_operator.KernelOperator(call, ridge=0.5)
    k = _kernel(x) + 0.5 * np.eye(len(x))
    assert op.shape == (len(x), len(x)) and op.dtype == np.float64
    np.testing.assert_array_equal(op.H @ b, op @ b)
    np.testing.assert_array_equal(op.T.matmat(b[:, None]), op.matmat(b[:, None]))
    np.testing.assert_allclose(op.rmatvec(b), k @ b, rtol=1e-12, atol=0)
    sol, info = sla.cg(op, b, rtol=1e-10, maxiter=2000)
    assert info == 0
    np.testing.assert_allclose(sol, np.linalg.solve(k, b), rtol=1e-7, atol=1e-9)
    top = sla.eigsh(op, k=4, which="LA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(top), np.linalg.eigvalsh(k)[-4:], rtol=1e-10)


def test_linear_operator_nngp_float32_and_pickling(rng):
    import pickle

    x = rng.standard_normal((40, 3))
    op = _kernel_operator.KernelOperator(_parse(x, dtype=np.float32), get="nngp", n_threads=2)
    assert op.dtype == np.float32
    v = rng.standard_normal(40).astype(np.float32)
    np.testing.assert_array_equal(op @ v, op.matvec(v))
    _assert_product((op @ v)[:, None], _kernel(x, get="nngp", dtype=np.float32), v[:, None], 0.0,
                    np.float32)
    back = pickle.loads(pickle.dumps(op))
    np.testing.assert_array_equal(back @ v, op @ v)


def test_zero_vectors_and_lists(rng):
    x = rng.standard_normal((9, 2))
    call = _parse(x)
    assert _kernel_operator.apply_symmetric(call, np.empty((9, 0))).shape == (9, 0)
    v = rng.standard_normal(9)
    np.testing.assert_array_equal(_kernel_operator.apply_symmetric(call, v.tolist()),
                                  _kernel_operator.apply_symmetric(call, v))
    cross = _parse(x[:4], x)
    assert _kernel_operator.apply_cross(cross, np.empty((9, 0))).shape == (4, 0)


@pytest.mark.parametrize("v, error", [
    pytest.param(np.ones(8), ValueError, id="too-short"),
    pytest.param(np.ones((10, 2)), ValueError, id="too-many-rows"),
    pytest.param(np.ones((9, 2, 1)), ValueError, id="3-d"),
    pytest.param(np.float64(1.0), ValueError, id="scalar"),
    pytest.param(np.full(9, np.nan), ValueError, id="nan"),
    pytest.param(np.r_[np.ones(8), np.inf], ValueError, id="inf"),
    pytest.param(np.ones(9, dtype=complex), TypeError, id="complex"),
    pytest.param(np.array(["a"] * 9), TypeError, id="strings"),
    pytest.param(np.ones(9, dtype=object), TypeError, id="object"),
    pytest.param([[1.0], [2.0, 3.0]], ValueError, id="ragged-list"),
])
def test_bad_vectors_are_refused_by_name(v, error, rng):
    call = _parse(rng.standard_normal((9, 2)))
    msg = raises_naming("v", _kernel_operator.apply_symmetric, call, v)
    with pytest.raises(error):
        _kernel_operator.apply_symmetric(call, v)
    assert "v:" in msg


def test_bad_arguments_are_refused_by_name(rng):
    x = rng.standard_normal((9, 2))
    call, cross = _parse(x), _parse(x[:3], x)
    v = np.ones(9)
    raises_naming("v", _kernel_operator.apply_symmetric, _parse(x, dtype=np.float32), np.full(9, 1e39))
    raises_naming("v", _kernel_operator.apply_cross, cross, np.ones(3))
    raises_naming("get", _kernel_operator.apply_symmetric, call, v, get="sigma")
    raises_naming("get", _kernel_operator.apply_cross, cross, v, get=None)
    raises_naming("ridge", _kernel_operator.apply_symmetric, call, v, ridge=-1.0)
    raises_naming("ridge", _kernel_operator.apply_symmetric, call, v, ridge=np.nan)
    raises_naming("n_threads", _kernel_operator.apply_symmetric, call, v, n_threads=0)
    raises_naming("n_threads", _kernel_operator.KernelOperator, call, n_threads=1.5)
    raises_naming("ridge", _kernel_operator.KernelOperator, call, ridge="1")
    with pytest.raises(ValueError, match="x2=None"):
        _kernel_operator.apply_symmetric(cross, v)
    with pytest.raises(ValueError, match="x2=None"):
        _kernel_operator.KernelOperator(cross)
    with pytest.raises(ValueError, match="cross product"):
        _kernel_operator.apply_cross(call, v)


def test_tables_that_do_not_fit_are_refused_with_their_size(monkeypatch, rng):
    from ntkfast import _validation

    x = 0.5 * rng.standard_normal((2000, 2))
    monkeypatch.setattr(_validation, "available_memory_bytes", lambda: 1_000_000)
    with pytest.raises(ntkfast.OutputTooLargeError,
                       match=r"per-layer tables of 2000 points at depth 50 \(0\.0048 GB\)"):
        _parse(x, depth=50)
    # Series coefficients come on top of the closed-form lower bound: refused once the plan
    # knows their size (here 2000 points x 4 layers fit as closed-form tables, not as series).
    monkeypatch.setattr(_validation, "available_memory_bytes", lambda: 2_000_000)
    with pytest.raises(ntkfast.OutputTooLargeError, match=r"per-layer tables of 2000 points at depth 4"):
        _parse(x, depth=4, activation="tanh")


def test_ctrl_c_interrupts_an_apply():
    x = np.random.default_rng(0).normal(size=(6000, 8))
    call = _parse(x, depth=40, activation="erf")
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            _kernel_operator.apply_symmetric(call, np.ones(6000), n_threads=1)
    finally:
        timer.cancel()
    assert info.traceback[-1].name == "_symmetric"  # out of the compiled call, between chunks


@pytest.mark.slow
def test_memory_does_not_grow_with_n_squared():
    # N = 60 000: the Gram would take 28.8 GB; the operator holds V, Y, the per-point tables and
    # a tile per thread (a few MB besides the 3.8 MB of X).
    script = textwrap.dedent("""
        import resource, numpy as np
        from ntkfast import _kernel_args, _kernel_operator
        from ntkfast._kernel_passes import projector
        x = np.random.default_rng(0).standard_normal((60_000, 8))
        v = np.ones(60_000)
        def apply(n):
            call = _kernel_args.parse(x[:n], None, 2, "relu", 1.0, 0.0, np.float64, 0, projector(2))
            return _kernel_operator.apply_symmetric(call, v[:n])
        apply(600)  # warm-up: imports, allocator pools, the thread team
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        y = apply(60_000)
        assert np.isfinite(y).all()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=900, check=True)
    growth = float(out.stdout.strip().splitlines()[-1])
    assert growth < 100, f"peak RSS grew by {growth:.0f} MiB"
