"""A one-line progress bar on stderr for long calls (no dependency).

``progress=None`` shows it only when stderr is a terminal, so logs and pipes stay clean;
``True``/``False`` force it on or off. Redraws at most every ``min_interval`` seconds.
"""
from __future__ import annotations

import sys
import time

import numpy as np

_WIDTH = 24


def wanted(progress, stream=None) -> bool:
    """Resolve the ``progress=`` argument."""
    if progress is None:
        stream = sys.stderr if stream is None else stream
        isatty = getattr(stream, "isatty", None)
        try:
            return bool(isatty and isatty())
        except (ValueError, OSError):  # a closed or odd stream
            return False
    if isinstance(progress, (bool, np.bool_)):  # numpy's bools too, as everywhere else
        return bool(progress)
    raise TypeError(f"progress: expected True, False or None (a bar when stderr is a terminal), got {progress!r}")


class ProgressBar:
    """``with ProgressBar(total, enabled=...) as bar: bar.update(done, note)``."""

    def __init__(self, total: int, *, enabled: bool, label: str = "", unit: str = "",
                 stream=None, min_interval: float = 0.1):
        self.total = max(int(total), 0)
        self.enabled = enabled
        self.label, self.unit = label, unit
        self.stream = stream
        self.min_interval = min_interval
        self._start = time.perf_counter()
        self._last = -float("inf")
        self._shown = False

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _out(self):
        return sys.stderr if self.stream is None else self.stream

    def update(self, done: int, note: str = "", *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        frac = 1.0 if self.total == 0 else min(max(done / self.total, 0.0), 1.0)
        filled = int(round(frac * _WIDTH))
        bar = "#" * filled + "." * (_WIDTH - filled)
        text = (f"\r{self.label} {frac:4.0%} [{bar}] {done}/{self.total} {self.unit}"
                f"  {now - self._start:.1f} s{'  ' + note if note else ''}")
        out = self._out()
        out.write(text.ljust(79))
        out.flush()
        self._shown = True

    def close(self) -> None:
        if self.enabled and self._shown:
            out = self._out()
            out.write("\n")
            out.flush()
            self._shown = False
