"""ntkfast.dask.gram / diag on a real cluster (2 single-threaded worker processes): blocks equal
the one-call Gram bit for bit, lower blocks are transposes of upper ones in the task graph, a
killed worker changes nothing, and bad input is refused by name."""
import os
import re
import signal
import threading
import time

import dask
import dask.array as da
import numpy as np
import pytest

import ntkfast
import ntkfast.dask as nd
from ntkfast import _dask_gram
from ntkfast.activations import custom

RNG = np.random.default_rng(3)
X = RNG.standard_normal((230, 6)) * 0.8
X2 = RNG.standard_normal((57, 6))
RAGGED = (40, 7, 93, 1, 89)  # ragged row chunks, a chunk of one row included


def kernels():
    net = ntkfast.init_mlp([6, 48, 48, 2], activation="tanh", seed=1)
    return {
        "relu": ntkfast.InfiniteWidthKernel(depth=3, bias_std=0.2),
        "erf": ntkfast.InfiniteWidthKernel(depth=4, activation="erf", dtype=np.float32),
        "tanh": ntkfast.InfiniteWidthKernel(depth=3, activation="tanh").planned_for(np.vstack([X, X2])),
        "empirical": ntkfast.EmpiricalKernel(net, output="full"),
    }


@pytest.mark.parametrize("which", ["relu", "erf", "tanh", "empirical"])
def test_gram_cross_and_diag_equal_the_one_call_kernel_bit_for_bit(dask_client, which):
    kernel = kernels()[which]
    x = da.from_array(X, chunks=(RAGGED, 6))
    g = nd.gram(kernel, x)
    assert g.chunks[:2] == (RAGGED, RAGGED) and g.dtype == kernel.dtype
    cross = nd.gram(kernel, x, X2, chunks=20)
    diag = nd.diag(kernel, x)
    got_g, got_cross, got_diag = dask.compute(g, cross, diag)  # on the cluster (default client)
    np.testing.assert_array_equal(got_g, kernel(X))
    np.testing.assert_array_equal(got_cross, kernel(X, X2))
    np.testing.assert_array_equal(got_diag, kernel.diag(X))


def test_lower_blocks_are_transpose_tasks_of_upper_ones():
    kernel = kernels()["relu"]
    g = nd.gram(kernel, da.from_array(X, chunks=(RAGGED, 6)))
    layer = dict(g.dask.layers[g.name])
    n = len(RAGGED)
    upper = {k: v for k, v in layer.items() if isinstance(k, tuple) and k[0] == g.name
             and v[0] is _dask_gram.symmetric_block}
    lower = {k: v for k, v in layer.items() if isinstance(k, tuple) and k[0] == g.name
             and v[0] is _dask_gram.mirrored_block}
    assert sorted(k[1:] for k in upper) == [(i, j) for i in range(n) for j in range(i, n)]
    assert sorted(k[1:] for k in lower) == [(i, j) for i in range(n) for j in range(i)]
    for (_, i, j), task in lower.items():
        assert task[1] == (g.name, j, i)  # the transpose of the block above, not a new kernel call
    # one thread per task by default (the workers' threads are the parallelism); as asked otherwise
    assert {task[-1] for task in upper.values()} == {1}
    g2 = nd.gram(kernel, X, chunks=100, n_threads=2)
    assert {v[-1] for v in dict(g2.dask.layers[g2.name]).values()
            if isinstance(v, tuple) and v[0] is _dask_gram.symmetric_block} == {2}
    assert g2.chunks == ((100, 100, 30), (100, 100, 30))


def test_threaded_and_process_schedulers_give_the_same_bits():
    kernel = kernels()["tanh"]
    g = nd.gram(kernel, X, chunks=64)
    want = kernel(X)
    np.testing.assert_array_equal(g.compute(scheduler="threads"), want)
    np.testing.assert_array_equal(g.compute(scheduler="processes", num_workers=2), want)


def test_a_worker_killed_mid_computation_changes_nothing(dask_client):
    """SIGKILL one worker process while the Gram is being computed: the nanny restarts it, Dask
    recomputes what was lost, and the result is the same bits."""
    kernel = ntkfast.InfiniteWidthKernel(depth=3, activation="tanh", input_bound=4.0)
    x = np.random.default_rng(5).standard_normal((1200, 8)) * 0.7
    g = nd.gram(kernel, x, chunks=100)  # 78 tile tasks of ~30 ms each on one thread
    future = dask_client.compute(g)
    victim = sorted(dask_client.scheduler_info()["workers"])[0]
    pid = dask_client.run(os.getpid, workers=[victim])[victim]
    deadline = time.monotonic() + 60
    while not any(s == "memory" for s in _states(dask_client, g.name).values()):
        assert time.monotonic() < deadline, "no block finished within a minute"
        time.sleep(0.01)
    assert not future.done()
    os.kill(pid, signal.SIGKILL)
    np.testing.assert_array_equal(future.result(timeout=120), kernel(x))
    dask_client.wait_for_workers(2, timeout=60)  # the nanny's new worker, for the next tests


def _states(client, name):
    def states(dask_scheduler, name):
        return {str(k): ts.state for k, ts in dask_scheduler.tasks.items() if name in str(k)}
    return client.run_on_scheduler(states, name=name)


# ----------------------------------------------------------------------------------- bad input

def naming(name, exc=ValueError):
    return pytest.raises(exc, match=rf"^{re.escape(name)}\b")


def test_an_unpicklable_kernel_is_refused_by_name_before_any_task():
    lock = threading.Lock()
    act = custom(lambda z: np.tanh(z) if lock else z)  # closes over a lock: cloudpickle refuses
    kernel = ntkfast.InfiniteWidthKernel(depth=2, activation=act, input_bound=2.0)
    with pytest.raises(TypeError, match=r"^kernel: InfiniteWidthKernel\(.*cannot be pickled"):
        nd.gram(kernel, X)
    # a lambda alone is fine: cloudpickle sends it
    ok = ntkfast.InfiniteWidthKernel(depth=2, activation=custom(lambda z: np.tanh(z)), input_bound=2.0)
    np.testing.assert_array_equal(nd.gram(ok, X[:50], chunks=20).compute(scheduler="processes",
                                                                         num_workers=2), ok(X[:50]))


def test_bad_shapes_and_kernels_are_refused_by_name():
    kernel = kernels()["relu"]
    with naming("x"):
        nd.gram(kernel, da.from_array(X, chunks=(50, 3)))  # chunks that split the features
    with naming("x2"):
        nd.gram(kernel, X, X2[:, :4])
    with naming("x"):
        nd.gram(kernels()["empirical"], X[:, :5])
    with naming("x"):
        nd.gram(kernel, X[:, 0])
    with naming("kernel"):  # a numerical activation without a fixed series plan
        nd.gram(ntkfast.InfiniteWidthKernel(depth=3, activation="tanh"), X)
    with naming("kernel", TypeError):
        nd.gram(np.exp, X)
    with naming("chunks"):
        nd.gram(kernel, X, chunks=0)
    with naming("n_threads"):
        nd.gram(kernel, X, n_threads=0)


def test_values_and_shapes_found_in_a_chunk_are_named_by_the_chunk(dask_client):
    kernel = kernels()["relu"]
    bad = X.copy()
    bad[150, 2] = np.nan
    with pytest.raises(ValueError, match=r"^x: chunk 4 \(rows 141:230\) contains NaN or infinity "
                       r"\(first at row 150, column 2\)"):
        nd.gram(kernel, da.from_array(bad, chunks=(RAGGED, 6))).compute()
    # a chunk that is not the shape its array promised (a delayed piece, wrong length)
    piece = dask.delayed(lambda: X[:30])()
    lying = da.concatenate([da.from_array(X[:40]), da.from_delayed(piece, (20, 6), X.dtype)])
    with pytest.raises(ValueError, match=r"^x: chunk 1 \(rows 40:60\) has shape \(30, 6\)"):
        nd.diag(kernel, lying).compute()
