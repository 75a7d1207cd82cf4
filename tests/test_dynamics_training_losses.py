"""One contract for the loss= argument of kernel_gd and train (fast and reference): the same
names, and the same returns of a user's loss(f, y) -> (value, d) accepted or refused with the same
error type naming ``loss`` (ntkfast._losses). They used to differ: train took a value of "1.0" or
True, kernel_gd a [value, d] list; train stripped spaces from names, kernel_gd did not; loss=None
was a TypeError in one and a ValueError in the other.
"""
from __future__ import annotations

import re

from conftest import LOSS_NAME_CASES, LOSS_RETURN_CASES
import ntkfast
import numpy as np
import pytest
from ntkfast import reference

RNG = np.random.default_rng(3)
_A = RNG.standard_normal((6, 6))
K = _A @ _A.T / 6 + np.eye(6)
X = RNG.standard_normal((6, 3))
Y = np.eye(2)[[0, 1, 1, 0, 1, 0]] * 0.8 + 0.1  # probability rows: valid for mse and ce alike
NET = ntkfast.init_mlp([3, 5, 2], seed=0)


def _kernel_gd(fn):
    return lambda loss: fn(K, Y, [0.0, 0.5], loss=loss)


def _train(fn):
    return lambda loss: fn(NET, X, Y, lr=0.1, steps=2, loss=loss, progress=False)


CALLERS = [
    pytest.param(_kernel_gd(ntkfast.kernel_gd), id="kernel_gd"),
    pytest.param(_kernel_gd(reference.kernel_gd), id="ref.kernel_gd"),
    pytest.param(_train(ntkfast.train), id="train"),
    pytest.param(_train(reference.train), id="ref.train"),
]


def _check(call, loss, expected):
    if expected is None:
        call(loss)
        return
    with pytest.raises(expected) as info:
        call(loss)
    assert type(info.value) is expected, f"{type(info.value).__name__}: {info.value}"
    assert re.search(r"(?<![\w.])loss(?![\w])", str(info.value)), str(info.value)


@pytest.mark.parametrize("call", CALLERS)
@pytest.mark.parametrize("loss,expected", LOSS_RETURN_CASES)
def test_callable_loss_returns(call, loss, expected):
    _check(call, loss, expected)


@pytest.mark.parametrize("call", CALLERS)
@pytest.mark.parametrize("loss,expected", LOSS_NAME_CASES)
def test_loss_names(call, loss, expected):
    _check(call, loss, expected)
