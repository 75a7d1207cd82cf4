"""The ``ntkfast bench`` command: its arguments, and the run of the sections they select
(``kernels``, ``empirical``, ``dynamics``), each printed as it finishes, then saved as JSON."""
from __future__ import annotations

import sys

from .._argtypes import int_list, name_list, nonnegative_int, output_path, positive_int, threads
from ..activations import NAMES
from .reporting import save_json

HELP = "time ntkfast against the numpy reference (and neural-tangents if installed)"
DESCRIPTION = (
    "Time ntkfast.ntk(x) against ntkfast.reference.ntk (and neural-tangents when importable) on "
    "standard-normal data with 32 features; print a table of timings and speedups, then the "
    "performance checks, and one product of the matrix-free kernel operator over 100000 points "
    "beside ntk(X[:20000]). Then the same for the empirical NTK of a finite network "
    "(ntkfast.empirical_ntk against the numpy reference, numpy's BLAS floor, torch.func and "
    "neural-tangents when importable, and memory rows), then the training dynamics (kernel_gd "
    "against the reference's RK4, kernel regression at t=inf by ntkfast's Cholesky against the "
    "eigendecomposition and a SciPy/LAPACK floor, train against the reference loop and numpy's "
    "BLAS floor), then kernel ridge regression at large N (nystrom_krr at N = 1e6 and 1e5). Full "
    "run: about 10 minutes on 2 cores, plus about 6 for the empirical section, 3 for the "
    "dynamics and 10 for the regression. --suite sklearn (not part of all; needs scikit-learn) "
    "times the scikit-learn estimators against the Gram + Cholesky floor, NTKClassifier beside "
    "KernelRidge(rbf) on digits, and a GP fit with the analytic gradient against finite "
    "differences: about 2 minutes.")


def add_arguments(parser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="a subset that finishes in under a minute (infinite-width kernels: N "
                        "1000 and 2000, depth 8; empirical NTK: N=2048 without torch, neural-tangents "
                        "and memory rows, reference at N=512; dynamics: kernel_gd at N=1000, kernel "
                        "regression at N=1000 with 250 test points, train at N=256 for 20 steps; "
                        "regression: N=20000 and 5000, M=500; sklearn: N=2000, GP N=300; dask: "
                        "Gram N=4000 beside 1600, solver N=20000, M=500)")
    parser.add_argument("--suite", choices=("all", "kernels", "empirical", "dynamics", "regression",
                                            "sklearn", "dask"),
                        default="all",
                        help="kernels: infinite-width ntk(x); empirical: empirical_ntk of a finite "
                        "MLP (widths 32,1024,1024,1; --sizes, --depths, --activations and "
                        "--reference-max-n do not apply to it); dynamics: kernel_gd and train "
                        "against the numpy reference's RK4 and training loop; regression: "
                        "nystrom_krr (Nyström + preconditioned CG) at N = 1e6 and 1e5, d = 16, "
                        "M = 2000; sklearn: NTKRegressor fit + predict at N = 10000 against the "
                        "Gram + Cholesky floor, digits CV beside KernelRidge(rbf), GP fit with the "
                        "analytic gradient against finite differences (needs scikit-learn); dask: "
                        "ntkfast.dask (needs ntkfast[dask]): the N = 50000 float32 Gram written to "
                        "Zarr beside ntk(X[:20000]), and nystrom_krr at N = 1e6 on a LocalCluster of "
                        "2 workers beside the local solver; all: every suite but sklearn and dask "
                        "(default)")
    parser.add_argument("--sizes", type=int_list, metavar="N,...",
                        help="numbers of points N (default 1000,2000,4000,8000)")
    parser.add_argument("--depths", type=int_list, metavar="L,...", help="depths (default 3,8)")
    parser.add_argument("--activations", type=name_list({n: n for n in NAMES}), metavar="NAME,...",
                        help="activation names (default relu,erf,tanh)")
    parser.add_argument("--dtypes", type=name_list({"float64": "float64", "f64": "float64",
                                                     "float32": "float32", "f32": "float32"}),
                        metavar="DTYPE,...", help="float64 and/or float32 (default both)")
    parser.add_argument("--threads", type=threads, metavar="N",
                        help="n_threads of the ntkfast calls (default: ntkfast.get_num_threads())")
    parser.add_argument("--repeat", type=positive_int, metavar="R",
                        help="best of up to R timed calls after one warm-up (default 3)")
    parser.add_argument("--no-reference", action="store_true", help="do not time the numpy reference")
    parser.add_argument("--reference-max-n", type=positive_int, metavar="N",
                        help="time the reference (and neural-tangents) only up to this N, plus the "
                        "relu float64 check row; estimate the other cells as ~t*(N/N0)^2, marked "
                        "(default 2000; --quick: 1000)")
    parser.add_argument("--operator-n", type=nonnegative_int, metavar="N",
                        help="kernels: N of the matrix-free operator row (one product over N "
                        "points beside ntk(X[:N/5]) in the same run; default 100000, about 2 "
                        "minutes on 2 cores; --quick: 8000; 0: no operator row)")
    parser.add_argument("--no-torch", action="store_true",
                        help="empirical: do not time torch.func even when torch is importable")
    parser.add_argument("--nt-python", metavar="PYTHON",
                        help="empirical: when neural-tangents is not importable here, time it in "
                        "this interpreter (an environment with numpy, jax and neural_tangents)")
    parser.add_argument("--json", type=output_path, metavar="PATH",
                        help="also save the results as JSON (with --suite all: {\"kernels\": ..., "
                        "\"empirical\": ...})")


def main(args) -> int:
    saved = {}
    if args.suite in ("all", "kernels"):
        from . import kernels as K

        opts = K.options(args.quick, sizes=args.sizes, depths=args.depths, activations=args.activations,
                         dtypes=args.dtypes, repeat=args.repeat, reference_max_n=args.reference_max_n,
                         threads=args.threads, reference=not args.no_reference,
                         operator_n=args.operator_n)
        saved["kernels"] = K.run(opts)
        print(K.report(saved["kernels"]), flush=True)
    if args.suite in ("all", "empirical"):
        from . import empirical as E

        opts = E.options(args.quick, dtypes=args.dtypes, repeat=args.repeat, threads=args.threads,
                         reference=not args.no_reference, torch=False if args.no_torch else None,
                         nt_python=args.nt_python)
        if saved:
            print(flush=True)
        saved["empirical"] = E.run(opts)
        print(E.report(saved["empirical"]), flush=True)
    if args.suite in ("all", "dynamics"):
        from . import dynamics as D

        opts = D.options(args.quick, repeat=args.repeat, threads=args.threads,
                         reference=not args.no_reference)
        if saved:
            print(flush=True)
        saved["dynamics"] = D.run(opts)
        print(D.report(saved["dynamics"]), flush=True)
    if args.suite in ("all", "regression"):
        from . import regression as R

        opts = R.options(args.quick, threads=args.threads)
        if saved:
            print(flush=True)
        saved["regression"] = R.run(opts)
        print(R.report(saved["regression"]), flush=True)
    if args.suite == "sklearn":
        from . import sklearn as S

        opts = S.options(args.quick, threads=args.threads)
        saved["sklearn"] = S.run(opts)
        print(S.report(saved["sklearn"]), flush=True)
    if args.suite == "dask":
        from . import dask_suite as S

        opts = S.options(args.quick, threads=args.threads)
        saved["dask"] = S.run(opts)
        print(S.report(saved["dask"]), flush=True)
    if args.json:
        try:
            save_json(saved if len(saved) > 1 else next(iter(saved.values())), args.json)
        except OSError as e:  # a full disk, /dev/full, a folder removed meanwhile
            print(f"ntkfast bench: error: could not write the results to {args.json}: {e}",
                  file=sys.stderr)
            return 1
        print(f"results saved to {args.json}")
    return 0
