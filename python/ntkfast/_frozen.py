"""Identity of the kernel objects: immutable, equal and hashed by what they compute, pickled as
their constructor call, and their own copies.

A subclass provides ``params()`` (the constructor's keyword arguments, as validated) and
``_key()`` (a hashable tuple of what determines the values, leaving out what only says how to
compute them, such as a memory budget). Pickling by constructor call rather than by state means a
worker process rebuilds and re-validates the object, and the frozen attributes are never set
through a back door.
"""
from __future__ import annotations


class Frozen:
    __slots__ = ()

    def params(self) -> dict:
        raise NotImplementedError

    def _key(self) -> tuple:
        raise NotImplementedError

    def replace(self, **changes):
        """A copy with some parameters changed (the object itself never changes)."""
        return type(self)(**{**self.params(), **changes})

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace({name}=...)")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other):
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __reduce__(self):
        return (_rebuild, (type(self), self.params()))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def _rebuild(cls, params):
    return cls(**params)
