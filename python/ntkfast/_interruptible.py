"""Long numpy/LAPACK calls that Ctrl-C can still stop.

numpy releases the GIL inside LAPACK and BLAS but runs Python's signal handlers only when the call
returns, so a KeyboardInterrupt during an ``eigh`` of order 6000 arrived 25 s late. Here the call
runs in a daemon worker thread while the calling (main) thread waits in short slices; a signal
handler that raises (KeyboardInterrupt) then interrupts the wait within one slice. The abandoned
worker cannot be stopped (LAPACK has no cancellation): it finishes in the background, keeping its
inputs and its result in memory until then, and the result is dropped. Exceptions raised by the
call propagate unchanged (the same object, its traceback extended by the re-raise).

Pure Python and numpy, nothing compiled: the numpy references (ntkfast.reference) use it too and
must not depend on the C++ core. Small problems, and calls from threads other than the main one
(which never receive KeyboardInterrupt), run directly.
"""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

import numpy as np

T = TypeVar("T")

# How long the caller sleeps between checks for a signal.
_SLICE_S = 0.05
# Below these sizes the call takes milliseconds, and a thread (about 0.1 ms to start and join)
# buys nothing: eigh of order 256 takes ~8 ms on one core; a product of 512³ multiply-adds ~7 ms.
EIGH_MIN_ORDER = 256
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

    worker = threading.Thread(target=work, name=f"ntkfast-{getattr(fn, '__name__', 'call')}",
                              daemon=True)
    worker.start()
    while not done.wait(_SLICE_S):
        pass
    ok, value = box.pop()
    if ok:
        return value
    try:
        raise value
    finally:
        del value  # no cycle through this frame's traceback


def eigh(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.linalg.eigh(a)``, interruptible for large orders."""
    if a.shape[-1] < EIGH_MIN_ORDER:
        return np.linalg.eigh(a)
    return run(np.linalg.eigh, a)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (2-D), interruptible for large products."""
    if a.shape[0] * a.shape[1] * b.shape[1] < MATMUL_MIN_WORK:
        return a @ b
    return run(np.matmul, a, b)
