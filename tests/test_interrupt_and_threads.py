"""Long calls stop on Ctrl-C; the thread count follows n_threads, set_num_threads and OMP_NUM_THREADS."""
import _thread
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import ntkfast


def test_ctrl_c_interrupts_a_long_call():
    # Several seconds of work; the interrupt arrives after 0.3 s. The KeyboardInterrupt must come
    # out of the compiled call itself (between chunks), not after it returned.
    x = np.random.default_rng(0).normal(size=(6000, 8))
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            ntkfast.ntk(x, depth=40, activation="erf", n_threads=1)
    finally:
        timer.cancel()
    assert info.traceback[-1].name == "_run"


def test_ctrl_c_interrupts_an_empirical_ntk():
    # A multi-second empirical NTK; the KeyboardInterrupt must come out of the compiled Gram
    # call (checked between chunks of tiles), not after it finished.
    net = ntkfast.init_mlp([8, 512, 512, 1], seed=0)
    x = np.random.default_rng(0).normal(size=(6000, 8))
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            ntkfast.empirical_ntk(net, x, n_threads=1)
    finally:
        timer.cancel()
    # raised from within a compiled call: the Gram tiles (run) or, under load, the features
    assert info.traceback[-1].name in ("run", "_features")


def _threads_in_subprocess(env_threads, code="import ntkfast; print(ntkfast.get_num_threads())"):
    env = dict(os.environ, OMP_NUM_THREADS=str(env_threads))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not ntkfast.openmp_enabled, reason="built without OpenMP")
def test_omp_num_threads_is_the_default():
    assert _threads_in_subprocess(1) == 1
    assert _threads_in_subprocess(3) == 3


def test_set_num_threads_overrides_and_resets():
    before = ntkfast.get_num_threads()
    try:
        ntkfast.set_num_threads(1)
        assert ntkfast.get_num_threads() == 1
        ntkfast.set_num_threads(-1)
        assert ntkfast.get_num_threads() == len(os.sched_getaffinity(0))
    finally:
        ntkfast.set_num_threads(None)
    assert ntkfast.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, "2", 1.5])
def test_set_num_threads_rejects_bad_values(bad):
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        ntkfast.set_num_threads(bad)
