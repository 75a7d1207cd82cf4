"""The ``ntkfast paper fig1|fig2|fig3`` command: its arguments and its run.

The computation (``fig1`` / ``fig2`` / ``fig3``) returns plain numpy data and a printed report; ``plot``
draws it with matplotlib, an optional extra. Without matplotlib the numbers are still computed
and printed, then the command fails with the install hint.
"""
from __future__ import annotations

import sys
import time

from .._argtypes import output_path, threads

FIGURES = ("fig1", "fig2", "fig3")
HELP = "reproduce Figures 1, 2 and 3 of Jacot et al. (2018) as PNGs"
DESCRIPTION = ("Reproduce a figure of the NTK paper (setups in ntk-math.md section 6): train the "
               "finite networks, compute the infinite-width prediction, print the numbers behind "
               "the figure and write it as a PNG (needs matplotlib: pip install 'ntkfast[paper]').")


def add_arguments(parser) -> None:
    parser.add_argument("figure", choices=FIGURES,
                        help="fig1: the NTK of finite networks at initialization and after "
                        "training against its infinite-width limit (widths 500 and 10000, 10 networks "
                        "each: 10-15 minutes on 2 idle cores, nearly all of it the width-10000 "
                        "training); fig2: trained networks against the percentiles of the "
                        "infinite-width Gaussian (widths 50 and 1000: about a minute); fig3: "
                        "training along the NTK's 2nd principal component on 512 digits of "
                        "scikit-learn's load_digits (widths 100, 1000, 10000: the width-10000 "
                        "network takes most of 15-25 minutes on 2 cores; needs scikit-learn)")
    parser.add_argument("--out", type=output_path, metavar="PATH",
                        help="where to write the PNG (default: paper_fig1.png, paper_fig2.png or "
                        "paper_fig3.png in the current directory)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller widths and fewer networks: a smoke test that runs in seconds")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of the training data and of every network's initialization (default 0)")
    parser.add_argument("--threads", type=threads, metavar="N",
                        help="n_threads of the ntkfast calls (default: ntkfast.get_num_threads())")


def _module(figure: str):
    if figure == "fig1":
        from . import fig1 as module
    elif figure == "fig2":
        from . import fig2 as module
    else:
        from . import fig3 as module
    return module


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(args) -> int:
    from . import plot

    module = _module(args.figure)
    out = args.out or f"paper_{args.figure}.png"
    try:
        plot.require_matplotlib()
        missing = None
    except plot.MissingMatplotlib as e:
        missing = e
        _log(f"note: {e}; the numbers will be printed, no PNG written")

    start = time.perf_counter()
    data = module.compute(module.setup(quick=args.quick, seed=args.seed), n_threads=args.threads, log=_log)
    print(module.report(data), flush=True)
    if missing is not None:
        _log(f"error: {missing}")
        return 1
    try:
        getattr(plot, f"plot_{args.figure}")(data, out)
    except OSError as e:  # a full disk, /dev/full, a folder removed meanwhile
        _log(f"error: could not write {out}: {e}")
        return 1
    print(f"\nwrote {out} ({time.perf_counter() - start:.1f} s in all)")
    return 0
