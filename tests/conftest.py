"""Shared tolerances, comparison helpers and random-data fixtures.

Every numerical comparison in this suite is *normalised*: an entry (i, j) of a kernel K passes when

    |a_ij - b_ij| <= tol * sqrt(K(x_i, x_i) K(x'_j, x'_j))

with K the expected (reference or truth) kernel. Off-diagonal entries can be close to zero (or
exactly zero, e.g. ReLU at opposite inputs with bias 0), so a plain relative error would demand
digits the inputs never determined; the diagonal scale is the natural unit of a Gram matrix
(Cauchy–Schwarz bounds every entry by it).
"""
from __future__ import annotations

import contextlib
import itertools
import os

# One BLAS thread. Numerical activations call numpy.linalg.eigvalsh (Gauss-Hermite nodes) between
# OpenMP regions of the core; on a 2-core machine OpenBLAS's and libgomp's spin-waiting worker
# threads then fight for the cores and this suite ran ~4x slower (77 s vs 21 s for
# test_parity.py). Must be set before numpy is first imported; it changes no result we test.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ntkfast  # noqa: E402
from ntkfast import reference  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Tolerances, keyed by the working dtype of the fast path.
#
# float64: fast vs reference differ only by rounding (the C++ core uses its own asin polynomial,
#   FMA-contracted dot products and another summation order than numpy's BLAS). Measured worst
#   case over test_parity.py: 5.7e-15 normalised (leaky_relu, depth 10); 1e-12 leaves headroom.
#
# float32: measured worst case 2.6e-4 normalised (elu with alpha = 0.5, depth 10, a pair of
#   parallel rows of different norms), over 4 seeds x every activation x depths 2/5/10 x the
#   bias/weight grid, with duplicated and near-duplicated rows; the relu family stays below 5e-7
#   and the smooth activations below 1e-5. The relu family and elu carry 1 - rho accurately through
#   the recursion (dual_activations.hpp), so duplicated and nearly coinciding points no longer cost
#   sqrt(eps32) in the angle (this tolerance was 6e-3 for that: 3.0e-3 measured for abs); elu with
#   alpha != 1 carries exact coincidence exactly but takes later layers' 1 - rho from the rounded
#   rho, so near-duplicates that are not exact (parallel inputs of different norms) still see
#   sqrt(eps32) in the angle of its jumping phi' (Sigma_dot moves by (1-alpha)^2/2pi of it per
#   layer). 1e-3 is 4x the measured worst case.
# ---------------------------------------------------------------------------------------------
TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-3}


def tol_for(dtype) -> float:
    return TOL[np.dtype(dtype)]


# A point with Σ(x, x) = 0 (zero input, bias 0) has an exactly zero kernel row in exact arithmetic,
# but closed forms that cancel terms (elu) leave O(eps) residue there, which pure normalisation
# would divide by 0. Diagonals are therefore floored at DIAG_FLOOR times the largest one: such a
# row is then checked to an absolute tol * 1e-3 * (kernel scale), still far below any real bug.
DIAG_FLOOR = 1e-6


def normalised_error(actual, expected, diag1, diag2) -> np.ndarray:
    """|actual - expected| / sqrt(d1_i d2_j) (diagonals floored, see DIAG_FLOOR)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    d1 = np.abs(np.asarray(diag1, dtype=np.float64))
    d2 = np.abs(np.asarray(diag2, dtype=np.float64))
    floor = DIAG_FLOOR * max(d1.max(initial=0.0), d2.max(initial=0.0))
    scale = np.sqrt(np.outer(np.maximum(d1, floor), np.maximum(d2, floor)))
    diff = np.abs(actual - expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(diff == 0, 0.0, diff / scale)


def assert_normalised_close(actual, expected, diag1, diag2, tol, what=""):
    """Assert |a - b| <= tol * sqrt(d1_i d2_j) elementwise; the message shows the worst entry."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.isfinite(actual).all(), f"{what}: non-finite values {actual}"
    err = normalised_error(actual, expected, diag1, diag2)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err[worst] <= tol, (
        f"{what}: normalised error {err[worst]:.3g} > {tol:.3g} at {worst}: "
        f"got {actual[worst]!r}, expected {expected[worst]!r}"
    )


def reference_diagonals(x1, x2=None, **kw):
    """Per-layer diagonals of the reference kernels for the rows of x1 and of x2, used only as
    the *scale* of normalised errors, never as the value tested: two dicts with sigma (L, n),
    sigma_dot (L-1, n), theta (L, n), nngp (n,), ntk (n,).

    One symmetric reference call on the stacked points: numerical activations choose their
    series order from the largest variance of all points in a call, so stacking x1 and x2 gives
    the same order as the (x1, x2) call being checked (and reuses its cached quadrature).
    """
    x1 = np.asarray(x1, dtype=np.float64)
    stacked = x1 if x2 is None else np.concatenate([x1, np.asarray(x2, dtype=np.float64)])
    r = reference.kernels(stacked, layerwise=True, **kw)

    def diag(a):
        return np.stack([np.diagonal(m) for m in a]) if len(a) else np.empty((0, len(stacked)))

    full = {"sigma": diag(r.sigma), "sigma_dot": diag(r.sigma_dot), "theta": diag(r.theta),
            "nngp": np.diagonal(r.nngp), "ntk": np.diagonal(r.ntk)}
    n1 = len(x1)
    first = {k: v[..., :n1] for k, v in full.items()}
    second = first if x2 is None else {k: v[..., n1:] for k, v in full.items()}
    return first, second


@pytest.fixture
def rng():
    """A fresh seeded Generator per test: results do not depend on test order."""
    return np.random.default_rng(20180607)


@pytest.fixture
def points(rng):
    """x1 (7, 5) and x2 (4, 5) of standard normal entries: rectangular on purpose (N1 != N2)."""
    return rng.standard_normal((7, 5)), rng.standard_normal((4, 5))


@pytest.fixture(autouse=True)
def _restore_thread_default():
    """set_num_threads is process-wide: undo whatever a test set."""
    yield
    ntkfast.set_num_threads(None)


# ---------------------------------------------------------------------------------------------
# A plain forward pass of an MLP (ntk-math.md §1), independent of ntkfast's: the truth tests'.
# ---------------------------------------------------------------------------------------------
def mlp_scales(widths, parameterization, weight_std, bias_std):
    """(s_w per layer, s_b): ntk: σ_w/sqrt(n_l), β; standard: 1, 1."""
    import math

    if parameterization == "ntk":
        return [weight_std / math.sqrt(n) for n in widths[:-1]], bias_std
    return [1.0] * (len(widths) - 1), 1.0


def mlp_forward(ws, bs, sw, sb, phi, x):
    """f(x) = z^(L) of z^(l+1) = s_w^(l) W^(l) a^(l) + s_b b^(l), a = φ(z) between layers."""
    a = x
    for l, (w, b) in enumerate(zip(ws, bs)):
        z = sw[l] * (a @ w.T) + sb * b
        if l < len(ws) - 1:
            a = phi(z)
    return z


# ---------------------------------------------------------------------------------------------
# Bad input: the error must name the argument.
# ---------------------------------------------------------------------------------------------
def raises_naming(names, fn, *args, **kwargs):
    """Call fn; it must raise ValueError or TypeError naming `names` (one argument, or any of a
    tuple of them) as a word in the message, which is returned."""
    import re

    names = (names,) if isinstance(names, str) else tuple(names)
    with pytest.raises((ValueError, TypeError)) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert any(re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", msg) for name in names), \
        f"message does not name {names if len(names) > 1 else names[0]!r}: {msg!r}"
    return msg


# ---------------------------------------------------------------------------------------------
# Shared by the kernel_gd and train test files: callable losses and thread-count runs.
# ---------------------------------------------------------------------------------------------
def strided(a):
    """The same numbers as a non-contiguous view (every other column of a wider array)."""
    big = np.zeros((a.shape[0], 2 * a.shape[1]))
    big[:, ::2] = a
    return big[:, ::2]


def mse_value(f, y):
    """Mean over points of ½||f_i − y_i||²: the value half of the built-in "mse" loss."""
    return 0.5 * float(((f - y) ** 2).sum(axis=1).mean())


# Returns a user may write from loss(f, y) -> (value, d); all of them mean the MSE.
VALID_CALLABLES = [
    pytest.param(lambda f, y: (np.float64(mse_value(f, y)), f - y), id="numpy-scalar"),
    pytest.param(lambda f, y: (np.array(mse_value(f, y)), f - y), id="0d-array"),
    pytest.param(lambda f, y: (mse_value(f, y), np.asfortranarray(f - y)), id="d-fortran"),
    pytest.param(lambda f, y: (mse_value(f, y), strided(f - y)), id="d-strided"),
]


def main_thread_ticks_while(work) -> tuple[int, float]:
    """Run work() in a thread; count the 5 ms sleeps the main thread completes meanwhile, and the
    seconds it took. A call that holds the GIL throughout allows one tick."""
    import threading
    import time

    done = threading.Event()

    def run():
        try:
            work()
        finally:
            done.set()

    worker = threading.Thread(target=run)
    start = time.perf_counter()
    worker.start()
    ticks = 0
    while not done.is_set():
        time.sleep(0.005)
        ticks += 1
    worker.join()
    return ticks, time.perf_counter() - start


def digests_per_omp_threads(script: str, thread_counts=(1, 3)) -> set:
    """SHA digests printed by `script` run in a fresh interpreter under each OMP_NUM_THREADS (the
    variable is read once, at start-up): one distinct digest means bit-identical results."""
    import subprocess
    import sys

    digests = set()
    for threads in thread_counts:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, check=True)
        digests.add(out.stdout.strip())
    return digests


# ---------------------------------------------------------------------------------------------
# The loss contract shared by kernel_gd and train (ntkfast._losses): one table, both functions.
# ---------------------------------------------------------------------------------------------
def _mse_pair(f, y):
    return mse_value(f, y), f - y


# (what loss(f, y) returns, the error expected: None when it is accepted)
LOSS_RETURN_CASES = [
    pytest.param(lambda f, y: _mse_pair(f, y), None, id="float-and-array"),
    pytest.param(lambda f, y: (np.float32(mse_value(f, y)), (f - y).astype(np.float32)), None,
                 id="float32"),
    pytest.param(lambda f, y: (int(round(mse_value(f, y))), f - y), None, id="int-value"),
    pytest.param(lambda f, y: (np.array(mse_value(f, y)), (f - y).tolist()), None, id="0d-value-list-d"),
    pytest.param(lambda f, y: ("1.0", f - y), TypeError, id="value-string"),
    pytest.param(lambda f, y: (True, f - y), TypeError, id="value-bool"),
    pytest.param(lambda f, y: (np.True_, f - y), TypeError, id="value-numpy-bool"),
    pytest.param(lambda f, y: (1.0 + 0j, f - y), TypeError, id="value-complex"),
    pytest.param(lambda f, y: ([mse_value(f, y)], f - y), TypeError, id="value-list"),
    pytest.param(lambda f, y: (np.ones(2), f - y), TypeError, id="value-array"),
    pytest.param(lambda f, y: [mse_value(f, y), f - y], TypeError, id="list-not-tuple"),
    pytest.param(lambda f, y: (mse_value(f, y), f - y, 0), TypeError, id="triple"),
    pytest.param(lambda f, y: None, TypeError, id="none"),
    pytest.param(lambda f, y: (mse_value(f, y), (f - y) + 0j), TypeError, id="d-complex"),
    pytest.param(lambda f, y: (mse_value(f, y), (f - y).T), ValueError, id="d-transposed"),
    pytest.param(lambda f, y: (mse_value(f, y), (f - y)[:-1]), ValueError, id="d-rows"),
    pytest.param(lambda f, y: (0.0, np.zeros(f.shape[0])), ValueError, id="d-1d-for-two-outputs"),
    pytest.param(lambda f, y: (0.0, np.full(f.shape, np.nan)), ValueError, id="d-nan"),
    pytest.param(lambda f, y: (np.nan, f - y), ValueError, id="value-nan"),
    pytest.param(lambda f, y: (mse_value(f, y), np.full(f.shape, np.inf)), ValueError, id="d-inf"),
]

# (loss=, the error expected: None when accepted)
LOSS_NAME_CASES = [
    pytest.param("mse", None, id="mse"),
    pytest.param(" MSE ", None, id="case-and-spaces"),
    pytest.param("Ce", None, id="ce-any-case"),
    pytest.param(np.array("mse"), None, id="0d-string-array"),
    pytest.param("hinge", ValueError, id="unknown"),
    pytest.param("", ValueError, id="empty"),
    pytest.param(None, TypeError, id="none"),
    pytest.param(3, TypeError, id="int"),
    pytest.param(np.array(["mse", "mse"]), TypeError, id="string-array"),
]


# ---------------------------------------------------------------------------------------------
# Property-based fuzzing (test_hypothesis_*.py): the same numbers in every form a user may pass,
# and what counts as a clear refusal.
# ---------------------------------------------------------------------------------------------
def fuzz(max_examples: int):
    """Hypothesis settings of the fuzzing suites: derandomized, so CI explores the same examples
    on every run (no first-time finds, no flakes); no deadline (a first call with a series
    activation builds its quadrature, ~0.5 s). NTKFAST_FUZZ_SCALE=k runs k times as many
    examples, randomised: a local fuzzing campaign (under .ci/sanitize too)."""
    from hypothesis import HealthCheck, settings

    base = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    scale = float(os.environ.get("NTKFAST_FUZZ_SCALE", "0"))
    if scale > 0:
        return settings(base, max_examples=max(1, int(scale * max_examples)), derandomize=False,
                        database=None)
    return settings(base, max_examples=max_examples)


def outcome(fn, *args, **kwargs):
    """The result of fn(...), or the exception it raised, for the caller to classify."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - classified by the caller
        return exc


# OutputTooLargeError is a ValueError; TrainingDivergedError is a FloatingPointError.
CLEAR_ERRORS = (ValueError, TypeError, FloatingPointError)


def assert_clear_error(exc: BaseException, names) -> None:
    """exc is a ValueError, TypeError or FloatingPointError whose message names one of `names`
    (argument names) as a word: not a bare numpy or pybind11 error, not an AssertionError or
    IndexError from inside the library."""
    import re

    names = (names,) if isinstance(names, str) else tuple(names)
    assert isinstance(exc, CLEAR_ERRORS), f"not a clear error: {type(exc).__name__}: {exc}"
    msg = str(exc)
    assert any(re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", msg) for name in names), \
        f"{type(exc).__name__} does not name any of {names}: {msg!r}"


# Element types an array may arrive in (a list of Python floats too), and memory layouts.
# Integer kinds get the values rounded and clipped to their range, bool gets x > 0.
INPUT_KINDS = ("float64", "float32", ">f8", ">f4", "float16", "longdouble", "int64", "int16",
               "uint8", "bool", "object", "list")
LAYOUTS = ("C", "F", "reversed", "strided", "readonly", "memmap")


def represent(x: np.ndarray, kind: str, layout: str, folder) -> object:
    """The float64 array x as element type `kind` in memory layout `layout`: the object passed to
    the API. `folder` (a pathlib.Path) holds the memmap files."""
    if kind == "list":
        return x.tolist()
    if kind == "bool":
        a = x > 0
    elif kind in ("int64", "int16", "uint8"):
        info = np.iinfo(kind)
        with np.errstate(invalid="ignore"):
            a = np.clip(np.round(x), max(info.min, -2.0**62), min(info.max, 2.0**62)).astype(kind)
    elif kind == "object":
        a = x.astype(object)
    else:
        with np.errstate(over="ignore"):  # float16 turns large values into inf: refused later
            a = x.astype(kind)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "reversed":  # negative strides on both axes, the same numbers
        return np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]
    if layout == "strided":  # every other row and every third column of a larger array
        big = np.zeros((2 * a.shape[0], 3 * a.shape[1]), dtype=a.dtype)
        big[::2, ::3] = a
        return big[::2, ::3]
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "memmap" and a.dtype != object and a.size:
        path = folder / f"x{next(_MEMMAP_COUNTER)}.dat"
        m = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
        m[...] = a
        m.flush()
        del m
        return np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)
    return a


_MEMMAP_COUNTER = itertools.count()


def canonical(rep) -> np.ndarray:
    """The numbers of a representation as a plain C-contiguous, writeable, native-byte-order
    array of the same element type: what every representation must be equivalent to."""
    a = np.asarray(rep)
    return np.array(a, dtype=a.dtype.newbyteorder("="), order="C")


def as_float64(rep):
    """The numbers of a representation as a plain C-contiguous float64 array (an object array is
    returned as it is: it must be refused whatever it holds)."""
    a = np.asarray(rep)
    return a if a.dtype == object else np.array(a, dtype=np.float64, order="C")


@pytest.fixture(scope="session")
def memmap_dir(tmp_path_factory):
    """Session-wide folder for memmap inputs (hypothesis refuses function-scoped fixtures)."""
    return tmp_path_factory.mktemp("memmaps")


# float64, nearly coinciding pairs under elu with alpha != 1 (its φ' jumps at 0): the relu family
# carries 1 ∓ ρ through the recursion exactly (README, "Nearly coinciding points"); elu does so at
# layer 1 and for exactly coinciding points, but takes a later layer's 1 − ρ from the rounded ρ.
# Two distinct points that are nearly parallel there get θ off by up to ~sqrt(eps) ≈ 1.5e-8, Σ̇ by
# (1−α)²/2π of it per layer, and fast path and reference round differently: measured 2.4e-9
# (elu(0.5), depth 4, bias 0.1, points 1e-7 apart). 1e-7 leaves headroom for deeper networks.
NEAR_DUPLICATE_TOL = 1e-7
# Pairs count as near-duplicates when their first-layer correlation is this close to ±1: there
# θ <= 1.4e-3 and the law above already costs more than TOL.
NEAR_DUPLICATE_RHO = 1e-6


def near_duplicates(x1, x2=None, weight_std=1.0, bias_std=0.0) -> np.ndarray:
    """(N1, N2) mask of pairs whose first-layer correlation ρ^(1) is within NEAR_DUPLICATE_RHO of
    ±1 (a zero row without bias, whose ρ is undefined, counts too)."""
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = x1 if x2 is None else np.asarray(x2, dtype=np.float64)
    w2, b2, n0 = weight_std ** 2, bias_std ** 2, x1.shape[1]
    with np.errstate(all="ignore"):
        k12 = w2 * (x1 @ x2.T) / n0 + b2
        k1 = w2 * np.einsum("ij,ij->i", x1, x1) / n0 + b2
        k2 = w2 * np.einsum("ij,ij->i", x2, x2) / n0 + b2
        rho = k12 / np.sqrt(k1)[:, None] / np.sqrt(k2)[None, :]
    return ~(np.abs(rho) <= 1 - NEAR_DUPLICATE_RHO)


# ---------------------------------------------------------------------------------------------
# A user's own kernel for the solvers (test_nystrom.py): the duck type they accept besides
# ntkfast.InfiniteWidthKernel (kernel(x1, x2=None, *, n_threads=None), .diag, .dtype, picklable),
# and a mutable base for test kernels that count or fail their calls. relu and the other closed
# forms give blocks of rows equal to the one-call kernel bit for bit.
# ---------------------------------------------------------------------------------------------
class NTKShim:
    def __init__(self, **kw):
        self.kw = kw
        self.dtype = np.dtype(kw.get("dtype", np.float64))

    def __call__(self, x1, x2=None, *, n_threads=None):
        return ntkfast.ntk(x1, x2, n_threads=n_threads, **self.kw)

    def diag(self, x, *, n_threads=None):
        return ntkfast.ntk_diag(x, n_threads=n_threads, **self.kw)


# ---------------------------------------------------------------------------------------------
# Dask (tests/test_dask_*.py): real clusters, imported only when a test asks for one (import
# ntkfast never imports dask, and the other tests do not need it).
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def dask_cluster(**worker_options):
    """A distributed.LocalCluster of 2 single-threaded worker processes and a client on it.

    The scheduler's HTTP server (dashboard) goes on a free port: on its default port 8787, a
    second cluster makes distributed warn, which this suite turns into errors. The nannies set
    OMP_NUM_THREADS=1 (and MKL_, OPENBLAS_NUM_THREADS, MALLOC_TRIM_THRESHOLD_) in *this* process's
    environment for the workers they spawn and leave them there; the environment is restored at
    exit, or later tests' subprocesses (test_fork.py) would run on one thread."""
    import distributed

    saved = dict(os.environ)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", **worker_options)
    client = distributed.Client(cluster)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def dask_client():
    with dask_cluster() as (_, client):
        yield client
