"""ntkfast.dask.to_zarr: a Gram larger than a worker's memory limit written block by block, read
back bit for bit; stores that hold something else are refused; the local progress bar."""
import os

import dask
import distributed  # noqa: F401  (loads its config defaults before dask.config.set below)
import numpy as np
import pytest
import zarr

import ntkfast
import ntkfast.dask as nd
from conftest import dask_cluster

KERNEL = ntkfast.InfiniteWidthKernel(depth=3, bias_std=0.1)
ZARR3 = hasattr(zarr, "create_array")


def test_a_gram_larger_than_the_workers_memory_limit_round_trips_bit_for_bit(tmp_path):
    """N = 6000: the float64 Gram is 288 MB, each worker may hold 250 MB (a fresh worker takes
    ~110 MB) with spilling to disk off, so no worker could hold the matrix, nor half of it
    beside itself; a worker past the limit would be killed and restarted by its nanny, which the
    unchanged worker processes rule out."""
    x = np.random.default_rng(0).standard_normal((6000, 8))
    # target/spill off: a worker may not escape the limit by writing its data to disk
    with dask.config.set({"distributed.worker.memory.target": False,
                          "distributed.worker.memory.spill": False}), \
            dask_cluster(memory_limit="250MB") as (_, client):
        assert all(w["memory_limit"] == 250e6 for w in client.scheduler_info()["workers"].values())
        assert 6000 ** 2 * 8 > 250e6
        pids = client.run(os.getpid)
        stored = nd.to_zarr(nd.gram(KERNEL, x, chunks=500), str(tmp_path / "gram.zarr"),
                            progress=False)
        assert client.run(os.getpid) == pids  # no worker was killed for memory and restarted
    back = zarr.open_array(str(tmp_path / "gram.zarr"), mode="r")
    assert back.chunks == (500, 500) and stored.shape == back.shape == (6000, 6000)
    np.testing.assert_array_equal(back[:], KERNEL(x))


def test_a_store_holding_another_array_is_refused_unless_overwrite(tmp_path):
    x = np.random.default_rng(1).standard_normal((90, 4))
    path = str(tmp_path / "g.zarr")
    g = nd.gram(KERNEL, x, chunks=40)
    nd.to_zarr(g, path, progress=False)
    nd.to_zarr(g, path, progress=False)  # the same computation again: a resumption, allowed
    other = nd.gram(KERNEL, x[:80], chunks=40)
    with pytest.raises(ValueError, match=r"^store: .* already holds a different array \(shape \(90, 90\)"):
        nd.to_zarr(other, path, progress=False)
    np.testing.assert_array_equal(zarr.open_array(path, mode="r")[:], KERNEL(x))  # untouched
    nd.to_zarr(other, path, overwrite=True, progress=False)
    np.testing.assert_array_equal(zarr.open_array(path, mode="r")[:], KERNEL(x[:80]))
    zarr.open_group(str(tmp_path / "group.zarr"), mode="w")
    with pytest.raises(ValueError, match=r"^store: .* holds a Zarr group"):
        nd.to_zarr(g, str(tmp_path / "group.zarr"), progress=False)
    with pytest.raises(ValueError, match=r"^array: Zarr needs equal chunks"):
        nd.to_zarr(nd.gram(KERNEL, dask.array.from_array(x, chunks=((30, 60), 4))), path,
                   overwrite=True)
    with pytest.raises(TypeError, match=r"^array:"):
        nd.to_zarr(KERNEL(x), path, overwrite=True)


def test_blocks_are_stored_uncompressed_unless_a_compressor_is_asked_for(tmp_path):
    """The default is no compression (a Gram's mantissas do not compress; see to_zarr); a
    compressor passed through to Zarr, spelt as the installed version spells it, is used."""
    x = np.random.default_rng(3).standard_normal((100, 4))
    g = nd.gram(KERNEL, x, chunks=50)
    raw = nd.to_zarr(g, str(tmp_path / "raw.zarr"), progress=False)
    if ZARR3:
        from zarr.codecs import ZstdCodec

        packed = nd.to_zarr(g, str(tmp_path / "zstd.zarr"), progress=False,
                            compressors=ZstdCodec(level=3))
        assert raw.compressors == () and isinstance(packed.compressors[0], ZstdCodec)
    else:
        import numcodecs

        packed = nd.to_zarr(g, str(tmp_path / "zstd.zarr"), progress=False,
                            compressor=numcodecs.Zstd(level=3))
        assert raw.compressor is None and isinstance(packed.compressor, numcodecs.Zstd)
    chunk_file = [os.path.join(r, f) for r, _, fs in os.walk(tmp_path / "raw.zarr") for f in fs
                  if not f.startswith((".", "zarr"))]
    assert chunk_file and all(os.path.getsize(f) == 50 * 50 * 8 for f in chunk_file)
    for stored in (raw, packed):
        np.testing.assert_array_equal(zarr.open_array(stored.store, mode="r")[:], KERNEL(x))


def test_the_local_scheduler_shows_dask_s_progress_bar(tmp_path, capsys):
    x = np.random.default_rng(2).standard_normal((60, 4))
    with dask.config.set(scheduler="threads"):  # whatever client an earlier test left as default
        nd.to_zarr(nd.gram(KERNEL, x, chunks=20), str(tmp_path / "p.zarr"), progress=True)
    err = capsys.readouterr().err
    assert "100% Completed" in err, err
