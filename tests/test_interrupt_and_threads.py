"""Long calls stop on Ctrl-C; the thread count follows n_threads, set_num_threads and OMP_NUM_THREADS.

The thread policy (ntkfast/_threads.py): OMP_NUM_THREADS and OpenMP's default are capped at the CPUs
available to the process; explicit counts are honoured up to OVERSUBSCRIPTION times that. Whatever
the environment says, a call must return the right result, never crash the process (libgomp aborts
it when thread creation fails). Each such case runs in a fresh interpreter (OMP_NUM_THREADS is read
at start-up, and a crash must not take pytest with it), with a timeout.
"""
import _thread
import functools
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import ntkfast
from ntkfast import _core, _interruptible, _threads

CPUS = len(os.sched_getaffinity(0))


def test_ctrl_c_interrupts_a_long_call():
    # Several seconds of work; the interrupt arrives after 0.3 s. The KeyboardInterrupt must come
    # out of the compiled call itself (between chunks), not after it returned.
    x = np.random.default_rng(0).normal(size=(6000, 8))
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            ntkfast.ntk(x, depth=40, activation="erf", n_threads=1)
    finally:
        timer.cancel()
    assert info.traceback[-1].name == "_run"


def test_ctrl_c_interrupts_an_empirical_ntk():
    # A multi-second empirical NTK; the KeyboardInterrupt must come out of the compiled Gram
    # call (checked between chunks of tiles), not after it finished.
    net = ntkfast.init_mlp([8, 512, 512, 1], seed=0)
    x = np.random.default_rng(0).normal(size=(6000, 8))
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            ntkfast.empirical_ntk(net, x, n_threads=1)
    finally:
        timer.cancel()
    # raised from within a compiled call: the Gram tiles (run) or, when the interrupt lands
    # early (slow sanitizer builds, a loaded machine), the forward/backward pass (features)
    assert info.traceback[-1].name in ("run", "features")


def _threads_in_subprocess(env_threads, code="import ntkfast; print(ntkfast.get_num_threads())"):
    env = dict(os.environ, OMP_NUM_THREADS=str(env_threads))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return int(out.stdout.strip())


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_omp_num_threads_is_the_default():
    assert _threads_in_subprocess(1) == 1
    assert _threads_in_subprocess(CPUS) == CPUS
    # capped at the CPUs of the process, as scikit-learn caps its OpenMP default
    assert _threads_in_subprocess(CPUS + 1) == CPUS


# Every compiled family in one script: infinite-width kernels, the empirical NTK (OpenBLAS inside
# OpenMP tiles), the kernel ODE and MLP training. It prints get_num_threads() and a digest of the
# results, which must match the same calls on one thread here (results are bit-identical for any
# count). OMP_NUM_THREADS=100000 crashed with SIGSEGV, 60000 with "Thread creation failed".
_RESULTS_SCRIPT = """
import hashlib, json, numpy as np, ntkfast
N_THREADS = {n_threads}
def results(n_threads):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 6))
    net = ntkfast.init_mlp([6, 24, 24, 2], seed=2)
    k = ntkfast.ntk(x, depth=3, n_threads=n_threads)
    e = ntkfast.empirical_ntk(net, x, n_threads=n_threads)
    g = ntkfast.kernel_gd(k, np.sin(x[:, :2]), [0.5, 1.0], n_threads=n_threads).f_train
    c = ntkfast.kernel_gd_mse(k[:30, :30], np.sin(x[:30, :2]), np.inf, k_test_train=k[30:, :30],
                              n_threads=n_threads).f_test
    h = ntkfast.train(net, x, np.sin(x[:, :2]), lr=0.3, steps=2, progress=False,
                      n_threads=n_threads).f_train
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in (k, e, g, c, h))).hexdigest()
if __name__ == "__main__":
    print(json.dumps({{"threads": ntkfast.get_num_threads(), "digest": results(N_THREADS)}}))
"""


@functools.lru_cache(maxsize=None)
def _expected_digest():
    namespace = {}
    exec(_RESULTS_SCRIPT.format(n_threads=1), namespace)
    return namespace["results"](1)


def _json_line(out: subprocess.CompletedProcess) -> dict:
    """The JSON line a script printed last (libraries may print their own lines too)."""
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert out.returncode == 0 and lines, (
        f"rc {out.returncode}\nstdout:\n{out.stdout[-2000:]}\nstderr:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


def _run_results_script(env_threads, n_threads=None, setup=""):
    env = dict(os.environ)
    if env_threads is None:
        env.pop("OMP_NUM_THREADS", None)
    else:
        env["OMP_NUM_THREADS"] = env_threads
    code = setup + _RESULTS_SCRIPT.format(n_threads=n_threads)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    return _json_line(out)


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
@pytest.mark.parametrize("env_threads, threads", [
    ("100000", CPUS), ("60000", CPUS),          # the crash and abort
    ("99999999999", CPUS),                      # beyond int: libgomp hands back a truncated value
    ("3000000000", CPUS),                       # beyond int: truncated to a negative one
    ("4,2", min(4, CPUS)),                      # nested levels: the first counts
    # refused by libgomp itself (its own message on stderr): OpenMP's default, every CPU
    ("0", CPUS), ("-3", CPUS), ("abc", CPUS), ("", CPUS),
])
def test_any_omp_num_threads_gives_the_right_result(env_threads, threads):
    got = _run_results_script(env_threads)
    assert got["threads"] == threads
    assert got["digest"] == _expected_digest()


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_the_largest_explicit_count_runs():
    # n_threads=MAX_THREADS is allowed; it runs on OVERSUBSCRIPTION x CPUS threads, not 4096
    got = _run_results_script("1", n_threads=_threads.MAX_THREADS,
                              setup=f"import ntkfast; ntkfast.set_num_threads({_threads.MAX_THREADS})\n")
    assert got["threads"] == _threads.OVERSUBSCRIPTION * CPUS
    assert got["digest"] == _expected_digest()


def test_set_num_threads_overrides_and_resets():
    before = ntkfast.get_num_threads()
    try:
        ntkfast.set_num_threads(1)
        assert ntkfast.get_num_threads() == 1
        ntkfast.set_num_threads(-1)
        assert ntkfast.get_num_threads() == CPUS
        ntkfast.set_num_threads(CPUS + 1)                 # oversubscription is honoured...
        assert ntkfast.get_num_threads() == CPUS + 1
        ntkfast.set_num_threads(_threads.MAX_THREADS)     # ...up to a cap
        assert ntkfast.get_num_threads() == _threads.OVERSUBSCRIPTION * CPUS
        ntkfast.set_num_threads(-_threads.MAX_THREADS)
        assert ntkfast.get_num_threads() == 1
    finally:
        ntkfast.set_num_threads(None)
    assert ntkfast.get_num_threads() == before
    assert 1 <= before <= CPUS


@pytest.mark.parametrize("bad", [0, "2", 1.5])
def test_set_num_threads_rejects_bad_values(bad):
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        ntkfast.set_num_threads(bad)


@pytest.mark.parametrize("bad", [_threads.MAX_THREADS + 1, -_threads.MAX_THREADS - 1, True])
def test_n_threads_out_of_range_is_refused(bad):
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        ntkfast.ntk(np.ones((2, 3)), depth=1, n_threads=bad)


# --- Ctrl-C during LAPACK ------------------------------------------------------------------------
# numpy runs signal handlers only when eigh returns: before the fix, kernel_gd_mse at N = 6000
# raised KeyboardInterrupt 25 s after SIGINT. The script runs in its own interpreter so that the
# abandoned eigh (it finishes in the background) dies with it instead of loading the next tests.
_EIGH_INTERRUPT_SCRIPT = """
import _thread, json, threading, time, traceback
import numpy as np, ntkfast
n = {n}
rng = np.random.default_rng(0)
a = rng.random((n, n))
k = n * np.eye(n) + (a + a.T)    # positive definite; eigh costs the same as for a real kernel
y = rng.standard_normal(n)
sent = []
def interrupt():
    sent.append(time.perf_counter())
    _thread.interrupt_main()
# The interrupt comes {delay} s after the factorization starts (not after the call does: under
# load the kernel checks before it can take longer than the delay, and an interrupt there is
# not what this tests).
routine = np.linalg.{routine}
def timed_routine(a, *args, **kwargs):
    threading.Timer({delay}, interrupt).start()
    return routine(a, *args, **kwargs)
np.linalg.{routine} = timed_routine
start = time.perf_counter()
try:
    ntkfast.{call}
    out = {{"finished_after": time.perf_counter() - start}}
except KeyboardInterrupt as error:
    frames = traceback.extract_tb(error.__traceback__)
    out = {{"latency": time.perf_counter() - sent[0],
            "where": [f.name for f in frames if f.filename.endswith("_interruptible.py")]}}
print(json.dumps(out), flush=True)
{exit}
"""


@pytest.mark.parametrize("call,routine", [
    ("kernel_gd_mse(k, y, [1.0, np.inf])", "eigh"),
    ("reference.kernel_gd_mse(k, y, [1.0, np.inf])", "eigh"),
    # t = inf only: the reference's Cholesky (a sixth of the work: N = 6000 takes seconds)
    ("reference.kernel_gd_mse(k, y, [np.inf])", "cholesky"),
])
def test_ctrl_c_interrupts_an_eigh(call, routine):
    # N = 4000: the eigh takes over 10 s on one BLAS thread (conftest sets OPENBLAS_NUM_THREADS=1
    # for the suite); the interrupt comes 0.5 s into it and must be raised within 1 s (it came
    # 12.2 s after it before the fix).
    # os._exit: this test is about the latency; the exit after it (which waits for the abandoned
    # eigh) is the next test's.
    n = 4000 if routine == "eigh" else 6000
    code = _EIGH_INTERRUPT_SCRIPT.format(n=n, delay=0.5, call=call, routine=routine,
                                         exit="import os; os._exit(0)")
    got = _json_line(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    timeout=300))
    assert "latency" in got, f"not interrupted: the call finished after {got['finished_after']:.1f} s"
    assert got["latency"] < 1.0
    assert got["where"] == [routine, "run"]   # raised while waiting for the worker thread


def test_ctrl_c_interrupts_the_compiled_cholesky():
    # kernel_gd_mse at t = inf only factors in C++ (seconds at N = 6000 on one thread); the
    # KeyboardInterrupt must come out of the compiled factorization (checked between groups of
    # block columns), not after it finished.
    rng = np.random.default_rng(0)
    a = rng.random((6000, 6000))
    k = 6000 * np.eye(6000) + (a + a.T)
    del a
    y = rng.standard_normal(6000)
    # The interrupt must land after the checks of the arguments: a compiled pass over K
    # (symmetry, finiteness, scale) that takes seconds in the sanitizer build. Timed alone first.
    start = time.perf_counter()
    _core.kernel_stats(k, True, 1)
    checks = time.perf_counter() - start
    timer = threading.Timer(checks + 0.5, _thread.interrupt_main)
    timer.start()
    start = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            ntkfast.kernel_gd_mse(k, y, np.inf, n_threads=1)
    finally:
        timer.cancel()
    assert info.traceback[-1].name == "solve"  # ntkfast._cholesky.solve, in the compiled call
    assert time.perf_counter() - start < checks + 3.0, "the interrupt was honoured only after the call"


def test_exit_after_an_interrupted_eigh_waits_for_it_instead_of_crashing():
    # The abandoned worker is still inside LAPACK when the script ends; as a daemon thread it made
    # the interpreter's exit crash now and then (SIGSEGV, rc -11, seen in the test suite). Exit
    # now waits for it, says so on stderr, and ends normally.
    code = _EIGH_INTERRUPT_SCRIPT.format(n=2500, delay=0.2, call="kernel_gd_mse(k, y, [1.0, np.inf])",
                                         routine="eigh", exit="")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.returncode, out.stderr)
    assert "latency" in _json_line(out)
    assert "waiting for 1 interrupted LAPACK/BLAS call(s) to finish before exit" in out.stderr


def test_interruptible_run_stops_waiting_on_ctrl_c():
    # time.sleep releases the GIL like LAPACK does; the worker sleeps on after the interrupt
    timer = threading.Timer(0.2, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            _interruptible.run(time.sleep, 5.0)
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 1.2


def test_interruptible_run_returns_and_raises_what_the_call_does():
    a = np.random.default_rng(1).standard_normal((_interruptible.EIGH_MIN_ORDER, 3))
    k = a @ a.T
    lam, v = _interruptible.eigh(k)
    want_lam, want_v = np.linalg.eigh(k)
    np.testing.assert_array_equal(lam, want_lam)
    np.testing.assert_array_equal(v, want_v)
    big = np.ones((600, 600))
    np.testing.assert_array_equal(_interruptible.matmul(big, big), big @ big)

    error = np.linalg.LinAlgError("from the worker")

    def fail():
        raise error

    with pytest.raises(np.linalg.LinAlgError) as info:
        _interruptible.run(fail)
    assert info.value is error                  # the same object, not a copy or a wrapper
    with pytest.raises(np.linalg.LinAlgError, match="square"):  # numpy's, through the worker
        _interruptible.eigh(np.ones((_interruptible.EIGH_MIN_ORDER, _interruptible.EIGH_MIN_ORDER + 1)))
