"""The checks (issue, item 8) and the printed report of the empirical section of ``ntkfast bench``,
both read from its results dict."""
from __future__ import annotations

from typing import Optional

from .empirical_setup import HEADLINE_N, HEADLINE_WIDTHS, MEMORY_LIMIT, SEED, TOLERANCE, MemoryRow, Row
from .machine import machine_lines
from .reporting import check_adder, checks_and_total, contended_note, fmt_s, table
from .timing import Timing


def checks(results: dict) -> list[dict]:
    """The section's checks against the issue's targets, from its results dict."""
    o = results["options"]
    headline = tuple(o["widths"]) == HEADLINE_WIDTHS and o["n"] == HEADLINE_N
    rows = [_row_from_dict(r) for r in results["rows"]]
    out = []
    # sized=False for agreement and memory checks: they hold at any size
    add = check_adder(out, headline, "target is for the headline case")

    head = {r.dtype: r for r in rows if r.n == o["n"]}
    n = o["n"]
    if "float32" in head:
        r = head["float32"]
        if r.torch.known and r.fast.known:
            v = r.torch.seconds / r.fast.seconds
            add(f"float32 N={n}: torch.func / ntkfast", v, ">= 100", v >= 100,
                r.torch.note, (r.fast, r.torch))
        else:
            add(f"float32 N={n}: torch.func / ntkfast", None, ">= 100", None,
                f"torch.func {r.torch.status}")
    if "float64" in head:
        r = head["float64"]
        if r.nt.known and r.fast.known:
            v = r.nt.seconds / r.fast.seconds
            add(f"float64 N={n}: neural-tangents / ntkfast", v, ">= 5", v >= 5,
                cells=(r.fast, r.nt))
        else:
            add(f"float64 N={n}: neural-tangents / ntkfast", None, ">= 5", None,
                f"neural-tangents {r.nt.status}")
    for dt, r in head.items():
        if r.fast.known and r.floor.known:
            v = r.fast.seconds / r.floor.seconds
            add(f"{dt} N={n}: ntkfast / Gram floor", v, "<= 1.5", v <= 1.5,
                cells=(r.fast, r.floor))
    for r in rows:
        for name, label in (("reference", "reference"), ("torch", "torch.func"), ("nt", "neural-tangents")):
            if name in r.deviation:
                v = r.deviation[name]
                tol = TOLERANCE[r.dtype]
                add(f"{r.dtype} N={r.n}: max |{label} - ntkfast| / max |ntkfast|", v,
                    f"<= {tol:g}", bool(v <= tol), fmt="e", sized=False)
    for m in results["memory"]:
        m = MemoryRow(**{**m, "widths": tuple(m["widths"])})
        name = f"{m.label} {m.dtype} N={m.n}" + (f" budget {m.memory_budget >> 20} MiB"
                                                  if m.memory_budget else "") + ": peak RSS"
        if m.status != "measured":
            add(name, None, "completes", False, m.note, sized=False)
        elif m.output == "full":
            add(name, m.peak_rss / 1e9, f"<= {MEMORY_LIMIT / 1e9:.0f} GB", m.peak_rss <= MEMORY_LIMIT,
                fmt="GB", sized=False)
        else:
            add(name, m.peak_rss / 1e9, "completes", True,
                "blocked" if m.blocked else "not blocked (features fit the budget)", fmt="GB",
                sized=False)
    return out


def _row_from_dict(r: dict) -> Row:
    return Row(**{**r, "widths": tuple(r["widths"]),
                  **{k: Timing(**r[k]) for k in ("fast", "reference", "floor", "fwd_bwd", "torch", "nt")}})


# ---------------------------------------------------------------- formatting

def _ratio(a: Timing, b: Timing) -> str:
    """a / b as "12.3x" (speedup of b over a), marked like the kernels section's speedups."""
    if not a.known or not b.known:
        return ""
    v = a.seconds / b.seconds
    txt = f"{v:.0f}x" if v >= 100 else f"{v:.2f}x" if v < 10 else f"{v:.1f}x"
    return txt + ("!" if a.contended or b.contended else "")


def _dev(row: Row, name: str) -> str:
    v = row.deviation.get(name)
    return "" if v is None else f"{v:.1e}"


def _gb(v: Optional[int]) -> str:
    return "-" if v is None else f"{v / 1e9:.2f} GB"


def report(results: dict) -> str:
    m, o, net = results["machine"], results["options"], results["network"]
    widths = net["widths"]
    lines = [
        "ntkfast bench: empirical NTK of a finite network" + (" (--quick)" if o["quick"] else ""),
        *machine_lines(m),
        f"torch: {m['torch']}",
        f"neural-tangents: {m['neural_tangents']}",
        f"network: {net['activation']} MLP, widths {widths} ({len(widths) - 1} weight layers, "
        f"P = {net['n_params']:,} parameters), NTK parameterization, weight_std {net['weight_std']}, "
        f"bias_std {net['bias_std']}, seed {net['seed']}",
        f"data: standard normal x, shape (N, {results['data']['n_features']}), seed {SEED}; "
        f"{results['data']['function']}",
        f"timing: one warm-up call, then best of up to {o['repeat']} (torch.func: "
        f"{o['torch_repeat']}); seconds",
        "",
    ]
    rows = [_row_from_dict(r) for r in results["rows"]]
    lines.append("ntkfast against the BLAS floor (numpy, the same Gram products alone, on precomputed "
                 "features):")
    lines.append(f"  Gram floor = {results['floor_products']}; one syrk each (numpy's OpenBLAS, "
                 "all CPUs).")
    lines.append("  fwd/bwd = numpy's forward (A_l @ W_l^T) and backward (D_l @ W_l) products, not "
                 "in the floor.")
    header = ["dtype", "N", "ntkfast", "Gram floor", "ntkfast/floor", "fwd/bwd", "floor+fwd/bwd",
              "ntkfast/(floor+fwd/bwd)"]
    body = []
    for r in rows:
        both = (Timing("measured", r.floor.seconds + r.fwd_bwd.seconds,
                       others_cpus=max(r.floor.others_cpus or 0, r.fwd_bwd.others_cpus or 0) or None)
                if r.floor.known and r.fwd_bwd.known else Timing("error"))
        body.append([r.dtype, str(r.n), fmt_s(r.fast), fmt_s(r.floor), _ratio(r.fast, r.floor),
                     fmt_s(r.fwd_bwd), fmt_s(both), _ratio(r.fast, both)])
    lines += ["  " + s for s in table(header, body, right=set(range(1, 8)))]
    lines += ["", "ntkfast against other implementations (speedup = their time / ntkfast's; dev = "
              "max |K - K_ntkfast| / max |K_ntkfast|):"]
    header = ["dtype", "N", "ntkfast", "reference", "speedup", "dev", "torch.func", "speedup", "dev",
              "neural-tangents", "speedup", "dev"]
    body = [[r.dtype, str(r.n), fmt_s(r.fast), fmt_s(r.reference), _ratio(r.reference, r.fast),
             _dev(r, "reference"), fmt_s(r.torch), _ratio(r.torch, r.fast), _dev(r, "torch"),
             fmt_s(r.nt), _ratio(r.nt, r.fast), _dev(r, "nt")] for r in rows]
    lines += ["  " + s for s in table(header, body, right=set(range(1, 12)))]
    notes = []
    for r in rows:
        for label, c in (("ntkfast", r.fast), ("reference", r.reference), ("torch.func", r.torch),
                         ("neural-tangents", r.nt)):
            if c.status in ("error", "not installed") and c.note and c.note != c.status:
                notes.append(f"  {label} {r.dtype} N={r.n}: {c.status}: {c.note}")
            elif c.note and c.status == "measured":
                notes.append(f"  {label} {r.dtype} N={r.n}: {c.note}")
    if o["quick"]:
        notes.append(f"  --quick: reference at N={o['reference_n']} only; torch.func, neural-tangents "
                     "and the memory rows are in the full report (ntkfast bench --suite empirical).")
    if any(c.contended for r in rows for c in (r.fast, r.reference, r.floor, r.fwd_bwd, r.torch, r.nt)):
        notes.append(contended_note())
    lines += notes

    if results["memory"]:
        lines += ["", "memory (each a single cold call in a fresh subprocess; peak RSS = VmHWM of that "
                  "process, baseline = its RSS before the call):"]
        header = ["case", "dtype", "N", "output", "memory_budget", "time", "peak RSS", "baseline",
                  "output size", "features", "blocked"]
        body = []
        for mm in results["memory"]:
            mr = MemoryRow(**{**mm, "widths": tuple(mm["widths"])})
            if mr.status != "measured":
                body.append([mr.label, mr.dtype, str(mr.n), mr.output, "", "error", "", "", "", "", ""])
                continue
            t = Timing("measured", mr.seconds, others_cpus=mr.others_cpus)
            budget = (f"{mr.memory_budget / 2**20:.0f} MiB" if mr.memory_budget
                      else f"default ({mr.budget_used / 2**30:.2f} GiB)")
            body.append([mr.label, mr.dtype, str(mr.n), mr.output, budget, fmt_s(t), _gb(mr.peak_rss),
                         _gb(mr.baseline_rss), _gb(mr.output_bytes), _gb(mr.feature_bytes),
                         "yes" if mr.blocked else "no"])
        lines += ["  " + s for s in table(header, body, right={2, 5, 6, 7, 8, 9})]
        for mm in results["memory"]:
            if mm["status"] != "measured":
                lines.append(f"  error: {mm['label']} {mm['dtype']}: {mm['note']}")

    lines += ["", "checks (targets from the issue, item 8: widths [32, 1024, 1024, 1], N = 2048"
              + ("" if tuple(o["widths"]) == HEADLINE_WIDTHS and o["n"] == HEADLINE_N
                 else "; at other sizes indicative only") + "):"]
    def value(c):
        v = c["value"]
        if v is None:
            return "-"
        if c["format"] == "e":
            return f"{v:.1e}"
        if c["format"] == "GB":
            return f"{v:.2f} GB"
        return f"{v:.0f}x" if v >= 100 else f"{v:.2f}x"
    lines += checks_and_total(results, value, "empirical section")
    return "\n".join(s.rstrip() for s in lines)

