"""How ``ntkfast bench`` times a cell, and how it tells that other processes disturbed it.

Every timing is: one untimed warm-up call of the same size (the first touch of freshly allocated
memory can cost seconds on a VM, and it is not what we want to measure), then the best of up to
``repeat`` timed calls, stopping early once the timed calls have used ``max_time`` seconds.

Other processes on a small machine inflate the timings (an OpenMP team with one core taken can
run several times slower), so each cell also records how much CPU the rest of the machine used
meanwhile (/proc/stat minus this process); cells where that exceeds ``BUSY_CPUS`` are marked "!".

This file imports only the standard library: ``peers/nt_empirical_worker.py`` loads it by path in
an interpreter where ntkfast may not be installed.
"""
from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

MAX_TIME = 5.0  # seconds of timed calls per cell before best-of stops early
BUSY_CPUS = 0.25  # other processes using more than this many CPUs on average: cell marked "!"


@dataclass
class Timing:
    """One cell. ``status``: measured, extrapolated, skipped, n/a, not installed or error."""

    status: str
    seconds: Optional[float] = None
    runs: int = 0
    all_seconds: list = field(default_factory=list)
    note: str = ""
    # CPUs' worth of time other processes (and hypervisor steal) took while this cell was timed,
    # warm-up included; None where unknown or the cell took under 0.2 s.
    others_cpus: Optional[float] = None

    @property
    def known(self) -> bool:
        return self.seconds is not None

    @property
    def contended(self) -> bool:
        return self.others_cpus is not None and self.others_cpus > BUSY_CPUS


def busy_seconds() -> Optional[float]:
    """CPU seconds all processes have used since boot, steal included (Linux /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:9]]
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    t = os.times()
    return t.user + t.system


def own_and_children_seconds() -> float:
    """CPU time of this process and of its finished subprocesses (neural-tangents, memory rows)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def others_cpus(busy0, own0, busy1, own1, seconds: float, shortest: float = 0.0) -> Optional[float]:
    """CPUs other processes used on average over ``seconds`` between two readings of
    (busy_seconds, own CPU seconds); None without /proc/stat or for a window shorter than
    ``shortest`` (or empty)."""
    if busy0 is None or busy1 is None or seconds <= 0 or seconds < shortest:
        return None
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / seconds


def best_of(fn: Callable[[], object], repeat: int, max_time: float = MAX_TIME,
            warm_up: Optional[Callable[[], object]] = None) -> Timing:
    """A warm-up call of ``fn`` (or ``warm_up``, for calls whose memory is small but whose time
    is long), then the best of up to ``repeat`` timed calls."""
    busy0, own0, wall0 = busy_seconds(), own_seconds(), time.perf_counter()
    (warm_up or fn)()  # same sizes, so the timed calls reuse memory the process has touched
    times = []
    for _ in range(max(1, repeat)):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if sum(times) >= max_time:
            break
    busy1, own1, wall1 = busy_seconds(), own_seconds(), time.perf_counter()
    # /proc/stat counts in 10 ms ticks: too coarse to judge shorter windows.
    others = others_cpus(busy0, own0, busy1, own1, wall1 - wall0, shortest=0.2)
    return Timing("measured", min(times), len(times), times, others_cpus=others)


def single_call(fn: Callable[[], object]) -> Timing:
    """One timed call, no warm-up: for cells of many seconds, where a warm-up would double the
    run and the first touch of memory is a small part of it. An error becomes a cell."""
    busy0, own0, t0 = busy_seconds(), own_seconds(), time.perf_counter()
    try:
        fn()
    except Exception as exc:
        return Timing("error", note=f"{type(exc).__name__}: {exc}")
    t1 = time.perf_counter()
    others = others_cpus(busy0, own0, busy_seconds(), own_seconds(), t1 - t0, shortest=0.2)
    return Timing("measured", t1 - t0, 1, [t1 - t0], others_cpus=others)


def safe_time(make: Callable[[], Callable[[], object]], repeat: int, max_time: float = MAX_TIME) -> Timing:
    """Time ``make()`` like :func:`best_of`; an error in building or calling it becomes a cell."""
    try:
        return best_of(make(), repeat, max_time)
    except Exception as exc:  # a comparator failing must not lose the rest of the report
        return Timing("error", note=f"{type(exc).__name__}: {exc}")


def keeping(fn: Callable[[], object], box: dict) -> Callable[[], None]:
    """fn, storing its last result in box["out"] (for the agreement checks)."""
    def call():
        box.pop("out", None)
        box["out"] = fn()
    return call


def best_cell(cells: list) -> Timing:
    """The fastest of several cells of one measurement; contention = the worst round's."""
    known = [c for c in cells if c.known]
    if not known:
        return cells[0]
    best = min(known, key=lambda c: c.seconds)
    others = [c.others_cpus for c in known if c.others_cpus is not None]
    return Timing("measured", best.seconds, sum(c.runs for c in known),
                  [t for c in known for t in c.all_seconds], others_cpus=max(others) if others else None)
