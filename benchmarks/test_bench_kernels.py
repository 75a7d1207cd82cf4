"""ntk(x) timings, fast C++ path and numpy reference side by side in one group per problem.

    pytest benchmarks --benchmark-enable       # timings (reference tanh at N=2000: ~10 s/round)
    pytest benchmarks                          # smoke test, every case once: pyproject.toml's
                                               # addopts has --benchmark-disable (what CI runs)

`ntkfast bench` prints the larger side-by-side report (N up to 8000, float32, neural-tangents).
"""
import numpy as np
import pytest

import ntkfast
from ntkfast import reference

DEPTH = 8
N_FEATURES = 32
IMPLEMENTATIONS = {"fast": ntkfast.ntk, "reference": reference.ntk}
# The reference costs seconds per call; a few rounds are enough for a 10x-100x comparison.
ROUNDS = {"fast": 10, "reference": 3}


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).standard_normal((2000, N_FEATURES))


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("n", [500, 2000])
@pytest.mark.parametrize("implementation", ["fast", "reference"])
def test_ntk(benchmark, data, implementation, n, activation):
    benchmark.group = f"ntk {activation} N={n} depth={DEPTH} float64"
    benchmark.extra_info.update(implementation=implementation, n=n, activation=activation,
                                depth=DEPTH)
    x = data[:n]
    # warmup_rounds=1: the first touch of freshly allocated memory is slow on VMs, and is not
    # what is measured. With --benchmark-disable, pedantic runs the function exactly once.
    out = benchmark.pedantic(IMPLEMENTATIONS[implementation], args=(x,),
                             kwargs=dict(depth=DEPTH, activation=activation),
                             rounds=ROUNDS[implementation], warmup_rounds=1, iterations=1)
    assert out.shape == (n, n)
    assert out.dtype == np.float64
    assert np.isfinite(out).all()
