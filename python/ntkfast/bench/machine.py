"""The machine a benchmark report ran on: CPUs, versions, thread count and load average, for the
results' ``"machine"`` entry and the lines that head each report."""
from __future__ import annotations

import os
import platform
from typing import Optional

import numpy as np


def machine_info(threads: Optional[int], neural_tangents: Optional[str] = None) -> dict:
    """The ``"machine"`` entry of a section's results; ``neural_tangents`` (its version or why it
    is missing) is included where the section compares with it."""
    import ntkfast

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = None
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover
        pass
    info = {
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "cpu_model": cpu_model,
        "ntkfast_threads": threads if threads is not None else ntkfast.get_num_threads(),
        "openmp_enabled": bool(ntkfast.openmp_enabled),
        "ntkfast_version": ntkfast.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }
    if neural_tangents is not None:
        info["neural_tangents"] = neural_tangents
    info["load_average_at_start"] = loadavg()
    return info


def loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):  # pragma: no cover - not Unix
        return None


def machine_lines(m: dict) -> list[str]:
    """The CPU and version lines that head the empirical and dynamics reports."""
    return [
        f"machine: {m['cpu_count']} CPUs ({m['cpus_available']} available)"
        + (f", {m['cpu_model']}" if m["cpu_model"] else ""),
        f"ntkfast {m['ntkfast_version']}: {m['ntkfast_threads']} threads; numpy {m['numpy_version']}; "
        f"python {m['python_version']}",
    ]


def fmt_load(v) -> str:
    return "unknown" if not v else ", ".join(f"{x:.2f}" for x in v)


def load_line(m: dict, results: dict) -> str:
    """The load averages at the start and the end of a section."""
    return (f"load average (1, 5, 15 min) at start: {fmt_load(m['load_average_at_start'])}; at end: "
            f"{fmt_load(results.get('load_average_at_end'))}")
