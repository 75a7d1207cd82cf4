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
// the next layer, given the roots rn = sqrt(Σ'(x,x)) of that layer and their inverses irn (0 at
// 0), per point: never multiplied together first (at subnormal variances 1/sqrt(k1 k2) overflows).
#pragma once

#include <algorithm>
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

    inline void operator()(T, T& gm, T& gp, T ri, T, T, T rj, T, T, T rni, T irni, T rnj, T irnj,
                           T& e, T& ed) const {
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
        // Unconditional arithmetic, selects after: the loop stays vectorised. Divided by g as
        // (· / rn_i) / rn_j, and sqrt(k11 k22)/g as (r_i/rn_i)(r_j/rn_j), ratios of order 1.
        T gm_m = T(0);  // (g − m)/g
        if constexpr (Bias) {
            const T m = wv * half_a * rr + bv;
            const T dr = ri - rj;
            const T den = rni * rnj + m;
            gm_m = wv_half_a_bv * dr * dr / (den > T(0) ? den : T(1)) * irni * irnj;
        }
        const T p = wv * (ri * irni) * (rj * irnj);
        const T next_m = clamp_gap(gm_m + p * jm);
        const T next_p = clamp_gap(gm_m + p * jp + T(2) * bv * irni * irnj);
        const bool pos = rni > T(0) && rnj > T(0);
        gm = pos ? next_m : T(1);
        gp = pos ? next_p : T(1);
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
// With h = h1 + h2 (>= |k12|, since |k12| <= sqrt(k11 k22) <= h1 + h2): E = sign(k12) ·
// exp(|k12| - h) · (1 - exp(-2|k12|))/2, the bracket by expm1 (two exponentials subtracted lost
// eps/k12 relative at tiny variance), Ed = (exp(k12 - h) + exp(-k12 - h))/2. Every exponent is
// <= 0, so nothing overflows however large the variances are.
template <class T> struct SinDual {
    static constexpr bool kGaps = false;
    static T point_aux(T k) { return k / T(2); }
    inline void operator()(T k12, T, T, T hi, T, T, T hj, T& e, T& ed) const {
        const T h = hi + hj;
        const T a = std::abs(k12);
        // |k12| <= h in exact arithmetic; rounding of huge variances (1e160) may exceed it by
        // ulps of 1e160, which exp would turn into inf.
        const T over = a - h;
        const T up = std::exp(over < T(0) ? over : T(0));
        const T down = std::exp(-a - h);
        const T sinh_part = T(-0.5) * up * std::expm1(T(-2) * a);
        e = k12 < T(0) ? -sinh_part : sinh_part;
        ed = T(0.5) * (up + down);
    }
};

// ELU(α) = z (z > 0), α(e^z - 1) (z <= 0). With A = z·1{z>0}, E = expm1(z)·1{z<0}, D = 1{z>0},
// B = e^z·1{z<0}, C = 1{z<0}: φ = A + αE, φ' = D + αB. Each cross expectation is a closed form in
// the ReLU angle terms and a few scaled sector integrals Λ (bivariate_normal.hpp), none of which
// multiplies exp(large) by a small probability; E[E(u)E(v)], O(s1 s2) but a difference of O(1)
// terms, is a Taylor series in the smaller tilt when s1 s2 < 1/4. Derivation and measured
// accuracy (<= 1.5e-15 of sqrt(E[φ(u)²] E[φ(v)²]) at every variance and ρ, given r):
// python/ntkfast/_bivariate.py, the same maths in numpy.
//
// elu_dual_pair takes s = sqrt(k) of both points, ρ and r = sqrt(1 - ρ²) separately (near ρ = ±1
// the kernels depend on r, which a caller may carry more accurately than a rounded ρ). No
// exceptions, no allocation: safe inside OpenMP loops.
struct EluPair {
    double e;   // E[φ(u)φ(v)]
    double ed;  // E[φ'(u)φ'(v)]
};

namespace elu_detail {

constexpr double kSeriesBelow = 0.25;  // s1 s2 below which E[E(u)E(v)] is a series
constexpr int kSeriesTerms = 28;

// E[E(u)E(v)] = Σ_{m>=1} s^m/m! Z_m with s the smaller tilt (on X), t the other (on Y),
// Z_m = E[X^m 1{X<0} E(v)], W_m = E[X^m 1{X<0} B(v)], by Stein's lemma
//   Z_m = (m-1) Z_{m-2} + ρ t W_{m-1}                 + [m=1] r t M1(r t)/2π
//   W_m = (m-1) W_{m-2} + ρ t W_{m-1} - ρ d_{m-1}     - [m=1] M(r t)/2π,
// d_n = (-r)^n μ_n/√(2π), μ_n = E[Z^n 1{Z>0}], W_0 = E[C(u)B(v)], Z_0 = W_0 - E[CC]. Stops once the
// next term is bounded (|Z_m| <= μ_m) by 1e-17 s t.
// m_rt, slope_rt: M(r t) and M1(r t).
inline double ee_series(double s, double t, double rho, double r, double w0, double e_cc,
                        double m_rt, double slope_rt) {
    const double rt = r * t;
    double w2 = 0.0, w1 = w0, z2 = 0.0, z1 = w0 - e_cc;
    double total = 0.0, coef = 1.0, r_pow = 1.0;
    double mu_a = 0.5, mu_b = 1.0 / kSqrt2Pi;  // μ_{m-1}, μ_m
    const double tol = 1e-17 * s * t;
    for (int m = 1; m <= kSeriesTerms; ++m) {
        double z = (m - 1) * z2 + rho * t * w1;
        double w = (m - 1) * w2 + rho * t * w1 - rho * r_pow * mu_a / kSqrt2Pi;
        if (m == 1) {
            z += rt * slope_rt / kTwoPi;
            w -= m_rt / kTwoPi;
        }
        coef *= s / m;
        total += coef * z;
        z2 = z1;
        z1 = z;
        w2 = w1;
        w1 = w;
        r_pow *= -r;
        const double mu_next = m * mu_a;
        mu_a = mu_b;
        mu_b = mu_next;
        if (coef * s / (m + 1) * mu_b <= tol) break;
    }
    return total;
}

}  // namespace elu_detail

inline EluPair elu_dual_pair(double s1, double s2, double rho, double r, double alpha) {
    using elu_detail::kSeriesBelow;
    const double pt = angle_from_cos(-rho, r);  // π - θ, accurate at both ends (vec_angle.hpp)
    const double e_cc = pt / kTwoPi;
    const double e_aa = s1 * s2 * (r + pt * rho) / kTwoPi;
    // s1 + ρ s2 cancels when ρ ≈ -1 and s1 ≈ s2: there 1 + ρ = r²/(1 - ρ), exact from r.
    double a1, a2;
    if (rho < 0) {
        const double one_plus = r * r / (1 - rho);
        a1 = (s1 - s2) + one_plus * s2;
        a2 = (s2 - s1) + one_plus * s1;
    } else {
        a1 = s1 + rho * s2;
        a2 = s2 + rho * s1;
    }
    const double b1 = r * s1, b2 = r * s2;
    const double lam = std::sqrt(a1 * a1 + b2 * b2);
    SectorRule rule1, rule2;
    sector_rules(b1, b2, rule1, rule2);
    // M at the nodes of four sectors, and at s1, s2, r s1, r s2, in one batch: Λ(s1; ρ, r),
    // Λ(s2; ρ, r), and the two halves of E[B(u)B(v)], the quadrant wedge split at the tilt's
    // steepest-descent direction. λ = 0 (no tilt, or the empty wedge of ρ = -1, s1 = s2): any
    // split works, this one gives Λ(0; 1, 0) + Λ(0; ρ, r).
    constexpr int n = sector_detail::kNodes;
    const double il = lam > 0 ? 1.0 / lam : 0.0;
    const double S3 = lam > 0 ? a1 * il : 1.0, C3 = lam > 0 ? b2 * il : 0.0;
    const double S4 = lam > 0 ? a2 * il : rho, C4 = lam > 0 ? b1 * il : r;
    double x[4 * n + 4], m[4 * n + 4];
    sector_points(s1, r, rule1, x);
    sector_points(s2, r, rule2, x + n);
    sector_points(lam, C3, rule2, x + 2 * n);
    sector_points(lam, C4, rule1, x + 3 * n);
    x[4 * n] = s1;
    x[4 * n + 1] = s2;
    x[4 * n + 2] = b1;
    x[4 * n + 3] = b2;
    mills_ratio_n<4 * n + 4>(x, m);
    const double lam1 = sector_sum(rho, rule1, m), lam2 = sector_sum(rho, rule2, m + n);
    const double e_bb = sector_sum(S3, rule2, m + 2 * n) + sector_sum(S4, rule1, m + 3 * n);
    const double h1 = m[4 * n] / (2 * kSqrt2Pi), h2 = m[4 * n + 1] / (2 * kSqrt2Pi);
    const double slope1 = mills_slope(b1, m[4 * n + 2]), slope2 = mills_slope(b2, m[4 * n + 3]);
    const double e_bc = h1 + lam1, e_cb = h2 + lam2;
    const double e_bd = h1 - lam1, e_db = h2 - lam2;
    const double e_ae = s1 * s2 * (rho * e_db - r * slope2 / kTwoPi);
    const double e_ea = s1 * s2 * (rho * e_bd - r * slope1 / kTwoPi);
    double e_ee;
    if (s1 * s2 < kSeriesBelow) {
        e_ee = s1 > s2 ? elu_detail::ee_series(s2, s1, rho, r, e_bc, e_cc, m[4 * n + 2], slope1)
                       : elu_detail::ee_series(s1, s2, rho, r, e_cb, e_cc, m[4 * n + 3], slope2);
    } else {
        e_ee = e_bb - e_bc - e_cb + e_cc;
    }
    return {e_aa + alpha * (e_ae + e_ea) + alpha * alpha * e_ee,
            e_cc + alpha * (e_bd + e_db) + alpha * alpha * e_bb};
}

// Per entry: ρ and r = sqrt(1 − ρ²) from the carried gaps (sqrt(gm gp)), then elu_dual_pair.
// φ' jumps at 0 when α != 1, so Ed is as sensitive to θ near 0 as the ReLU's. The next gaps have
// no closed form here; they are 1 ∓ k12'/g, except that points which coincide at this layer
// (gm = 0, equal variances) coincide at every later one (gm' = 0 exactly, as their
// symmetric-Gram diagonal has it). Scalar (the sector quadratures are a few hundred flops; their
// inner loops vectorise).
template <class T> struct EluDual {
    static constexpr bool kGaps = true;
    double alpha;
    T wv, bv;
    EluDual(double a, double weight_var, double bias_var)
        : alpha(a), wv(T(weight_var)), bv(T(bias_var)) {}
    static T point_aux(T) { return T(0); }

    inline void operator()(T, T& gm, T& gp, T ri, T, T, T rj, T, T, T rni, T irni, T rnj, T irnj,
                           T& e_out, T& ed_out) const {
        const double dm = gm, dp = gp;
        const double rho = dm <= dp ? 1 - dm : dp - 1;
        const EluPair p = elu_dual_pair(double(ri), double(rj), rho, std::sqrt(dm * dp), alpha);
        e_out = T(p.e);
        ed_out = T(p.ed);
        const bool same = gm == T(0) && ri == rj;
        const T rho_next = rni > T(0) && rnj > T(0) ? clamp_unit((wv * e_out + bv) * irni * irnj) : T(0);
        gm = same ? T(0) : T(1) - rho_next;
        gp = same ? T(2) : T(1) + rho_next;
    }
};

}  // namespace ntkfast
