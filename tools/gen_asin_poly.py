"""Generate the polynomial behind ntkfast's vectorised arcsine (src/cpp/ntkfast/vec_asin.hpp).

asin(x) = x + x^3 * P(x^2) on 0 <= x <= 1/sqrt(2). P is fitted by least squares at Chebyshev
nodes of t = x^2 in [0, 1/2] against 50-digit mpmath values (near-minimax), then the maximum
relative error of the whole formula, evaluated in float64 / float32 with Horner's rule, is
measured on a dense grid and printed. Re-run this script to check or regenerate the coefficients.
The C++ evaluates the same polynomial with Estrin's scheme (shorter dependency chains); its
rounding differs by a few ulps, which the parity tests (fast vs numpy's arctan2) cover.
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 50
T_MAX = mp.mpf(1) / 2


def p_exact(t):
    if t == 0:
        return mp.mpf(1) / 6
    x = mp.sqrt(t)
    return (mp.asin(x) - x) / (x**3)


def fit(degree, n_nodes=400):
    nodes = [T_MAX / 2 * (1 - mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n_nodes)) for k in range(n_nodes)]
    A = mp.matrix([[t**j for j in range(degree + 1)] for t in nodes])
    b = mp.matrix([p_exact(t) for t in nodes])
    # Relative weighting: the term x^3 P is at most ~10% of asin(x), plain LS is enough.
    coef = mp.lu_solve(A.T * A, A.T * b)
    return [coef[j] for j in range(degree + 1)]


def horner_asin(coef, x, dtype):
    x = x.astype(dtype)
    t = x * x
    p = np.full_like(x, dtype(coef[-1]))
    for c in reversed(coef[:-1]):
        p = p * t + dtype(c)
    return x + (x * t) * p


def max_rel_err(coef, dtype):
    x = np.linspace(0, 1 / np.sqrt(2), 200001)[1:].astype(dtype)
    approx = horner_asin(coef, x, dtype).astype(np.float64)
    exact = np.array([float(mp.asin(mp.mpf(float(v)))) for v in x[::50]])
    return np.max(np.abs(approx[::50] - exact) / exact)


if __name__ == "__main__":
    for dtype, degree in ((np.float64, 18), (np.float32, 7)):
        coef = fit(degree)
        print(f"{dtype.__name__}: degree {degree}, max rel error {max_rel_err(coef, dtype):.3e}")
        for c in coef:
            print(f"    {mp.nstr(c, 20, min_fixed=-1, max_fixed=-1)},")
