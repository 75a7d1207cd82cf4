"""Placeholder (issue 4): the dynamics section of ``ntkfast bench``."""


def options(quick, *, repeat=None, threads=None, reference=True):
    raise NotImplementedError


def run(opts):
    raise NotImplementedError


def report(result):
    raise NotImplementedError
