"""Placeholder (issue 4): numpy gradient descent of finite networks."""


def train(*args, **kwargs):
    raise NotImplementedError
