"""What the empirical section of ``ntkfast bench`` measures: the headline network and data, the
memory cases, the agreement tolerances, the options and the rows of its results."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .timing import Timing

N_FEATURES = 32
SEED = 0
ACTIVATION = "relu"
WEIGHT_STD = 1.0
BIAS_STD = 0.0
HEADLINE_WIDTHS = (N_FEATURES, 1024, 1024, 1)
HEADLINE_N = 2048
MEMORY_LIMIT = 24e9  # bytes: the bound for n_L = 10, output="full", N = 2048
FORCED_BUDGET = 256 << 20  # memory_budget of the blocked N = 20000 row
# (label, widths, N, output, dtype, memory_budget); the n_L = 10 row carries MEMORY_LIMIT.
MEMORY_CASES = (
    ("n_L=10 full", HEADLINE_WIDTHS[:-1] + (10,), HEADLINE_N, "full", "float32", None),
    ("n_L=10 full", HEADLINE_WIDTHS[:-1] + (10,), HEADLINE_N, "full", "float64", None),
    ("N=20000 trace", HEADLINE_WIDTHS, 20000, "trace", "float32", None),
    ("N=20000 trace", HEADLINE_WIDTHS, 20000, "trace", "float64", FORCED_BUDGET),
)
TOLERANCE = {"float32": 1e-4, "float64": 1e-10}  # agreement of the comparators with ntkfast


@dataclass
class Options:
    widths: tuple = HEADLINE_WIDTHS
    n: int = HEADLINE_N
    dtypes: tuple = ("float32", "float64")
    repeat: int = 3
    threads: Optional[int] = None
    reference: bool = True
    # N of the reference's rows when it is not timed at n (quick: the reference alone would
    # take half a minute at N = 2048); those rows time ntkfast and the floor at that N as well.
    reference_n: Optional[int] = None
    torch: bool = True
    torch_dtypes: tuple = ("float32",)
    torch_repeat: int = 1
    nt: bool = True
    nt_python: Optional[str] = None
    memory: bool = True
    memory_cases: tuple = MEMORY_CASES
    quick: bool = False


def options(quick: bool = False, **overrides) -> Options:
    base = dict(repeat=1, reference_n=512, torch=False, nt=False, memory=False) if quick else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Options(quick=quick, **base)


@dataclass
class Row:
    dtype: str
    n: int
    widths: tuple
    fast: Timing
    reference: Timing
    floor: Timing
    fwd_bwd: Timing
    torch: Timing
    nt: Timing
    # max |K - K_fast| / max |K_fast| per comparator ("reference", "torch", "nt")
    deviation: dict = field(default_factory=dict)


@dataclass
class MemoryRow:
    label: str
    dtype: str
    n: int
    widths: tuple
    output: str
    memory_budget: Optional[int]
    status: str = "measured"  # measured, error
    seconds: Optional[float] = None
    others_cpus: Optional[float] = None
    peak_rss: Optional[int] = None  # bytes, VmHWM of the subprocess after the call
    baseline_rss: Optional[int] = None  # bytes, VmRSS before the call (interpreter, data, net)
    output_bytes: Optional[int] = None
    feature_bytes: Optional[int] = None  # the features of all N inputs at once
    budget_used: Optional[int] = None  # memory_budget, or the default it resolved to
    blocked: Optional[bool] = None
    note: str = ""



def n_params(widths) -> int:
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def inputs(n: int, n_features: int = N_FEATURES) -> np.ndarray:
    """The first n rows of the section's standard-normal data."""
    return np.random.default_rng(SEED).standard_normal((n, n_features))


def network(widths, dtype: str):
    """The section's MLP of these widths at initialization."""
    import ntkfast

    return ntkfast.init_mlp(list(widths), activation=ACTIVATION, weight_std=WEIGHT_STD,
                            bias_std=BIAS_STD, parameterization="ntk", seed=SEED, dtype=dtype)
