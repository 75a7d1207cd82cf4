"""Long numpy/LAPACK calls that Ctrl-C can still stop.

numpy releases the GIL inside LAPACK and BLAS but runs Python's signal handlers only when the call
returns, so a KeyboardInterrupt during an ``eigh`` of order 6000 arrived 25 s late. Here the call
runs in a worker thread while the calling (main) thread waits in short slices; a signal handler
that raises (KeyboardInterrupt) then interrupts the wait within one slice. The abandoned worker
cannot be stopped (LAPACK has no cancellation): it finishes in the background, keeping its inputs
and its result in memory until then, and the result is dropped. Exceptions raised by the call
propagate unchanged (the same object, its traceback extended by the re-raise).

The worker is not a daemon thread: if Python exits while it still runs (a script ended by the
Ctrl-C), the exit waits for it, with a note on stderr, because a daemon thread still inside
LAPACK while the interpreter and OpenBLAS are torn down crashed the process (SIGSEGV at exit). A
second Ctrl-C during that wait exits at once, at that risk.

Pure Python and numpy, nothing compiled: the numpy references (ntkfast.reference) use it too and
must not depend on the C++ core. Small problems, and calls from threads other than the main one
(which never receive KeyboardInterrupt), run directly.
"""
from __future__ import annotations

import sys
import threading
from typing import Callable, TypeVar

import numpy as np

T = TypeVar("T")

# How long the caller sleeps between checks for a signal.
_SLICE_S = 0.05
# Below these sizes the call takes milliseconds, and a thread (about 0.1 ms to start and join)
# buys nothing: eigh of order 256 takes ~8 ms on one core; a product of 512³ multiply-adds ~7 ms.
EIGH_MIN_ORDER = 256
CHOLESKY_MIN_ORDER = 512  # a sixth of eigh's flops: ~5 ms on one core
MATMUL_MIN_WORK = 512 ** 3


def run(fn: Callable[..., T], *args) -> T:
    """``fn(*args)``, run so that a KeyboardInterrupt reaches the caller within ~0.05 s."""
    if threading.current_thread() is not threading.main_thread():
        return fn(*args)
    box: list = []
    done = threading.Event()

    def work() -> None:
        try:
            box.append((True, fn(*args)))
        except BaseException as error:  # noqa: BLE001 - handed to the caller as it is
            box.append((False, error))
        finally:
            done.set()

    worker = threading.Thread(target=work, name=f"ntkfast-{getattr(fn, '__name__', 'call')}")
    worker.start()
    try:
        while not done.wait(_SLICE_S):
            pass
    except BaseException:
        _abandoned.append(worker)
        _announce_at_exit()
        raise
    ok, value = box.pop()
    if ok:
        return value
    try:
        raise value
    finally:
        del value  # no cycle through this frame's traceback


_abandoned: list[threading.Thread] = []
_announcing = False


def _announce_at_exit() -> None:
    """Once: at interpreter exit, before Python joins the remaining threads, say why it waits."""
    global _announcing
    register = getattr(threading, "_register_atexit", None)  # CPython >= 3.9: runs before the joins
    if _announcing or register is None:
        return
    _announcing = True

    def announce() -> None:
        alive = [t for t in _abandoned if t.is_alive()]
        if alive:
            print(f"ntkfast: waiting for {len(alive)} interrupted LAPACK/BLAS call(s) to finish before "
                  "exit (they cannot be cancelled); Ctrl-C again exits at once", file=sys.stderr,
                  flush=True)

    register(announce)


def eigh(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.linalg.eigh(a)``, interruptible for large orders."""
    if a.shape[-1] < EIGH_MIN_ORDER:
        return np.linalg.eigh(a)
    return run(np.linalg.eigh, a)


def cholesky(a: np.ndarray) -> np.ndarray:
    """``np.linalg.cholesky(a)``, interruptible for large orders."""
    if a.shape[-1] < CHOLESKY_MIN_ORDER:
        return np.linalg.cholesky(a)
    return run(np.linalg.cholesky, a)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (2-D), interruptible for large products."""
    if a.shape[0] * a.shape[1] * b.shape[1] < MATMUL_MIN_WORK:
        return a @ b
    return run(np.matmul, a, b)
