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
// aux = 1/sqrt(1 + 2k).
template <class T> struct ErfDual {
    static T point_aux(T k) { return T(1) / std::sqrt(T(1) + T(2) * k); }

    inline void operator()(T k12, T, T, T ci, T, T, T cj, T& e, T& ed) const {
        const T cc = ci * cj;
        const T x = clamp_unit(T(2) * k12 * cc);
        const T s = unit_complement(x);  // = sqrt(p1 p2 - 4 k12²) / sqrt(p1 p2)
        e = T(2 / 3.14159265358979323846) * angle_from_sin(x, s);
        // p1 p2 - 4k12² >= 1 for k >= 0, so s > 0 whenever the inputs are finite.
        ed = T(4 / 3.14159265358979323846) * cc / s;
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

}  // namespace ntkfast
