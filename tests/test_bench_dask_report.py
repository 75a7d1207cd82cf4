"""The Dask section's report is printed even when its cases fail (one failed case must not lose
the others' figures): the error rows have as many cells as the table has columns."""
from __future__ import annotations

from dataclasses import asdict

from ntkfast.bench import dask_suite
from ntkfast.bench.machine import loadavg, machine_info


def test_report_with_failed_cases():
    ok = {"seconds": 2.0, "cpu_seconds": 3.9, "all_seconds": [2.5, 2.0, 2.1], "others_cpus": 0.0}
    results = {
        "machine": machine_info(2), "options": asdict(dask_suite.options(quick=True)),
        "headline": False,
        "gram": {"reference": ok, "zarr": {"error": "OSError: no space left on device"},
                 "disk": {"error": "OSError: no space left"}},
        "solver": {"local": {"error": "RuntimeError: the local solver broke"},
                   "cluster": {"error": "the local solver failed"}},
        "total_seconds": 3.0, "others_cpus_during_run": 0.0, "load_average_at_end": loadavg(),
    }
    results["checks"] = dask_suite.checks(results)
    text = dask_suite.report(results)
    assert "OSError: no space left on device" in text and "the local solver failed" in text
    assert "3.9 s" in text  # the reference's CPU seconds, in their column
