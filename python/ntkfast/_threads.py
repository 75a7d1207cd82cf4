"""Thread-count policy shared by every compiled call: one resolution path.

- ``n_threads=None`` means the process-wide setting from :func:`set_num_threads`, or, if that was
  never called, OpenMP's default: ``OMP_NUM_THREADS`` as the OpenMP runtime parsed it (libgomp
  ignores a value it cannot parse, with its own message on stderr, and then uses every CPU),
  capped at the CPUs available to this process (``os.sched_getaffinity``), as scikit-learn's
  ``_openmp_effective_n_threads`` caps OpenMP's default (scikit-learn lets a set OMP_NUM_THREADS
  through; here it is capped too: above the CPU count it only oversubscribes, and a huge value
  crashed the process). A huge ``OMP_NUM_THREADS`` therefore means "all CPUs".
- An explicit count (``n_threads=k`` or ``set_num_threads(k)``) is honoured up to
  ``OVERSUBSCRIPTION`` times the CPU count and capped there: more threads than that are never
  faster, and libgomp aborts the whole process when it cannot create a thread. Negative values
  count down from the number of CPUs as in scikit-learn (-1: all CPUs, -2: all but one); 0, counts
  beyond ``MAX_THREADS`` and non-integers are errors.
- In a process forked after a multi-threaded call, every call runs on one thread (GCC's OpenMP
  runtime does not survive fork; see src/cpp/ntkfast/threading.hpp), with one RuntimeWarning.

Results are bit-identical for any thread count, so the caps change only the speed.
"""
from __future__ import annotations

import os
import warnings

from . import _core
from ._thread_args import MAX_THREADS, OVERSUBSCRIPTION, check, cpu_count  # noqa: F401 (MAX_THREADS: the policy's range)

_global_threads: int | None = None

_FORK_MESSAGE = (
    "ntkfast: this process was forked after ntkfast had run a multi-threaded OpenMP region; the "
    "OpenMP runtime's threads do not survive fork (calling into it with more than one thread "
    "would hang), so every ntkfast call in this process runs on one thread. To keep threads in "
    "child processes, use the 'spawn' or 'forkserver' start method "
    "(multiprocessing.get_context('spawn')), or fork before the first threaded ntkfast call.")
_fork_warned_pid: int | None = None


def _requested(n: int | None) -> int:
    """The count before fork handling: a checked explicit count, capped, or the default."""
    cpus = cpu_count()
    if n is None:
        n = _global_threads
    if n is None:
        return max(1, min(int(_core.default_threads()), cpus))
    return min(n, OVERSUBSCRIPTION * cpus)


def set_num_threads(n_threads: int | None) -> None:
    """Set the default thread count of all ntkfast calls; ``None`` restores OpenMP's default
    (``OMP_NUM_THREADS``, capped at the number of CPUs)."""
    global _global_threads
    _global_threads = None if n_threads is None else check(n_threads, "n_threads")


def get_num_threads() -> int:
    """The thread count an ntkfast call with ``n_threads=None`` uses (1 in a process forked after
    a multi-threaded call)."""
    if _core.threads_lost_to_fork():
        return 1
    return _requested(None)


def resolve_n_threads(n_threads: int | None) -> int:
    """The thread count for a compiled call about to run (the only path to one)."""
    want = _requested(None if n_threads is None else check(n_threads, "n_threads"))
    got = int(_core.claim_threads(want))
    if got < want:
        _warn_forked()
    return got


def _warn_forked() -> None:
    global _fork_warned_pid
    pid = os.getpid()
    if _fork_warned_pid != pid:  # once per process (the flag is inherited by a forked child)
        _fork_warned_pid = pid
        # stacklevel: _warn_forked, resolve_n_threads, the public function, its caller
        warnings.warn(_FORK_MESSAGE, RuntimeWarning, stacklevel=4)
