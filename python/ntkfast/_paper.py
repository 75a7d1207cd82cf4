"""Placeholder (issue 4): ``ntkfast paper fig1|fig2``."""


def add_arguments(parser) -> None:
    parser.add_argument("figure", choices=("fig1", "fig2"))


def main(args) -> int:
    raise NotImplementedError
