// Closed-form dual activations: one layer step of the infinite-width recursion (ntk-math.md §2).
//
// For an entry (x, x') with previous-layer values k11 = Σ(x,x), k22 = Σ(x',x'), k12 = Σ(x,x'),
// each struct returns E = E[φ(u)φ(v)] and Ed = E[φ'(u)φ'(v)] for (u, v) ~ N(0, [[k11,k12],[k12,k22]]).
// Everything that depends on one point only (sqrt(k), 1/sqrt(k), and an activation-specific
// quantity `aux`) is precomputed once per point and layer by `point_aux`, so the per-entry work is
// a handful of flops and, for the ReLU family and erf, one polynomial angle (vec_angle.hpp). All
// functions are branch-free so the strip loops in infinite_width.cpp vectorise.
//
// Duals with kGaps = true take the correlation as its gaps gm = 1 − ρ and gp = 1 + ρ (each with
// full relative accuracy, see infinite_width.hpp) instead of k12, and replace them by the gaps of
// the next layer, given g = sqrt(Σ'(x,x) Σ'(x',x')) of that layer and ig = 1/g (0 if g = 0).
#pragma once

#include <cmath>

#include "bivariate_normal.hpp"
#include "vec_angle.hpp"

namespace ntkfast {

// sin t − t cos t for 0 <= t <= π/2, given s = sin t and c = cos t. It only enters the gaps next
// to terms ~t² (J(0) ∓ J(θ) below), so it needs an absolute error well below eps·t², not full
// relative accuracy: the direct difference (error ~eps·t) above t = 1/4, and below it the first
// five terms of the series (−1)^(k+1) 2k t^(2k+1)/(2k+1)!, whose remainder is ~1e-17 t² there.
template <class T> inline T sin_minus_t_cos(T t, T s, T c) {
    const T t2 = t * t;
    T p = T(2.50521083854417175769e-07);
    p = p * t2 + T(-2.20458553791887140088e-05);
    p = p * t2 + T(1.19047619047619058358e-03);
    p = p * t2 + T(-3.33333333333333328707e-02);
    p = p * t2 + T(3.33333333333333314830e-01);
    return t < T(0.25) ? t * t2 * p : s - t * c;
}

// ρ from its gaps: whichever is smaller carries the digits.
template <class T> inline T rho_from_gaps(T gm, T gp) { return gm <= gp ? T(1) - gm : gp - T(1); }

template <class T> inline T clamp_gap(T g) { return g < T(0) ? T(0) : (g > T(2) ? T(2) : g); }

// a·min(z,0) + b·max(z,0): relu (a=0,b=1), leaky relu (a=slope), abs (a=-1,b=1).
//
// With J(θ) = (a²+b²)(sin θ + (π−θ)cos θ) − 2ab(sin θ − θ cos θ), E = sqrt(k11 k22) J(θ)/2π,
// Ed = [(a²+b²)(π−θ) + 2abθ]/2π and E[φ(u)²] = (a²+b²)k/2. The next layer's gaps are
//   1 − ρ' = [(g − m) + σ_w² sqrt(k11 k22) (J(0) − J(θ))/2π] / g,
//   1 + ρ' = [(g − m) + σ_w² sqrt(k11 k22) (J(0) + J(θ))/2π + 2β²] / g,
// with m = σ_w² (a²+b²)/2 sqrt(k11 k22) + β² and g − m = σ_w² β² (a²+b²)/2 (r1 − r2)² / (g + m)
// (g² − m² by expanding; r = sqrt(k)). J(0) ∓ J(θ) is written without cancellation through
// u = 1 − cos t and h = sin t − t cos t of the small angle t = min(θ, π − θ):
//   θ <= π/2:  J(0) − J(θ) = (a²+b²)π u − (a−b)² h,        J(0) + J(θ) = (a²+b²)(2π − π u) + (a−b)² h
//   θ >  π/2:  J(0) − J(θ) = (a+b)²π − (a−b)² h − 2abπ u,  J(0) + J(θ) = (a−b)²(π + h) + 2abπ u
// (the second line with ε = π − θ; it matters where φ is even, abs: antipodal points coincide).
// Bias: whether β > 0. Without bias g = m exactly, and the division for g − m (a fifth of the
// step's time) is left out.
template <class T, bool Bias = true> struct ReluLikeDual {
    static constexpr bool kGaps = true;
    T sq;     // (a² + b²) / (2π)
    T ab2;    // 2ab / (2π)
    T half_a, b_pi, half_c, ab, half_b;  // (a²+b²)/2, (a−b)²/2π, (a+b)²/2, ab, (a−b)²/2
    T wv, bv, wv_half_a_bv;              // σ_w², β², σ_w² (a²+b²)/2 β²

    ReluLikeDual(double a, double b, double weight_var, double bias_var)
        : sq(T((a * a + b * b) / (2 * 3.14159265358979323846))),
          ab2(T(2 * a * b / (2 * 3.14159265358979323846))),
          half_a(T((a * a + b * b) / 2)),
          b_pi(T((a - b) * (a - b) / (2 * 3.14159265358979323846))),
          half_c(T((a + b) * (a + b) / 2)),
          ab(T(a * b)),
          half_b(T((a - b) * (a - b) / 2)),
          wv(T(weight_var)),
          bv(T(bias_var)),
          wv_half_a_bv(T(weight_var * (a * a + b * b) / 2 * bias_var)) {}

    static T point_aux(T) { return T(0); }

    inline void operator()(T, T& gm, T& gp, T ri, T, T, T rj, T, T, T g, T ig, T& e,
                           T& ed) const {
        const bool upper = gm <= gp;  // ρ >= 0, θ <= π/2
        const T rho = upper ? T(1) - gm : gp - T(1);
        const T s = std::sqrt(gm * gp);
        const T theta = angle_from_cos(rho, s);
        const T pm = kPi<T> - theta;
        const T rr = ri * rj;
        e = rr * (sq * (s + pm * rho) - ab2 * (s - theta * rho));
        ed = sq * pm + ab2 * theta;
        // (J(0) ∓ J(θ)) / 2π through the small angle t.
        const T t = upper ? theta : pm;
        const T u = upper ? gm : gp;
        const T h = sin_minus_t_cos(t, s, T(1) - u);
        // jm = c0 + c1 u − (a−b)²/2π h, jp = c2 + c3 u + (a−b)²/2π h, the c's chosen per branch.
        const T bh = b_pi * h;
        const T jm = (upper ? T(0) : half_c) + (upper ? half_a : -ab) * u - bh;
        const T jp = (upper ? T(2) * half_a : half_b) + (upper ? -half_a : ab) * u + bh;
        const T m = wv * half_a * rr + bv;
        const T dr = ri - rj;
        // Unconditional arithmetic, selects after: the loop stays vectorised.
        T gm_m = T(0);  // g − m
        if constexpr (Bias) {
            const T den = g + m;
            gm_m = wv_half_a_bv * dr * dr / (den > T(0) ? den : T(1));
        }
        const T p = wv * rr;
        const T next_m = clamp_gap((gm_m + p * jm) * ig);
        const T next_p = clamp_gap((gm_m + p * jp + T(2) * bv) * ig);
        gm = g > T(0) ? next_m : T(1);
        gp = g > T(0) ? next_p : T(1);
    }
};

// erf: E = (2/π) asin(2 k12 / sqrt(p1 p2)), Ed = (4/π) / sqrt(p1 p2 - 4 k12²), p = 1 + 2k.
// aux = 1/sqrt(1 + 2k). p1 p2 - 4k12² is formed as 1 + 2k11 + 2k22 + 4(k11 k22 - k12²), the last
// term clamped at 0 (Cauchy–Schwarz): subtracting 4k12² from p1 p2 directly cancels away every
// digit when the points nearly coincide at large variance (it returned inf for duplicated points).
template <class T> struct ErfDual {
    static constexpr bool kGaps = false;
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
    static constexpr bool kGaps = false;
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
    static constexpr bool kGaps = false;
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
//
// The angle comes from the gaps (sqrt(1 − ρ²) = sqrt(gm gp)): φ' jumps at 0 when α != 1, so Ed
// is as sensitive to θ near 0 as the ReLU's. The next gaps have no closed form here; they are
// 1 ∓ k12'/g, except that points which coincide at this layer (gm = 0, equal variances) coincide
// at every later one (gm' = 0 exactly, as their symmetric-Gram diagonal has it).
inline void elu_pair(double s1, double s2, double rho, double r, double alpha,
                     double& e_out, double& ed_out) {
    constexpr double pi = 3.14159265358979323846, sqrt_2pi = 2.50662827463100050242;
    const double k1 = s1 * s1, k2 = s2 * s2;
    const double ss = s1 * s2;
    const double c = rho * ss;
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
    e_out = e_aa + a * (e_ab + e_ba - e_ac - e_ca) + a * a * (e_bb - t1 * p1 - t2 * p2 + e_cc);
    ed_out = e_cc + a * (t2 * q2 + t1 * q1) + a * a * e_bb;
}

template <class T> struct EluDual {
    static constexpr bool kGaps = true;
    double alpha;
    T wv, bv;
    EluDual(double a, double weight_var, double bias_var)
        : alpha(a), wv(T(weight_var)), bv(T(bias_var)) {}
    static T point_aux(T k) { return k; }

    inline void operator()(T, T& gm, T& gp, T ri, T, T, T rj, T, T, T g, T ig, T& e_out,
                           T& ed_out) const {
        const double dm = gm, dp = gp;
        const double rho = dm <= dp ? 1 - dm : dp - 1;
        double e, ed;
        elu_pair(double(ri), double(rj), rho, std::sqrt(dm * dp), alpha, e, ed);
        e_out = T(e);
        ed_out = T(ed);
        const bool same = gm == T(0) && ri == rj;
        const T rho_next = g > T(0) ? clamp_unit((wv * e_out + bv) * ig) : T(0);
        gm = same ? T(0) : T(1) - rho_next;
        gp = same ? T(2) : T(1) + rho_next;
    }
};

}  // namespace ntkfast
