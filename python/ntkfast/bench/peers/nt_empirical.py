"""neural-tangents' empirical NTK, the optional comparator of the empirical section.

``empirical_ntk_fn(..., vmap_axes=0, STRUCTURED_DERIVATIVES)`` under jax.jit (see
``nt_empirical_worker``), in this process when importable, else in the interpreter given by
``--nt-python`` (its environment needs numpy, jax and neural_tangents, not ntkfast), which runs
``nt_empirical_worker.py`` by path and answers with one JSON line and an .npz of the kernels.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import tempfile
from typing import Optional

import numpy as np

from ..timing import Timing, keeping, safe_time


class NeuralTangentsEmpirical:
    """In this process when importable; else, with ``python``, a subprocess running
    ``nt_empirical_worker.py`` in that interpreter."""

    def __init__(self, python: Optional[str] = None):
        self.python, self.version, self.where = python, None, None
        try:
            from . import nt_empirical_worker as worker
            self.version = worker.versions()
            self.worker, self.where, self.status = worker, "in this process", "ok"
            return
        except ImportError:
            self.status = "not installed"
        except Exception as exc:
            self.status = f"import failed ({type(exc).__name__}: {exc})"
        if python:
            self.status, self.where = "ok", f"subprocess: {python}"

    @property
    def available(self) -> bool:
        return self.status == "ok"

    def measure(self, net_by_dtype: dict, x: np.ndarray, repeat: int, output="trace"):
        """{dtype: (Timing, kernel or None)}."""
        if self.where == "in this process":
            out = {}
            for dt, net in net_by_dtype.items():
                box = {}
                cell = safe_time(lambda: keeping(self.worker.caller(
                    x, net.weights, net.biases, activation=net.activation.name,
                    weight_std=net.weight_std, bias_std=net.bias_std, dtype=dt, output=output),
                    box), repeat)
                out[dt] = (cell, box.pop("out", None))
                gc.collect()
            return out
        return self._subprocess(net_by_dtype, x, repeat, output)

    def _subprocess(self, net_by_dtype: dict, x, repeat: int, output: str):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nt_empirical_worker.py")
        net = next(iter(net_by_dtype.values()))
        with tempfile.TemporaryDirectory(prefix="ntkfast-bench-nt-") as tmp:
            data, result, spec = (os.path.join(tmp, f) for f in ("in.npz", "out.npz", "spec.json"))
            # float64 parameters: each dtype's network casts from them as init_mlp's do
            net64 = net_by_dtype.get("float64", net)
            arrays = {"x": np.asarray(x, dtype=np.float64)}
            for l, (w, b) in enumerate(zip(net64.weights, net64.biases)):
                arrays[f"weight_{l}"] = np.asarray(w, dtype=np.float64)
                arrays[f"bias_{l}"] = np.asarray(b, dtype=np.float64)
            np.savez(data, **arrays)
            with open(spec, "w") as f:
                json.dump({"data": data, "result": result, "dtypes": list(net_by_dtype),
                           "activation": net.activation.name, "weight_std": net.weight_std,
                           "bias_std": net.bias_std, "output": output, "repeat": repeat}, f)
            try:
                proc = subprocess.run([self.python, script, spec], capture_output=True, text=True,
                                      timeout=3600)
                reply = json.loads(proc.stdout.strip().splitlines()[-1])
            except Exception as exc:
                err = f"{type(exc).__name__}: {exc}"
                if "proc" in locals():
                    err += "; stderr: " + proc.stderr.strip()[-500:]
                self.status = f"subprocess failed ({err})"
                return {dt: (Timing("error", note=self.status), None) for dt in net_by_dtype}
            if reply.get("status") != "ok":
                self.status = f"{reply.get('status')} in {self.python}"
                return {dt: (Timing("not installed", note=self.status), None) for dt in net_by_dtype}
            self.version = reply["version"]
            kernels = dict(np.load(result)) if os.path.exists(result) else {}
            return {dt: (Timing(**reply["cells"][dt]), kernels.get(dt)) for dt in net_by_dtype}

