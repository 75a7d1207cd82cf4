"""What the reports of ``ntkfast bench`` share: a timing cell as text, plain-text tables, the
checks (how one is recorded, the table they are printed in) and saving the results as JSON."""
from __future__ import annotations

import json

from .timing import BUSY_CPUS, Timing


def fmt_s(cell: Timing) -> str:
    """A cell's seconds, "!" when contended, "~…*" when extrapolated, else its status."""
    if cell.status == "measured":
        return num(cell.seconds) + ("!" if cell.contended else "")
    if cell.status == "extrapolated":
        return "~" + num(cell.seconds) + "*"
    return {"skipped": "-", "off": "off", "error": "error"}.get(cell.status, cell.status)


def num(s: float) -> str:
    if s >= 100:
        return f"{s:.0f}"
    if s >= 10:
        return f"{s:.1f}"
    if s >= 1:
        return f"{s:.2f}"
    if s >= 0.1:
        return f"{s:.3f}"
    return f"{s:.4f}"


def table(header: list[str], body: list[list[str]], right: set) -> list[str]:
    """Lines of a table; the columns numbered in ``right`` are right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(  # noqa: E731
        c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return [fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in body)]


def contended_note() -> str:
    """The footnote of the empirical and dynamics tables where a cell is marked "!"."""
    return (f"  ! = other processes used more than {BUSY_CPUS} CPUs on average while this "
            "cell was timed: its time is inflated, the ratio unreliable.")


def check_adder(out: list, headline: bool, off_headline_note: str):
    """``add(name, value, target, ok, note, cells, fmt, sized)``, appending a check to ``out``: a
    check whose cells were timed under contention says so, and a size-dependent (``sized``)
    target gets no verdict when the run is not at the headline size."""
    def add(name, value, target, ok, note="", cells=(), fmt="x", sized=True):
        if any(c.contended for c in cells):
            note = ", ".join(filter(None, [note, "contended (!)"]))
        if sized and not headline and ok is not None:
            ok, note = None, ", ".join(filter(None, [note, off_headline_note]))
        out.append({"name": name, "value": value, "target": target, "ok": ok, "note": note,
                    "format": fmt})
    return add


def checks_and_total(results: dict, format_value, total_label: str) -> list:
    """The checks table of a report (values shown by format_value(check)) and its time line."""
    body = [[c["name"], format_value(c), c["target"], {True: "ok", False: "MISS", None: ""}[c["ok"]],
             c["note"]] for c in results["checks"]]
    lines = ["  " + s for s in table(["check", "value", "target", "result", "note"], body, right={1})]
    others = results.get("others_cpus_during_run")
    lines += ["", f"{total_label}: {results['total_seconds']:.0f} s"
              + ("" if others is None else
                 f"; other processes used {others:.2f} CPUs on average meanwhile")]
    return lines


def save_json(results: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
