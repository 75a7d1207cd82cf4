"""The solver on a cluster that loses a worker mid-fit (Dask recomputes what was lost, including
the persisted chunks of X: same bits), and on a cluster that goes away (Dask's error, promptly)."""
import os
import signal
import threading
import time

import distributed
import numpy as np
import pytest

import ntkfast
import ntkfast.dask as nd
from conftest import dask_cluster

KERNEL = ntkfast.InfiniteWidthKernel(depth=3, activation="erf")
RNG = np.random.default_rng(8)
X = RNG.standard_normal((3000, 4))
Y = np.sin(X[:, 0]) + 0.1 * RNG.standard_normal(3000)
# K(X, C) recomputed by every pass (budget below one N × M matrix): the fit takes seconds
# Falkon's own preconditioner (preconditioner_points = M): many iterations, so the fit is still
# running when the watcher acts (the default sample converges in a few)
FIT = dict(ridge=1.0, n_centers=200, preconditioner_points=200, random_state=0, memory_budget=1 << 20,
           progress=False)


def when_tasks_ran(client, prefix, then, timeout=60):
    """A thread that calls ``then()`` once a task whose key starts with ``prefix`` has finished."""
    def states(dask_scheduler, prefix):
        return sum(ts.state == "memory" for k, ts in dask_scheduler.tasks.items()
                   if str(k).lstrip("('").startswith(prefix))

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if client.run_on_scheduler(states, prefix=prefix):
                then()
                return
            time.sleep(0.01)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_worker_killed_mid_fit_changes_no_bit(dask_client):
    local = ntkfast.nystrom_krr(KERNEL, X, Y, **FIT)
    victim = sorted(dask_client.scheduler_info()["workers"])[1]
    pid = dask_client.run(os.getpid, workers=[victim])[victim]
    killed = []
    watcher = when_tasks_ran(dask_client, "normal_task",
                             lambda: killed.append(os.kill(pid, signal.SIGKILL)))
    model = nd.nystrom_krr(KERNEL, X, Y, **FIT)
    watcher.join()
    assert killed, "the worker was not killed during the fit"
    assert model.iterations == local.iterations
    np.testing.assert_array_equal(model.coefficients, local.coefficients)
    dask_client.wait_for_workers(2, timeout=60)


def test_a_cluster_that_goes_away_raises_dask_s_error():
    with dask_cluster() as (cluster, client):
        when_tasks_ran(client, "normal_task", cluster.close)
        t0 = time.monotonic()
        with pytest.raises(distributed.client.FutureCancelledError):
            nd.nystrom_krr(KERNEL, X, Y, **FIT)
        assert time.monotonic() - t0 < 60
