// The dual kernels of one pair and their partial derivatives in (k11, k22, k12): what the
// hyperparameter gradient of the infinite-width recursion needs per entry and layer
// (python/ntkfast/_gradient_tables.py derives the chain; _pair_partials.py is the numpy twin).
//
// F = E[φ(u)φ(v)], G = E[φ'(u)φ'(v)] for (u, v) ~ N(0, [[k11, k12], [k12, k22]]). By Price's
// theorem F_12 = G, F_11 = ½E[φ''(u)φ(v)], G_12 = E[φ''(u)φ''(v)], G_11 = ½E[φ'''(u)φ'(v)].
// Closed forms below (s = sqrt(k11 k22), ρ = k12/s, θ = arccos ρ); activations without one take
// every partial from the Hermite coefficients of φ..φ''' (kernel_gradient.cpp). Each struct is
// branch-free and gets the per-point roots r = sqrt(k) and their inverses ir (0 at k = 0), so
// the strip loops of kernel_gradient.cpp vectorise.
#pragma once

#include <cmath>

#include "vec_angle.hpp"

namespace ntkfast {

struct PairPartials {
    double f, g, f11, f22, g11, g22, g12;  // F_12 = g
};

// a·min(z,0) + b·max(z,0). F − k12 G = s (a−b)² sin θ / 2π gives F_11 without cancellation;
// G depends on ρ alone, G' = (a−b)² / (2π sin θ). Collinear pairs (sin θ = 0): ρ cannot move to
// first order there, so the G partials (which multiply its change) are set to 0.
struct ReluLikePartials {
    double sq, ab, c;  // a² + b², 2ab, (a − b)²
    ReluLikePartials(double a, double b) : sq(a * a + b * b), ab(2 * a * b), c((a - b) * (a - b)) {}

    inline PairPartials operator()(double k12, double r1, double ir1, double r2, double ir2) const {
        constexpr double kTwoPi = 2 * kPi<double>;
        const double s = r1 * r2;
        const double rho = clamp_unit(k12 * ir1 * ir2);  // 0 at a zero-variance point
        const double sn = unit_complement(rho);
        const double theta = angle_from_cos(rho, sn);
        const double isn = sn > 0 ? 1 / (sn > 0 ? sn : 1.0) : 0.0;
        PairPartials p;
        p.f = s * (sq * (sn + (kPi<double> - theta) * rho) - ab * (sn - theta * rho)) / kTwoPi;
        p.g = (sq * (kPi<double> - theta) + ab * theta) / kTwoPi;
        p.f11 = c * sn * r2 * ir1 / (2 * kTwoPi);
        p.f22 = c * sn * r1 * ir2 / (2 * kTwoPi);
        const double gs = c * isn / kTwoPi;  // s · G_12
        p.g12 = gs * ir1 * ir2;
        p.g11 = -rho * gs * ir1 * ir1 / 2;
        p.g22 = -rho * gs * ir2 * ir2 / 2;
        return p;
    }
};

// erf: p_i = 1 + 2k_ii, D = p1 p2 − 4k12² (= 1 + 2k11 + 2k22 + 4(k11 k22 − k12²), no cancellation),
// F = (2/π) asin(2k12/sqrt(p1 p2)), G = (4/π) D^(−1/2).
struct ErfPartials {
    inline PairPartials operator()(double k12, double r1, double, double r2, double) const {
        constexpr double kPi_ = kPi<double>;
        const double k11 = r1 * r1, k22 = r2 * r2;
        const double p1 = 1 + 2 * k11, p2 = 1 + 2 * k22;
        const double rr = r1 * r2;
        const double gap = (rr - k12) * (rr + k12);
        const double d = p1 + 2 * k22 + 4 * (gap > 0 ? gap : 0.0);
        const double root = std::sqrt(d);
        const double ip = 1 / std::sqrt(p1 * p2);
        const double x = clamp_unit(2 * k12 * ip);
        const double sx = root * ip;
        PairPartials p;
        p.f = (2 / kPi_) * angle_from_sin(x, sx < 1 ? sx : 1.0);
        p.g = (4 / kPi_) / root;
        const double d32 = 1 / (d * root);
        p.f11 = -k12 * p.g / p1;
        p.f22 = -k12 * p.g / p2;
        p.g11 = -(4 / kPi_) * p2 * d32;
        p.g22 = -(4 / kPi_) * p1 * d32;
        p.g12 = (16 / kPi_) * k12 * d32;
        return p;
    }
};

struct IdentityPartials {
    inline PairPartials operator()(double k12, double, double, double, double) const {
        return {k12, 1.0, 0, 0, 0, 0, 0};
    }
};

// sin: F = e^(−(k11+k22)/2) sinh k12, G = e^(−(k11+k22)/2) cosh k12.
struct SinPartials {
    inline PairPartials operator()(double k12, double r1, double, double r2, double) const {
        const double h = std::exp(-0.5 * (r1 * r1 + r2 * r2));
        const double f = h * std::sinh(k12), g = h * std::cosh(k12);
        return {f, g, -0.5 * f, -0.5 * f, -0.5 * g, -0.5 * g, f};
    }
};

}  // namespace ntkfast
