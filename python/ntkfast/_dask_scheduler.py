"""Which Dask scheduler runs a computation now: ntkfast.dask gathers results one by one, and
shows distributed's progress, only on a distributed client; on the local schedulers it calls
dask.compute."""
from __future__ import annotations

import sys

import dask


def current_client():
    """The dask.distributed client that dask.compute would use now, or None (without importing
    distributed when nothing has)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        client = default_client()
    except ValueError:  # no client
        return None
    return client if dask.base.get_scheduler() == client.get else None
