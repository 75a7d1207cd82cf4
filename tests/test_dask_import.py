"""ntkfast.dask is optional: ``import ntkfast`` loads none of its dependencies."""
import subprocess
import sys


def test_import_ntkfast_loads_no_dask():
    code = ("import sys, ntkfast, numpy as np; ntkfast.ntk(np.eye(3), depth=2); "
            "print(sorted(m for m in ('dask', 'distributed', 'zarr', 'ntkfast.dask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_ntkfast_dask_is_there_on_request():
    code = "import ntkfast; print(ntkfast.dask.__name__, callable(ntkfast.dask.gram))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ntkfast.dask True", out.stdout + out.stderr
