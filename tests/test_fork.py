"""Forked children after threaded calls (issue 11, item 2).

GCC's OpenMP runtime (libgomp) keeps its worker threads in a pool that fork does not copy: a child
forked after the parent ran a multi-threaded region used to hang forever in its first
multi-threaded call. Now such a child runs every call on one thread, with one RuntimeWarning per
process; its results are the parent's, bit for bit (they are for any thread count). A child
forked before any threaded call keeps its threads.

Every child runs under a timeout, so a regression fails instead of hanging: the Pool's result
has one (then the pool is terminated), and bare forks happen inside a subprocess whose process
group is killed.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

import ntkfast

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")

_X = np.random.default_rng(7).standard_normal((90, 6))
_Y = np.sin(_X[:, :2])
_NET = ntkfast.init_mlp([6, 32, 32, 2], seed=3)


def _compute(job: str, n_threads):
    if job == "ntk":
        return ntkfast.ntk(_X, depth=4, n_threads=n_threads)
    if job == "empirical_ntk":
        return ntkfast.empirical_ntk(_NET, _X, n_threads=n_threads)
    if job == "kernel_gd":
        k = ntkfast.ntk(_X, depth=3, n_threads=n_threads)
        return ntkfast.kernel_gd(k, _Y, [0.5, 2.0], loss="mse", n_threads=n_threads).f_train
    raise AssertionError(job)


def _in_child(job: str):
    """A Pool task: the result, this process's id, the RuntimeWarnings of the call and the thread
    count the process now reports. The child inherits pytest's warnings-as-errors filter; the
    expected warning is recorded here instead, and asserted on in the parent."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _compute(job, 2)             # two threads asked for, explicitly
        again = _compute(job, None)           # and the default
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    return job, os.getpid(), result, again, messages, ntkfast.get_num_threads()


def _fork_pool(processes: int):
    # Python 3.12+ warns (DeprecationWarning) about forking a process that runs threads; here
    # that is the point of the test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return multiprocessing.get_context("fork").Pool(processes)


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_fork_pool_after_threaded_calls_gives_the_parents_results():
    jobs = ["ntk", "empirical_ntk", "kernel_gd"] * 2
    want = {job: _compute(job, 2) for job in jobs}  # threaded calls in the parent first
    pool = _fork_pool(2)
    try:
        results = pool.map_async(_in_child, jobs, chunksize=1).get(timeout=300)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
    warned = {}
    for job, pid, result, again, messages, threads in results:
        np.testing.assert_array_equal(result, want[job], err_msg=job)
        np.testing.assert_array_equal(again, want[job], err_msg=job)
        assert threads == 1, "a child without OpenMP threads must say it runs on one"
        assert all("forked" in m and "'spawn'" in m for m in messages), messages
        warned[pid] = warned.get(pid, 0) + len(messages)
    assert set(warned.values()) == {1}, f"one warning per process expected, got {warned}"
    # the parent keeps its threads
    np.testing.assert_array_equal(_compute("ntk", 2), want["ntk"])


# A bare fork in a fresh interpreter: os.fork, or libc's fork() called through ctypes, which
# bypasses Python's fork hooks (the core's pthread_atfork handler still sees it). The child forks
# a grandchild, which must also run serially (its libgomp state is the same broken copy).
_FORK_SCRIPT = """
import ctypes, json, os, sys, warnings
import numpy as np, ntkfast
warnings.simplefilter("error")     # as under pytest: the expected warning is caught below
warnings.simplefilter("ignore", DeprecationWarning)   # Python 3.12+: fork with threads running
HOW, THREADED_FIRST = sys.argv[1], sys.argv[2] == "threaded"
x = np.random.default_rng(1).standard_normal((300, 5))   # eigh of order 300: numpy's threaded LAPACK
net = ntkfast.init_mlp([5, 40, 1], seed=0)
def calls():
    k = ntkfast.ntk(x, depth=4, n_threads=2)
    e = ntkfast.empirical_ntk(net, x, n_threads=2)
    g = ntkfast.kernel_gd(k, np.cos(x[:, :1]), [1.0], n_threads=2).f_train
    m = ntkfast.kernel_gd_mse(k, np.cos(x[:, :1]), [1.0]).f_train
    return [k, e, g, m]
want = calls() if THREADED_FIRST else [ntkfast.ntk(x, depth=4, n_threads=1)]
fork = ctypes.PyDLL(None).fork if HOW == "libc" else os.fork
def child(level):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = calls() + calls()
    report = {"level": level, "threads": ntkfast.get_num_threads(),
              "same": all(np.array_equal(a, b) for a, b in zip(want, got)),
              "warnings": [str(w.message) for w in caught]}
    print(json.dumps(report), flush=True)
    if level == 1:
        wait_for(fork(), 2)
def wait_for(pid, level):
    if pid == 0:
        try:
            child(level)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
wait_for(fork(), 1)
print(json.dumps({"level": 0, "threads": ntkfast.get_num_threads()}), flush=True)
"""


def _bare_fork(how: str, first: str) -> dict:
    # Own process group: on a timeout the hung (grand)children die with the script. numpy's
    # OpenBLAS gets its threads back (conftest sets one): its fork handling is under test too.
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    proc = subprocess.Popen([sys.executable, "-c", _FORK_SCRIPT, how, first], text=True, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"a forked child hung; it printed:\n{stdout}")
    assert proc.returncode == 0, stderr[-3000:]
    reports = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {r["level"]: r for r in reports}


def _assert_serial_with_one_warning(report):
    assert report["same"] and report["threads"] == 1, report
    assert len(report["warnings"]) == 1, report
    assert "'spawn' or 'forkserver'" in report["warnings"][0], report


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
@pytest.mark.parametrize("how", ["os", "libc"])
def test_bare_fork_after_threaded_calls_runs_serially(how):
    reports = _bare_fork(how, "threaded")
    assert sorted(reports) == [0, 1, 2], reports
    assert reports[0]["threads"] == ntkfast.get_num_threads()   # the parent keeps its threads
    _assert_serial_with_one_warning(reports[1])
    _assert_serial_with_one_warning(reports[2])                 # and so does a grandchild


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_fork_before_any_threaded_call_keeps_threads():
    reports = _bare_fork("os", "serial")
    assert sorted(reports) == [0, 1, 2], reports
    assert reports[1] == dict(level=1, threads=reports[0]["threads"], same=True, warnings=[])
    # the child then ran threaded calls: its own child has lost them
    _assert_serial_with_one_warning(reports[2])
