"""Validation of thread counts (``n_threads=``, ``set_num_threads``, ``--threads``), shared by
the compiled functions and the numpy references, which accept the same argument and refuse the
same values. Nothing here touches the compiled core; the policy that resolves a count for a call
is in ntkfast._threads."""
from __future__ import annotations

import operator
import os

import numpy as np


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# Range of the argument itself, the same on every machine: beyond it the count is a typo, refused
# with a message that names the argument.
MAX_THREADS = 4096
# Explicit counts are capped at this many threads per available CPU. Above the CPU count they only
# serve tests of thread invariance on small machines; the cap keeps the largest allowed request
# far from the process's thread limits.
OVERSUBSCRIPTION = 4


def check(n_threads, name: str) -> int:
    """Validate a count; negative counts become positive ones (uncapped)."""
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
        n = max(1, cpu_count() + 1 + n)
    return n


def check_unused_n_threads(n_threads) -> None:
    """For the numpy references, which accept ``n_threads`` for the same signature but leave the
    threading to numpy: refuse what the compiled functions refuse, use nothing."""
    if n_threads is not None:
        check(n_threads, "n_threads")
