"""The Dask section of ``ntkfast bench`` at tiny sizes (its subprocesses, a LocalCluster, the
report and checks): a smoke test, as CI runs every benchmark once.

    ntkfast bench --suite dask --quick      # seconds
    ntkfast bench --suite dask              # the issue's sizes: a 10 GB Gram to Zarr, N = 1e6 solver
"""
from ntkfast.bench import dask_suite as S


def test_dask_section_runs(tmp_path):
    opts = S.options(True, gram_n=600, gram_reference_n=240, gram_chunks=128, solver_n=3000,
                     n_centers=100, zarr_dir=str(tmp_path))
    results = S.run(opts, progress=lambda msg: None)
    for case in (*results["gram"].values(), *results["solver"].values()):
        assert "error" not in case, case
    assert results["gram"]["zarr"]["blocks_bit_identical"]
    assert results["solver"]["cluster"]["bit_identical"]
    text = S.report(results)
    assert "Zarr write / (6.25 x in-memory Gram of 240)" in text and "cluster / local" in text
