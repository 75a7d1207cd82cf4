// The dual kernels of one pair and their partial derivatives in (k11, k22, k12): what the
// hyperparameter gradient of the infinite-width recursion needs per entry and layer
// (python/ntkfast/_gradient_tables.py derives the chain; _pair_partials.py is the numpy twin).
//
// F = E[φ(u)φ(v)], G = E[φ'(u)φ'(v)] for (u, v) ~ N(0, [[k11, k12], [k12, k22]]). By Price's
// theorem F_12 = G, F_11 = ½E[φ''(u)φ(v)], G_12 = E[φ''(u)φ''(v)], G_11 = ½E[φ'''(u)φ'(v)].
// Closed forms below (s = sqrt(k11 k22), ρ = k12/s, θ = arccos ρ); activations without one take
// every partial from the Hermite coefficients of φ..φ''' (mehler_partials).
// Unlike dual_activations.hpp these are plain scalar functions, not tuned strip loops: the
// gradient is an optimisation-loop quantity, computed once per hyperparameter step.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace ntkfast {

struct PairPartials {
    double f, g, f11, f22, g11, g22, g12;  // F_12 = g
};

// a·min(z,0) + b·max(z,0). F − k12 G = s (a−b)² sin θ / 2π gives F_11 without cancellation;
// G depends on ρ alone, G' = (a−b)² / (2π sin θ). Collinear pairs (sin θ = 0): ρ cannot move to
// first order there, so the G partials (which multiply its change) are set to 0.
inline PairPartials relu_like_partials(double a, double b, double k11, double k22, double k12) {
    constexpr double kPi = 3.14159265358979323846;
    const double r1 = std::sqrt(k11), r2 = std::sqrt(k22), s = r1 * r2;
    PairPartials p{};
    const double sq = a * a + b * b, ab = 2 * a * b, c = (a - b) * (a - b);
    if (!(s > 0)) {  // a zero-variance point: u or v is 0
        p.g = (sq * kPi / 2) / (2 * kPi);  // θ = π/2, the convention ρ = 0
        return p;
    }
    const double rho = std::clamp(k12 / s, -1.0, 1.0);
    const double sn = std::sqrt(std::max(0.0, (1 - rho) * (1 + rho)));
    const double theta = std::atan2(sn, rho);
    p.f = s * (sq * (sn + (kPi - theta) * rho) - ab * (sn - theta * rho)) / (2 * kPi);
    p.g = (sq * (kPi - theta) + ab * theta) / (2 * kPi);
    p.f11 = c * sn * (r2 / r1) / (4 * kPi);
    p.f22 = c * sn * (r1 / r2) / (4 * kPi);
    if (sn > 0) {
        p.g12 = c / (2 * kPi * s * sn);
        p.g11 = -rho * s * p.g12 / (2 * k11);
        p.g22 = -rho * s * p.g12 / (2 * k22);
    }
    return p;
}

// erf: p_i = 1 + 2k_ii, D = p1 p2 − 4k12², F = (2/π) asin(2k12/sqrt(p1 p2)), G = (4/π) D^(−1/2).
inline PairPartials erf_partials(double k11, double k22, double k12) {
    constexpr double kPi = 3.14159265358979323846;
    const double p1 = 1 + 2 * k11, p2 = 1 + 2 * k22;
    const double d = p1 * p2 - 4 * k12 * k12;
    PairPartials p{};
    p.f = (2 / kPi) * std::asin(std::clamp(2 * k12 / std::sqrt(p1 * p2), -1.0, 1.0));
    p.g = (4 / kPi) / std::sqrt(d);
    const double d32 = p.g / d * (kPi / 4);  // D^(−3/2)
    p.f11 = -k12 * p.g / p1;
    p.f22 = -k12 * p.g / p2;
    p.g11 = -(4 / kPi) * p2 * d32;
    p.g22 = -(4 / kPi) * p1 * d32;
    p.g12 = (16 / kPi) * k12 * d32;
    return p;
}

inline PairPartials identity_partials(double k12) { return {k12, 1.0, 0, 0, 0, 0, 0}; }

// sin: F = e^(−(k11+k22)/2) sinh k12, G = e^(−(k11+k22)/2) cosh k12.
inline PairPartials sin_partials(double k11, double k22, double k12) {
    const double h = std::exp(-0.5 * (k11 + k22));
    const double f = h * std::sinh(k12), g = h * std::cosh(k12);
    return {f, g, -0.5 * f, -0.5 * f, -0.5 * g, -0.5 * g, f};
}

// Hermite series: c1, c2 point at the coefficients of φ, φ', φ'', φ''' of the two points, each
// block `stride` long with `terms` used: every partial is Σ_n c^(i)_n(k11) c^(j)_n(k22) ρ^n.
inline PairPartials mehler_partials(const double* c1, const double* c2, std::size_t stride,
                                    std::size_t terms, double k11, double k22, double k12) {
    const double s = std::sqrt(k11) * std::sqrt(k22);
    const double rho = s > 0 ? std::clamp(k12 / s, -1.0, 1.0) : 0.0;
    const double *a0 = c1, *a1 = c1 + stride, *a2 = c1 + 2 * stride, *a3 = c1 + 3 * stride;
    const double *b0 = c2, *b1 = c2 + stride, *b2 = c2 + 2 * stride, *b3 = c2 + 3 * stride;
    double f = 0, g = 0, f11 = 0, f22 = 0, g11 = 0, g22 = 0, g12 = 0;
    for (std::size_t n = terms; n-- > 0;) {  // Horner, highest power first
        f = f * rho + a0[n] * b0[n];
        g = g * rho + a1[n] * b1[n];
        f11 = f11 * rho + a2[n] * b0[n];
        f22 = f22 * rho + a0[n] * b2[n];
        g11 = g11 * rho + a3[n] * b1[n];
        g22 = g22 * rho + a1[n] * b3[n];
        g12 = g12 * rho + a2[n] * b2[n];
    }
    return {f, g, 0.5 * f11, 0.5 * f22, 0.5 * g11, 0.5 * g22, g12};
}

}  // namespace ntkfast
