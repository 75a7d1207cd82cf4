"""Thread-count policy shared by every compiled call.

``n_threads=None`` means the process-wide setting from :func:`set_num_threads`, or, if that was
never called, OpenMP's default (which honours ``OMP_NUM_THREADS``). Negative values count down
from the number of CPUs as in scikit-learn (-1: all CPUs, -2: all but one); 0 is an error.
"""
from __future__ import annotations

import operator
import os

import numpy as np

from . import _core

_global_threads: int | None = None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# More threads than any machine offers is a typo; it would fail deep in OpenMP (or the binding's
# int) with a message that does not name the argument.
MAX_THREADS = 4096


def _check(n_threads, name: str) -> int:
    try:
        if isinstance(n_threads, (bool, np.bool_)):
            raise TypeError
        n = operator.index(n_threads)
    except TypeError:
        raise TypeError(f"{name}: expected an integer or None, got {type(n_threads).__name__}") from None
    if n == 0:
        raise ValueError(f"{name}: must be a positive thread count or a negative count from the number of CPUs, got 0")
    if abs(n) > MAX_THREADS:
        raise ValueError(f"{name}: expected a thread count between -{MAX_THREADS} and {MAX_THREADS}, got {n}")
    if n < 0:
        n = max(1, _cpu_count() + 1 + n)
    return n


def set_num_threads(n_threads: int | None) -> None:
    """Set the default thread count of all ntkfast calls; ``None`` restores OpenMP's default."""
    global _global_threads
    _global_threads = None if n_threads is None else _check(n_threads, "n_threads")


def get_num_threads() -> int:
    """The thread count an ntkfast call with ``n_threads=None`` uses."""
    if _global_threads is not None:
        return _global_threads
    return max(1, int(_core.default_threads()))


def check_unused_n_threads(n_threads) -> None:
    """For the numpy references, which accept ``n_threads`` for the same signature but leave the
    threading to numpy: refuse what the compiled functions refuse, use nothing."""
    if n_threads is not None:
        _check(n_threads, "n_threads")


def resolve_n_threads(n_threads: int | None) -> int:
    if n_threads is None:
        return get_num_threads()
    return _check(n_threads, "n_threads")
