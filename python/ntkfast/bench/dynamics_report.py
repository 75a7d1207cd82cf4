"""The checks (issue, item 9) and the printed report of the dynamics section of ``ntkfast bench``,
both read from its results dict."""
from __future__ import annotations

import math

from .dynamics_setup import ACCURACY, N_FEATURES, SEED, fmt_error
from .machine import load_line, machine_lines
from .reporting import check_adder, checks_and_total, contended_note, fmt_s, table
from .timing import Timing


def checks(results: dict) -> list[dict]:
    """The section's checks against the issue's targets, from its results dict."""
    headline = results["headline"]
    kg, tr = results["kernel_gd"], results["train"]
    out = []
    # sized=False for accuracy checks: they hold at any size
    add = check_adder(out, headline, "quick sizes: target is for the headline")

    solvers = {(s["label"], s["setting"].split(",")[0]): s for s in kg["solvers"]}
    fast = solvers.get(("ntkfast.kernel_gd", "dopri5"))
    rk4 = next((s for s in kg["solvers"] if s["setting"].startswith("rk4")), None)
    tag = f"kernel_gd CE N={kg['n']} t={kg['t'][-1]:g}"
    if fast is not None:
        add(f"{tag}: default-tolerance error", fast["error"], f"<= {ACCURACY:g}",
            None if fast["error"] is None else fast["error"] <= ACCURACY, fmt="e", sized=False)
    if rk4 is not None:
        ft, rt = Timing(**fast["timing"]), Timing(**rk4["timing"])
        if ft.known and rt.known:
            v = rt.seconds / ft.seconds
            add(f"{tag}: reference rk4 / ntkfast (same accuracy)", v, ">= 3", v >= 3,
                f"rk4 error {fmt_error(rk4['error'])}", (ft, rt))
        else:
            add(f"{tag}: reference rk4 / ntkfast (same accuracy)", None, ">= 3", None,
                f"reference {rt.status}, ntkfast {ft.status}")
    end = kg.get("endpoint")
    if end is not None and len(end["solvers"]) == 2:
        f_end, r_end = (Timing(**v["timing"]) for v in end["solvers"])
        if f_end.known and r_end.known:
            v = r_end.seconds / f_end.seconds
            add(f"{tag}, t_end only requested: reference rk4 / ntkfast", v, ">= 3", v >= 3,
                f"errors {fmt_error(end['solvers'][0]['error'])} / {fmt_error(end['solvers'][1]['error'])}",
                (f_end, r_end))
    mv = Timing(**kg["matvec"])
    if mv.known and kg.get("floor_seconds"):
        v = mv.seconds / kg["floor_seconds"]
        add(f"kernel product N={kg['n']} O={kg['n_out']}: time / bandwidth floor", v, "<= 1.3",
            v <= 1.3, f"{kg['bandwidth'] / 1e9:.1f} GB/s", (mv,))
    else:
        add(f"kernel product N={kg['n']} O={kg['n_out']}: time / bandwidth floor", None, "<= 1.3",
            None, mv.note or "bandwidth not measured")
    rg = results.get("regression")
    if rg is not None:
        rname = f"kernel regression N={rg['n']} M={rg['m']} O={rg['n_out']}"
        ch, fl = Timing(**rg["cholesky"]), Timing(**rg["floor"])
        if ch.known and fl.known:
            v = ch.seconds / fl.seconds
            add(f"{rname}: kernel_gd_mse t=inf (Cholesky) / LAPACK floor", v, "<= 1.2", v <= 1.2,
                f"floor's OpenBLAS threads: {rg['blas_threads']}", (ch, fl))
        else:
            add(f"{rname}: kernel_gd_mse t=inf (Cholesky) / LAPACK floor", None, "<= 1.2", None,
                f"Cholesky {ch.status}, floor {fl.status}")
        if rg.get("cholesky_vs_eigen") is not None:
            v = rg["cholesky_vs_eigen"]
            add(f"{rname}: Cholesky f_test vs the eigendecomposition's", v, "<= 1e-10", v <= 1e-10,
                fmt="e", sized=False)
    tname = f"train {tr['widths']} N={tr['n']} {tr['steps']} steps {tr['dtype']}"
    ft, rt, fl = Timing(**tr["fast"]), Timing(**tr["reference"]), Timing(**tr["floor"])
    if ft.known and rt.known:
        v = rt.seconds / ft.seconds
        add(f"{tname}: reference / ntkfast", v, ">= 1.5", v >= 1.5, cells=(ft, rt))
    else:
        add(f"{tname}: reference / ntkfast", None, ">= 1.5", None,
            f"ntkfast {ft.status}, reference {rt.status}")
    if ft.known and fl.known:
        v = ft.seconds / fl.seconds
        add(f"{tname}: ntkfast / BLAS floor", v, "<= 1.3", v <= 1.3, cells=(ft, fl))
    else:
        add(f"{tname}: ntkfast / BLAS floor", None, "<= 1.3", None, f"ntkfast {ft.status}")
    if tr.get("deviation") is not None:
        tol = 1e-3 if tr["dtype"] == "float32" else 1e-9
        add(f"{tname}: max |f_ref - f_ntkfast| / max |f_ntkfast|", tr["deviation"], f"<= {tol:g}",
            tr["deviation"] <= tol, fmt="e", sized=False)
    return out


# ---------------------------------------------------------------- formatting

def _i(v) -> str:
    return "-" if v is None else str(v)


def _ms(cell: Timing) -> str:
    if not cell.known:
        return fmt_s(cell)
    return f"{cell.seconds * 1e3:.2f} ms" + ("!" if cell.contended else "")


def _ratio(a: Timing, b: Timing) -> str:
    if not a.known or not b.known:
        return ""
    v = a.seconds / b.seconds
    return (f"{v:.1f}x" if v < 100 else f"{v:.0f}x") + ("!" if a.contended or b.contended else "")


def report(results: dict) -> str:
    m, o, kg, tr = results["machine"], results["options"], results["kernel_gd"], results["train"]
    lines = [
        "ntkfast bench: training dynamics (kernel_gd, train)" + (" --quick" if o["quick"] else ""),
        *machine_lines(m),
        load_line(m, results),
        f"timing: one warm-up call, then best of up to {o['repeat']} (stops after "
        f"{o['max_time']:.0f} s of timed calls); single products best of {o['product_repeat']}",
        "",
        f"kernel_gd, cross-entropy: K = ntk(x, depth={kg['depth']}, relu), x ({kg['n']}, "
        f"{N_FEATURES}) standard normal, seed {SEED}; y one-hot of argmax(x @ W), W ({N_FEATURES}, "
        f"{kg['n_out']}) standard normal; f0 = 0; t = {_fmt_t(kg['t'])}; no test points",
    ]
    t = kg.get("truth", {})
    if "n_rhs" in t:
        looser = t.get("looser", {})
        lines.append(f"  truth: ntkfast.kernel_gd dopri5 rtol={t['rtol']:g} atol={t['atol']:g}: "
                     f"{t['n_steps']} steps, {t['n_rhs']} RHS, {t['seconds']:.1f} s; "
                     f"a run at rtol={looser.get('rtol', 0):g} atol={looser.get('atol', 0):g} "
                     f"differs from it by {fmt_error(looser.get('error'))}")
    lines.append("  error = max |f - f_truth| / max |f_truth| over the requested times (training "
                 "outputs); per RHS = time / RHS count")
    header = ["solver", "setting", "steps", "rejected", "RHS", "time", "per RHS", "error",
              "ntkfast speedup"]
    body = []
    fast_cell = Timing(**kg["solvers"][0]["timing"]) if kg["solvers"] else Timing("error")
    for s in kg["solvers"]:
        c = Timing(**s["timing"])
        per = (Timing("measured", c.seconds / s["n_rhs"], others_cpus=c.others_cpus)
               if c.known and s.get("n_rhs") else Timing("n/a"))
        body.append([s["label"], s["setting"], _i(s["n_steps"]), _i(s["n_rejected"]), _i(s["n_rhs"]),
                     fmt_s(c), _ms(per) if per.known else "-", fmt_error(s["error"]),
                     "" if s is kg["solvers"][0] else _ratio(c, fast_cell)])
    lines += ["  " + r for r in table(header, body, right={2, 3, 4, 5, 6, 7, 8})]
    if kg["search"]:
        steps = ", ".join(f"{s['steps']}: {'failed' if s['error'] is None else fmt_error(s['error'])}"
                          for s in kg["search"])
        lines.append(f"  rk4 step search (untimed; steps over [0, {kg['t'][-1]:g}]: error): {steps}")
        lines.append(f"  (default rk4 step N / max row sum |K| = {kg['default_rk4_dt']:.3g}, i.e. "
                     f"{math.ceil(kg['t'][-1] / kg['default_rk4_dt'])} steps)")
    end = kg.get("endpoint")
    if end is not None:
        parts = []
        for s in end["solvers"]:
            parts.append(f"{s['label']} {s['setting'].split(',')[0]}"
                         + (f" (dt {s['setting'].split('= ')[-1]})" if s["setting"].startswith("rk4") else "")
                         + f": {fmt_s(Timing(**s['timing']))} s, {_i(s.get('n_rhs'))} RHS, "
                         f"error {fmt_error(s['error'])}")
        lines.append(f"  t = {end['t'][-1]:g} only requested (error at t_end): " + "; ".join(parts))
    mv, npmv = Timing(**kg["matvec"]), Timing(**kg["numpy_matvec"])
    lines.append(f"  one RHS product K @ D, D ({kg['n']}, {kg['n_out']}): _core.kernel_matvec "
                 f"{_ms(mv)}; numpy K @ D {_ms(npmv)}")
    if kg.get("floor_seconds"):
        lines.append(f"  bandwidth floor: K's {kg['kernel_bytes'] / 1e6:.0f} MB / "
                     f"{kg['bandwidth'] / 1e9:.1f} GB/s (streaming read, _core.read_bandwidth over "
                     f"{kg['kernel_bytes'] / 1e6:.0f} MB, {m['ntkfast_threads']} threads) = "
                     f"{kg['floor_seconds'] * 1e3:.2f} ms; kernel_matvec / floor "
                     + (f"{mv.seconds / kg['floor_seconds']:.2f}" if mv.known else "-"))
    for note in kg["notes"]:
        lines.append(f"  note: {note}")
    for s in kg["solvers"]:
        c = Timing(**s["timing"])
        if c.status == "error":
            lines.append(f"  error: {s['label']} {s['setting']}: {c.note}")
    if mv.status == "error":
        lines.append(f"  error: kernel_matvec: {mv.note}")

    lines += _regression_lines(results.get("regression"))
    lines += ["", f"train: MLP {tr['widths']} ({tr['n_params']:,} parameters), relu, NTK "
              f"parameterization, seed {SEED}; x ({tr['n']}, {tr['widths'][0]}) standard normal, y "
              f"standard normal; MSE, lr {tr['lr']:g}, {tr['steps']} steps, {tr['dtype']}"]
    if "final_loss" in tr:
        lines.append(f"  loss {tr['initial_loss']:.4g} -> {tr['final_loss']:.4g}; max |f_reference - "
                     f"f_ntkfast| / max |f_ntkfast| = {fmt_error(tr.get('deviation'))}")
    ft, rt, fl = Timing(**tr["fast"]), Timing(**tr["reference"]), Timing(**tr["floor"])
    header = ["implementation", "time", "per step", "ntkfast is"]
    steps = max(1, tr["steps"])

    def per_step(c):
        return _ms(Timing("measured", c.seconds / steps, others_cpus=c.others_cpus)) if c.known else "-"
    body = [["ntkfast.train", fmt_s(ft), per_step(ft), ""],
            ["reference.train (numpy)", fmt_s(rt), per_step(rt),
             (_ratio(rt, ft) + " faster") if ft.known and rt.known else ""],
            ["BLAS floor (numpy products alone)", fmt_s(fl), per_step(fl),
             (_ratio(ft, fl) + " the floor") if ft.known and fl.known else ""]]
    lines += ["  " + r for r in table(header, body, right={1, 2, 3})]
    lines.append("  BLAS floor per step, by product (numpy float32, preallocated outputs, best of "
                 f"{o['product_repeat']}):")
    body = [[p["product"], _ms(Timing(**p["timing"]))] for p in tr["floor_parts"]]
    lines += ["    " + r for r in table(["product", "time"], body, right={1})]
    for label, c in (("ntkfast.train", ft), ("reference.train", rt)):
        if c.status == "error":
            lines.append(f"  error: {label}: {c.note}")
    rg_cells = [] if results.get("regression") is None else [
        results["regression"][key] for key in ("cholesky", "floor", "eigen")]
    if any(Timing(**c).contended for c in (tr["fast"], tr["reference"], tr["floor"], kg["matvec"], *rg_cells)) \
            or any(Timing(**s["timing"]).contended for s in kg["solvers"]):
        lines.append(contended_note())

    lines += ["", "checks (targets from the issues: kernel_gd N=4000 O=10 t=1000; kernel regression "
              "N=4000 M=1000 O=10; train [32, 1024, 1024, 1] N=1024 100 steps float32"
              + ("" if results["headline"] else "; --quick sizes: timing checks indicative only")
              + "):"]

    def value(c):
        v = c["value"]
        if v is None:
            return "-"
        return fmt_error(v) if c["format"] == "e" else f"{v:.2f}x"
    lines += checks_and_total(results, value, "dynamics section")
    return "\n".join(s.rstrip() for s in lines)


def _regression_lines(rg) -> list:
    """The kernel-regression table: the Cholesky path, the eigendecomposition path, the floor."""
    if rg is None:
        return []
    ch, eig, fl = (Timing(**rg[key]) for key in ("cholesky", "eigen", "floor"))
    lines = ["", f"kernel regression at t = inf (kernel_gd_mse, MSE): K = ntk(x, depth={rg['depth']}, "
             f"relu), x ({rg['n']} + {rg['m']}, {N_FEATURES}) standard normal, seed {SEED}; y one-hot "
             f"of argmax(x @ W), O = {rg['n_out']}; f0 = 0, ridge 0; f_test at {rg['m']} test points"]

    def vs_floor(c):
        return (_ratio(c, fl) + " the floor") if c.known and fl.known else ""
    body = [["ntkfast.kernel_gd_mse t=inf (Cholesky)", fmt_s(ch), vs_floor(ch)],
            ["ntkfast.kernel_gd_mse t=[0, inf] (eigendecomposition)", fmt_s(eig), vs_floor(eig)],
            ["LAPACK floor: scipy cho_factor + cho_solve, numpy K(x*, X) @ alpha", fmt_s(fl), ""]]
    lines += ["  " + r for r in table(["implementation", "time", "vs floor"], body, right={1, 2})]
    lines.append(f"  Cholesky and floor: best of {len(Timing(**rg['cholesky']).all_seconds)} "
                 f"interleaved rounds; eigendecomposition: one call. ntkfast's threads as above; the "
                 f"floor's OpenBLAS threads: {rg['blas_threads']}")
    lines.append(f"  max |f_test - f_test(eigendecomposition)| / max |f_test(eigendecomposition)|: "
                 f"Cholesky {fmt_error(rg.get('cholesky_vs_eigen'))}, floor "
                 f"{fmt_error(rg.get('floor_vs_eigen'))}")
    for note in rg["notes"]:
        lines.append(f"  note: {note}")
    for label, c in (("Cholesky", ch), ("eigendecomposition", eig), ("floor", fl)):
        if c.status == "error":
            lines.append(f"  error: {label}: {c.note}")
    return lines


def _fmt_t(ts) -> str:
    return "[" + ", ".join(f"{v:g}" for v in ts) + "]"
