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


@pytest.mark.parametrize("call", ["operator apply N=4000", "ntk(X[:800])"])
def test_operator_apply_beside_ntk(benchmark, call):
    # One product of the matrix-free operator does the N²/2 entries of 25 ntk(X[:N/5]) calls
    # without storing them (ntkfast bench's operator row: N=100000, target 1.2 x 25 the time).
    from ntkfast import _kernel_args, _kernel_operator
    from ntkfast._kernel_passes import projector

    benchmark.group = "matrix-free operator relu depth 3 float64, one vector, beside ntk(X[:N/5])"
    x = np.random.default_rng(0).standard_normal((4000, N_FEATURES))
    if call.startswith("operator"):
        op = _kernel_operator.KernelOperator(
            _kernel_args.parse(x, None, 3, "relu", 1.0, 0.0, np.float64, 0, projector(2)))
        out = benchmark.pedantic(op.matvec, args=(np.ones(len(x)),), rounds=5, warmup_rounds=1,
                                 iterations=1)
        assert out.shape == (len(x),) and np.isfinite(out).all()
    else:
        out = benchmark.pedantic(ntkfast.ntk, args=(x[:800],), kwargs=dict(depth=3), rounds=5,
                                 warmup_rounds=1, iterations=1)
        assert out.shape == (800, 800)
