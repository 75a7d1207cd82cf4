"""argparse ``type=`` converters shared by the ``ntkfast`` commands (bench, paper).

Each turns one option's text into its value or raises ``argparse.ArgumentTypeError``, so a bad
value is a usage error naming the option (exit status 2) before any work starts.
"""
from __future__ import annotations

import argparse
import os

from ._thread_args import MAX_THREADS


def int_list(text: str) -> tuple:
    try:
        values = tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def name_list(allowed: dict):
    """A converter of comma-separated names (case-insensitive keys of ``allowed``) to the tuple
    of their values."""
    def parse(text: str) -> tuple:
        names = tuple(allowed.get(v.strip().lower(), None) for v in text.split(",") if v.strip())
        if not names or None in names:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated subset of {', '.join(sorted(set(allowed)))}, got {text!r}")
        return names
    return parse


def threads(text: str) -> int:
    """--threads: validated like every n_threads= (an argparse error, not a traceback later)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer thread count, got {text!r}") from None
    if n == 0 or abs(n) > MAX_THREADS:
        raise argparse.ArgumentTypeError(
            f"expected a positive count or a negative count from the number of CPUs "
            f"(at most {MAX_THREADS} either way), got {n}")
    return n


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def nonnegative_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {n}")
    return n


def output_path(text: str) -> str:
    """A file the command will write at the end: its folder must exist and be writable now, so a
    typo fails at once rather than after minutes of work."""
    folder = os.path.dirname(os.path.abspath(text)) or "."
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file name")
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(text) and not os.access(text, os.W_OK)):
        raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    return text
