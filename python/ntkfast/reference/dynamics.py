"""Placeholder (issue 4): numpy kernel gradient descent."""


def kernel_gd_mse(*args, **kwargs):
    raise NotImplementedError


def kernel_gd(*args, **kwargs):
    raise NotImplementedError


def infinite_ensemble(*args, **kwargs):
    raise NotImplementedError
