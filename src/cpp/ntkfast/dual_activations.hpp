// Closed-form dual activations: one layer step of the infinite-width recursion (ntk-math.md §2).
//
// For an entry (x, x') with previous-layer values k11 = Σ(x,x), k22 = Σ(x',x'), k12 = Σ(x,x'),
// each struct returns E = E[φ(u)φ(v)] and Ed = E[φ'(u)φ'(v)] for (u, v) ~ N(0, [[k11,k12],[k12,k22]]).
// Everything that depends on one point only (sqrt(k), 1/sqrt(k), and an activation-specific
// quantity `aux`) is precomputed once per point and layer by `point_aux`, so the per-entry work is
// a handful of flops and, for the ReLU family and erf, one polynomial angle (vec_angle.hpp). All
// functions are branch-free so the strip loops in infinite_width.hpp vectorise.
#pragma once

#include <cmath>

#include "bivariate_normal.hpp"
#include "vec_angle.hpp"

namespace ntkfast {

// a·min(z,0) + b·max(z,0): relu (a=0,b=1), leaky relu (a=slope), abs (a=-1,b=1).
template <class T> struct ReluLikeDual {
    T sq;    // (a² + b²) / (2π)
    T ab2;   // 2ab / (2π)

    ReluLikeDual(double a, double b)
        : sq(T((a * a + b * b) / (2 * 3.14159265358979323846))),
          ab2(T(2 * a * b / (2 * 3.14159265358979323846))) {}

    static T point_aux(T) { return T(0); }

    inline void operator()(T k12, T ri, T iri, T, T rj, T irj, T, T& e, T& ed) const {
        // ρ = 0 when either point has zero variance (zero input, bias 0): then k12 = 0 as well.
        const T rho = clamp_unit(k12 * iri * irj);
        const T s = unit_complement(rho);
        const T theta = angle_from_cos(rho, s);
        const T pm = kPi<T> - theta;
        // J = (a²+b²)(sin θ + (π-θ)cos θ) - 2ab(sin θ - θ cos θ)
        e = (ri * rj) * (sq * (s + pm * rho) - ab2 * (s - theta * rho));
        ed = sq * pm + ab2 * theta;
    }
};

// erf: E = (2/π) asin(2 k12 / sqrt(p1 p2)), Ed = (4/π) / sqrt(p1 p2 - 4 k12²), p = 1 + 2k.
// aux = 1/sqrt(1 + 2k). p1 p2 - 4k12² is formed as 1 + 2k11 + 2k22 + 4(k11 k22 - k12²), the last
// term clamped at 0 (Cauchy–Schwarz): subtracting 4k12² from p1 p2 directly cancels away every
// digit when the points nearly coincide at large variance (it returned inf for duplicated points).
template <class T> struct ErfDual {
    static T point_aux(T k) { return T(1) / std::sqrt(T(1) + T(2) * k); }

    inline void operator()(T k12, T ri, T, T ci, T rj, T, T cj, T& e, T& ed) const {
        const T cc = ci * cj;
        const T x = clamp_unit(T(2) * k12 * cc);
        const T rr = ri * rj;
        const T gap = (rr - k12) * (rr + k12);  // k11 k22 - k12²
        const T root = std::sqrt(T(1) + T(2) * (ri * ri + rj * rj) + T(4) * (gap > T(0) ? gap : T(0)));
        const T s = root * cc;  // sqrt(1 - x²), without the cancellation
        e = T(2 / 3.14159265358979323846) * angle_from_sin(x, s < T(1) ? s : T(1));
        ed = T(4 / 3.14159265358979323846) / root;
    }
};

template <class T> struct IdentityDual {
    static T point_aux(T) { return T(0); }
    inline void operator()(T k12, T, T, T, T, T, T, T& e, T& ed) const {
        e = k12;
        ed = T(1);
    }
};

// sin: E = exp(-(k11+k22)/2) sinh(k12), Ed = exp(-(k11+k22)/2) cosh(k12). aux = k/2.
// Evaluated as (exp(k12 - h1 - h2) ± exp(-k12 - h1 - h2)) / 2: since |k12| <= sqrt(k11 k22) <=
// h1 + h2 both exponents are <= 0, so nothing overflows however large the variances are.
template <class T> struct SinDual {
    static T point_aux(T k) { return k / T(2); }
    inline void operator()(T k12, T, T, T hi, T, T, T hj, T& e, T& ed) const {
        const T h = hi + hj;
        const T up = std::exp(k12 - h);
        const T down = std::exp(-k12 - h);
        e = T(0.5) * (up - down);
        ed = T(0.5) * (up + down);
    }
};

// ELU(α) = z (z > 0), α(e^z - 1) (z <= 0). With A = z·1{z>0}, B = e^z·1{z<0}, C = 1{z<0},
// D = 1{z>0}: φ = A + α(B - C), φ' = D + αB, and each cross expectation is a closed form in Φ,
// the normal density and Φ2 after an exponential tilt (python/ntkfast/_bivariate.py has the
// derivation). Scalar: Φ2 costs a few dozen exp/erfc calls, so this dual is ~100× slower per
// entry than the ReLU one, but exact (the Mehler series of ELU converges far too slowly).
// aux = k (the variance itself, needed in the tilts).
template <class T> struct EluDual {
    double alpha;
    explicit EluDual(double a) : alpha(a) {}
    static T point_aux(T k) { return k; }

    inline void operator()(T k12_t, T ri, T iri, T ki, T rj, T irj, T kj, T& e_out,
                           T& ed_out) const {
        constexpr double pi = 3.14159265358979323846, sqrt_2pi = 2.50662827463100050242;
        const double s1 = ri, s2 = rj, k1 = ki, k2 = kj, k12 = k12_t;
        const double ss = s1 * s2;
        double rho = k12 * double(iri) * double(irj);
        rho = rho > 1 ? 1 : (rho < -1 ? -1 : rho);
        const double c = rho * ss;
        const double r = std::sqrt(std::max(0.0, (1 - rho) * (1 + rho)));
        const double theta = std::atan2(r, rho);
        const double e_aa = ss * (r + (pi - theta) * rho) / (2 * pi);
        const double e_cc = (pi - theta) / (2 * pi);
        const double e_ac = s1 * (1 - rho) / (2 * sqrt_2pi), e_ca = s2 * (1 - rho) / (2 * sqrt_2pi);
        const double p1 = bvn_cdf(-s1, -rho * s1, rho), p2 = bvn_cdf(-rho * s2, -s2, rho);
        const double q1 = norm_cdf(-s1) - p1, q2 = norm_cdf(-s2) - p2;
        const double t1 = std::exp(k1 / 2), t2 = std::exp(k2 / 2);
        const double e_bb =
            std::exp((k1 + k2) / 2 + c) * bvn_cdf(-(s1 + rho * s2), -(s2 + rho * s1), rho);
        const double e_ab =
            t2 * (c * q2 + s1 * (norm_pdf(rho * s2) * norm_cdf(-r * s2) - rho * norm_pdf(s2) / 2));
        const double e_ba =
            t1 * (c * q1 + s2 * (norm_pdf(rho * s1) * norm_cdf(-r * s1) - rho * norm_pdf(s1) / 2));
        const double a = alpha;
        e_out = T(e_aa + a * (e_ab + e_ba - e_ac - e_ca) + a * a * (e_bb - t1 * p1 - t2 * p2 + e_cc));
        ed_out = T(e_cc + a * (t2 * q2 + t1 * q1) + a * a * e_bb);
    }
};

}  // namespace ntkfast
