"""Command line: ``ntkfast <command>`` or ``python -m ntkfast <command>``.

Each command is a ``_add_<command>(subparsers)`` that registers its parser and sets ``func``; the
work lives in the private module behind it (``bench`` -> ``ntkfast._bench``).
"""
from __future__ import annotations

import argparse
import sys

from ._argtypes import int_list, name_list, output_path, positive_int, threads
from .paper import command as paper_command


def _add_bench(sub) -> None:
    from .activations import NAMES

    p = sub.add_parser(
        "bench", help="time ntkfast against the numpy reference (and neural-tangents if installed)",
        description="Time ntkfast.ntk(x) against ntkfast.reference.ntk (and neural-tangents when "
        "importable) on standard-normal data with 32 features; print a table of timings and "
        "speedups, then the performance checks. Then the same for the empirical NTK of a finite "
        "network (ntkfast.empirical_ntk against the numpy reference, numpy's BLAS floor, "
        "torch.func and neural-tangents when importable, and memory rows), then the training "
        "dynamics (kernel_gd against the reference's RK4, train against the reference loop and "
        "numpy's BLAS floor). Full run: about 10 minutes on 2 cores, plus about 6 for the "
        "empirical section and 3 for the dynamics.")
    p.add_argument("--quick", action="store_true",
                   help="a subset that finishes in under a minute (infinite-width kernels: N 1000 "
                   "and 2000, depth 8; empirical NTK: N=2048 without torch, neural-tangents and "
                   "memory rows, reference at N=512; dynamics: kernel_gd at N=1000, train at "
                   "N=256 for 20 steps)")
    p.add_argument("--suite", choices=("all", "kernels", "empirical", "dynamics"), default="all",
                   help="kernels: infinite-width ntk(x); empirical: empirical_ntk of a finite MLP "
                   "(widths 32,1024,1024,1; --sizes, --depths, --activations and "
                   "--reference-max-n do not apply to it); dynamics: kernel_gd and train against "
                   "the numpy reference's RK4 and training loop; all: every suite (default)")
    p.add_argument("--sizes", type=int_list, metavar="N,...", help="numbers of points N (default 1000,2000,4000,8000)")
    p.add_argument("--depths", type=int_list, metavar="L,...", help="depths (default 3,8)")
    p.add_argument("--activations", type=name_list({n: n for n in NAMES}), metavar="NAME,...",
                   help="activation names (default relu,erf,tanh)")
    p.add_argument("--dtypes", type=name_list({"float64": "float64", "f64": "float64",
                                                "float32": "float32", "f32": "float32"}),
                   metavar="DTYPE,...", help="float64 and/or float32 (default both)")
    p.add_argument("--threads", type=threads, metavar="N",
                   help="n_threads of the ntkfast calls (default: ntkfast.get_num_threads())")
    p.add_argument("--repeat", type=positive_int, metavar="R", help="best of up to R timed calls after one warm-up (default 3)")
    p.add_argument("--no-reference", action="store_true", help="do not time the numpy reference")
    p.add_argument("--reference-max-n", type=positive_int, metavar="N",
                   help="time the reference (and neural-tangents) only up to this N, plus the relu "
                   "float64 check row; estimate the other cells as ~t*(N/N0)^2, marked "
                   "(default 2000; --quick: 1000)")
    p.add_argument("--no-torch", action="store_true",
                   help="empirical: do not time torch.func even when torch is importable")
    p.add_argument("--nt-python", metavar="PYTHON",
                   help="empirical: when neural-tangents is not importable here, time it in this "
                   "interpreter (an environment with numpy, jax and neural_tangents)")
    p.add_argument("--json", type=output_path, metavar="PATH", help="also save the results as JSON (with --suite "
                   "all: {\"kernels\": ..., \"empirical\": ...})")
    p.set_defaults(func=_bench)


def _bench(args) -> int:
    from . import _bench as B

    saved = {}
    if args.suite in ("all", "kernels"):
        opts = B.options(args.quick, sizes=args.sizes, depths=args.depths, activations=args.activations,
                         dtypes=args.dtypes, repeat=args.repeat, reference_max_n=args.reference_max_n,
                         threads=args.threads, reference=not args.no_reference)
        saved["kernels"] = B.run(opts)
        print(B.report(saved["kernels"]), flush=True)
    if args.suite in ("all", "empirical"):
        from . import _bench_empirical as E

        opts = E.options(args.quick, dtypes=args.dtypes, repeat=args.repeat, threads=args.threads,
                         reference=not args.no_reference, torch=False if args.no_torch else None,
                         nt_python=args.nt_python)
        if saved:
            print(flush=True)
        saved["empirical"] = E.run(opts)
        print(E.report(saved["empirical"]), flush=True)
    if args.suite in ("all", "dynamics"):
        from . import _bench_dynamics as D

        opts = D.options(args.quick, repeat=args.repeat, threads=args.threads,
                         reference=not args.no_reference)
        if saved:
            print(flush=True)
        saved["dynamics"] = D.run(opts)
        print(D.report(saved["dynamics"]), flush=True)
    if args.json:
        B.save_json(saved if len(saved) > 1 else next(iter(saved.values())), args.json)
        print(f"results saved to {args.json}")
    return 0


def _add_paper(sub) -> None:
    p = sub.add_parser("paper", help=paper_command.HELP, description=paper_command.DESCRIPTION)
    paper_command.add_arguments(p)
    p.set_defaults(func=paper_command.main)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="ntkfast", description="ntkfast command-line tools")
    parser.add_argument("--version", action="version", version=f"ntkfast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    _add_bench(sub)
    _add_paper(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
