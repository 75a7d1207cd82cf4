"""The scikit-learn section of ``ntkfast bench`` (issue 14): the estimators and the GP kernel.

Cases (headline sizes; ``--quick`` in brackets):
  - fit + predict of NTKRegressor (relu, depth 3, t = inf, ridge 1e-3, float64) on N = 10 000
    [2 000] training and 2 000 [500] test points, d = 64, standard-normal inputs and a tanh
    teacher (regression_case), against the floor ``ntk`` Gram + Cholesky in the same run:
    ``kernel_gd_mse(k(X), y, inf, k_test_train=k(X*, X))`` (target: estimator <= 1.3 x floor);
  - load_digits, 5-fold stratified CV (shuffled, seed 0) of NTKClassifier (relu, depth 3, ridge
    1e-4, pixels / 16) beside scikit-learn's KernelRidge(kernel="rbf") regressing the same
    centred one-hot targets (argmax = class), default gamma = 1/64, alpha 1e-3: time and accuracy;
  - GaussianProcessRegressor(NTKGPKernel(relu, depth 10) + WhiteKernel, normalize_y) learning
    σ_w², β² and the noise on N = 1 000 [300] points, d = 64, with the analytic gradient and
    with central finite differences (the same kernel, ``analytic_gradient=False``): whole fit
    time, marginal-likelihood evaluations and time per evaluation (target: analytic >= 2x
    faster). A deep network: there the kernel, not scikit-learn's O(N³) linear algebra, is the
    cost that the gradient changes.
Each timing is the best of two runs (the estimator and its floor alternate), one run for the GP
fits; other processes on the machine inflate them ("!" where they used more than a quarter CPU).
"""
from __future__ import annotations

import sys
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from .machine import load_line, loadavg, machine_info, machine_lines
from .regression_case import problem
from .reporting import check_adder, checks_and_total, table
from .timing import BUSY_CPUS, Timing, busy_seconds, others_cpus, own_seconds, single_call

HEADLINE = dict(n_train=10_000, n_test=2_000, gp_n=1_000)
QUICK = dict(n_train=2_000, n_test=500, gp_n=300)
FIT_RATIO = 1.3      # estimator / (Gram + Cholesky) floor
GP_SPEEDUP = 2.0     # finite differences / analytic, whole GP fit


@dataclass
class Options:
    n_train: int = HEADLINE["n_train"]
    n_test: int = HEADLINE["n_test"]
    gp_n: int = HEADLINE["gp_n"]
    d: int = 64
    depth: int = 3
    gp_depth: int = 10
    ridge: float = 1e-3
    rounds: int = 2
    digits_n: Optional[int] = None  # first rows of load_digits only (smoke tests)
    threads: Optional[int] = None
    quick: bool = False

    @property
    def headline(self) -> bool:
        return all(getattr(self, k) == v for k, v in HEADLINE.items())


def options(quick: bool = False, **overrides) -> Options:
    base = dict(QUICK) if quick else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Options(quick=quick, **base)


def _cell(t: Timing) -> dict:
    return {"seconds": t.seconds, "others_cpus": t.others_cpus, "error": t.note or None}


def _best(cells: list[Timing]) -> Timing:
    known = [c for c in cells if c.known]
    if not known:
        return cells[0]
    best = min(known, key=lambda c: c.seconds)
    worst = max((c.others_cpus or 0.0) for c in known)
    return Timing("measured", best.seconds, len(known), [c.seconds for c in known], others_cpus=worst)


def fit_predict_case(opts: Options, progress) -> dict:
    import ntkfast
    from ntkfast.sklearn import NTKRegressor

    x, y, xt, ft = problem(opts.n_train, opts.n_test, opts.d, noise=0.5)
    kernel = ntkfast.InfiniteWidthKernel(depth=opts.depth)
    est = NTKRegressor(depth=opts.depth, ridge=opts.ridge, n_threads=opts.threads)
    box = {}

    def estimator():
        box["est"] = est.fit(x, y).predict(xt)

    def floor():
        k_train = kernel(x, n_threads=opts.threads)
        k_test = kernel(xt, x, n_threads=opts.threads)
        box["floor"] = ntkfast.kernel_gd_mse(k_train, y, np.inf, k_test_train=k_test,
                                             ridge=opts.ridge, n_threads=opts.threads).f_test[0]

    est_cells, floor_cells = [], []
    for r in range(opts.rounds):
        progress(f"sklearn: NTKRegressor fit+predict N={opts.n_train} round {r + 1}")
        est_cells.append(single_call(estimator))
        floor_cells.append(single_call(floor))
    e, f = _best(est_cells), _best(floor_cells)
    agree = float(np.max(np.abs(box["est"] - box["floor"])) / np.max(np.abs(box["floor"])))
    mse = float(np.mean((box["est"] - ft) ** 2))
    return {"estimator": _cell(e), "floor": _cell(f), "solver": est.solver_,
            "max_rel_difference": agree, "test_mse": mse, "teacher_variance": float(ft.var())}


def digits_case(opts: Options, progress) -> dict:
    from sklearn.datasets import load_digits
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import StratifiedKFold

    from ntkfast.sklearn import NTKClassifier

    x, y = load_digits(return_X_y=True)
    x, y = x[:opts.digits_n] / 16, y[:opts.digits_n]
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(x, y))
    targets = np.eye(10)[y] - 0.1

    def ntk():
        correct = 0
        for tr, te in folds:
            clf = NTKClassifier(depth=3, ridge=1e-4, n_threads=opts.threads).fit(x[tr], y[tr])
            correct += int(np.sum(clf.predict(x[te]) == y[te]))
        return correct / len(y)

    def rbf():
        correct = 0
        for tr, te in folds:
            model = KernelRidge(kernel="rbf", alpha=1e-3).fit(x[tr], targets[tr])
            correct += int(np.sum(np.argmax(model.predict(x[te]), axis=1) == y[te]))
        return correct / len(y)

    out = {}
    for name, fn in (("NTKClassifier relu depth 3", ntk), ("KernelRidge rbf", rbf)):
        progress(f"sklearn: digits 5-fold CV, {name}")
        box = {}
        cells = [single_call(lambda: box.__setitem__("acc", fn())) for _ in range(opts.rounds)]
        out[name] = {**_cell(_best(cells)), "accuracy": box["acc"]}
    return out


def gp_case(opts: Options, progress) -> dict:
    from scipy.optimize import minimize
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import WhiteKernel

    from ntkfast.sklearn import NTKGPKernel

    x, y, _, _ = problem(opts.gp_n, 10, opts.d, noise=0.5)
    out = {}
    for analytic in (True, False):
        calls = []

        def lbfgs(obj_func, initial_theta, bounds):  # scikit-learn's optimizer, counted
            def counted(theta):
                calls.append(1)
                return obj_func(theta, eval_gradient=True)
            res = minimize(counted, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds)
            return res.x, res.fun

        kernel = NTKGPKernel(depth=opts.gp_depth, weight_variance=1.0, bias_variance=0.1,
                             analytic_gradient=analytic, n_threads=opts.threads) + WhiteKernel(0.1)
        gp = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=lbfgs)
        name = "analytic" if analytic else "finite differences"
        progress(f"sklearn: GP marginal-likelihood fit N={opts.gp_n}, {name} gradient")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a bound reached is the data's business here
            t = single_call(lambda: gp.fit(x, y))
        learned = gp.kernel_.k1
        out[name] = {**_cell(t), "evaluations": len(calls),
                     "weight_variance": float(learned.weight_variance),
                     "bias_variance": float(learned.bias_variance),
                     "noise": float(gp.kernel_.k2.noise_level),
                     "log_marginal_likelihood": float(gp.log_marginal_likelihood_value_)}
    return out


def run(opts: Options, progress=None) -> dict:
    if progress is None:
        progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    busy0, own0 = busy_seconds(), own_seconds()
    info = machine_info(opts.threads)
    results = {"machine": info, "options": asdict(opts), "headline": opts.headline,
               "fit_predict": fit_predict_case(opts, progress), "digits": digits_case(opts, progress),
               "gp": gp_case(opts, progress)}
    total = time.perf_counter() - started
    results.update(total_seconds=total, load_average_at_end=loadavg(),
                   others_cpus_during_run=others_cpus(busy0, own0, busy_seconds(), own_seconds(), total))
    results["checks"] = checks(results)
    return results


class _Cell:  # what check_adder reads of a timing cell
    def __init__(self, cell):
        self.contended = cell.get("others_cpus") is not None and cell["others_cpus"] > BUSY_CPUS


def checks(results: dict) -> list[dict]:
    out = []
    add = check_adder(out, results["headline"], "quick sizes: target is for the headline")
    fp = results["fit_predict"]
    e, f = fp["estimator"]["seconds"], fp["floor"]["seconds"]
    if e and f:
        add("fit + predict / (ntk Gram + Cholesky)", e / f, f"<= {FIT_RATIO:g}", e / f <= FIT_RATIO,
            f"solver {fp['solver']}", (_Cell(fp["estimator"]), _Cell(fp["floor"])))
    add("estimator agrees with kernel_gd_mse", fp["max_rel_difference"], "<= 1e-10",
        fp["max_rel_difference"] <= 1e-10, fmt="e", sized=False)
    acc = results["digits"]["NTKClassifier relu depth 3"]["accuracy"]
    full = results["options"]["digits_n"] is None
    add("digits 5-fold CV accuracy", acc, ">= 0.985", acc >= 0.985 if full else None, fmt="acc",
        note="" if full else "a subset of digits", sized=False)
    gp = results["gp"]
    a, d = gp["analytic"]["seconds"], gp["finite differences"]["seconds"]
    if a and d:
        add("GP fit: finite differences / analytic", d / a, f">= {GP_SPEEDUP:g}", d / a >= GP_SPEEDUP,
            f"{gp['analytic']['evaluations']} vs {gp['finite differences']['evaluations']} "
            "evaluations", (_Cell(gp["analytic"]), _Cell(gp["finite differences"])))
    return out


def _fmt_value(c) -> str:
    v = c["value"]
    return {"x": f"{v:.2f}", "acc": f"{v:.4f}"}.get(c["format"], f"{v:.2e}")


def _s(cell) -> str:
    if cell.get("seconds") is None:
        return "error"
    return f"{cell['seconds']:.2f} s" + ("!" if _Cell(cell).contended else "")


def report(results: dict) -> str:
    m, o = results["machine"], results["options"]
    fp, dg, gp = results["fit_predict"], results["digits"], results["gp"]
    lines = [
        "ntkfast bench: scikit-learn estimators and the GP kernel" + (" --quick" if o["quick"] else ""),
        *machine_lines(m), load_line(m, results), "",
        f"NTKRegressor fit + predict: N = {o['n_train']:,} train, {o['n_test']:,} test, d = {o['d']}, "
        f"relu depth {o['depth']}, t = inf, ridge {o['ridge']:g} (best of {o['rounds']})",
    ]
    body = [["NTKRegressor().fit(X, y).predict(X*)", _s(fp["estimator"]), fp["solver"]],
            ["floor: kernel_gd_mse(k(X), y, inf, k(X*, X))", _s(fp["floor"]), "Gram + Cholesky"]]
    lines += ["  " + r for r in table(["", "time", "note"], body, right={1})]
    lines += [f"  test MSE {fp['test_mse']:.4g} (teacher variance {fp['teacher_variance']:.4g}); "
              f"largest difference to the floor {fp['max_rel_difference']:.1e} (relative)", ""]
    lines.append(f"load_digits ({o['digits_n'] or 'all 1797'} rows), 5-fold stratified CV (shuffled, seed 0), "
                 "pixels / 16, fit + predict of all folds:")
    body = [[name, _s(c), f"{c['accuracy']:.4f}"] for name, c in dg.items()]
    lines += ["  " + r for r in table(["", "time", "accuracy"], body, right={1, 2})]
    lines += ["", f"GaussianProcessRegressor(NTKGPKernel(relu, depth {o['gp_depth']}) + WhiteKernel, "
              f"normalize_y): N = {o['gp_n']:,}, d = {o['d']}, L-BFGS-B from σ_w² = 1, β² = 0.1, noise 0.1"]
    body = []
    for name, c in gp.items():
        per = c["seconds"] / c["evaluations"] if c.get("seconds") and c["evaluations"] else None
        body.append([name, _s(c), str(c["evaluations"]), "-" if per is None else f"{per:.3f} s",
                     f"{c['weight_variance']:.4g}", f"{c['bias_variance']:.4g}", f"{c['noise']:.3g}",
                     f"{c['log_marginal_likelihood']:.6g}"])
    lines += ["  " + r for r in table(["gradient", "fit", "evaluations", "per evaluation", "σ_w²", "β²",
                                       "noise", "log ML"], body, right=set(range(1, 8)))]
    if any(_Cell(c).contended for c in [fp["estimator"], fp["floor"], *dg.values(), *gp.values()]):
        lines.append(f"  ! = other processes used more than {BUSY_CPUS} CPUs on average meanwhile: "
                     "times inflated")
    lines += ["", "checks (targets from issue 14" + ("" if results["headline"] else
              "; --quick sizes: timing checks indicative only") + "):"]
    lines += checks_and_total(results, _fmt_value, "sklearn section")
    return "\n".join(s.rstrip() for s in lines)
