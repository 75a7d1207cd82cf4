// Angles from (cos, sin) pairs without libm: arccos and arcsin that vectorise.
//
// The ReLU-family and erf dual kernels (ntk-math.md §2) need θ = arccos ρ (or arcsin x) for every
// Gram entry and layer. libm's scalar acos blocks auto-vectorisation, and glibc's vector variants
// are only reachable under -ffast-math, which we refuse (NaN checks and parity need IEEE). So we
// evaluate one polynomial: with c = |ρ| and s = sqrt((1-ρ)(1+ρ)) ≥ 0 we have min(c, s) ≤ 1/√2, and
// asin on [0, 1/√2] is x + x³ P(x²). Which of the two is smaller picks the branch of
// θ = atan2(s, ρ); both branches are branch-free selects, so loops over tiles vectorise.
// Computing s from (1-ρ)(1+ρ) keeps full relative accuracy near ρ = ±1, where arccos itself is
// ill-conditioned (ntk-math.md §2 "Numerics").
//
// Coefficients: tools/gen_asin_poly.py (least squares at Chebyshev nodes against 50-digit
// mpmath). Measured maximum relative error of asin on [0, 1/√2]: 2.2e-16 (double), 5.9e-8 (float);
// tests/test_parity.py re-checks it through the kernels against numpy's arctan2.
#pragma once

#include <cmath>

namespace ntkfast {

template <class T> struct AsinPoly;

template <> struct AsinPoly<double> {
    static constexpr int n = 19;
    static constexpr double c[n] = {
        1.6666666666666667976e-1,  7.4999999999981376516e-2,  4.4642857147254607896e-2,
        3.0381944033245538098e-2,  2.2372179361821248017e-2,  1.735215638021521827e-2,
        1.3976922377730512288e-2,  1.1384018246385542406e-2,  1.1451674687957235052e-2,
        -4.2583367829596429249e-3, 7.8741456313915482261e-2,  -3.0039497243793353185e-1,
        1.0097030078441759694,     -2.4815334316189932584,    4.5958407080517547816,
        -6.1330460912306685108,    5.6368256850701621947,     -3.1924964257154617476,
        8.6056241674329991291e-1,
    };
};

template <> struct AsinPoly<float> {
    static constexpr int n = 8;
    static constexpr float c[n] = {
        1.6666665508943135242e-1f, 7.5002865036262895576e-2f, 4.4527525557108815532e-2f,
        3.2128657661846782818e-2f, 9.630242022962748623e-3f,  6.6193645097390653603e-2f,
        -8.3250531667981560235e-2f, 9.6736043686820786994e-2f,
    };
};

template <class T> constexpr T kPi = T(3.14159265358979323846264338327950288);
template <class T> constexpr T kHalfPi = T(1.57079632679489661923132169163975144);

// Estrin's scheme, unrolled at compile time: P(t) = P_lo(t) + t^h P_hi(t) recursively, so the
// dependency chain is O(log n) FMAs instead of Horner's n (the loops calling this are latency-
// bound otherwise), and no runtime loop is left to stop GCC vectorising the callers.
template <class T, int Lo, int Count> inline T estrin(T t, const T* tp) {
    if constexpr (Count == 1) {
        return T(AsinPoly<T>::c[Lo]);
    } else if constexpr (Count == 2) {
        return T(AsinPoly<T>::c[Lo]) + t * T(AsinPoly<T>::c[Lo + 1]);
    } else {
        constexpr int kLevel = Count > 8 ? (Count > 16 ? 4 : 3) : (Count > 4 ? 2 : 1);
        constexpr int kHalf = 1 << kLevel;  // largest power of two below Count
        return estrin<T, Lo, kHalf>(t, tp) + tp[kLevel] * estrin<T, Lo + kHalf, Count - kHalf>(t, tp);
    }
}

template <class T> inline T asin_poly(T t) {
    T tp[5];  // tp[k] = t^(2^k); unused powers are dead code after inlining
    tp[0] = t;
    tp[1] = t * t;
    tp[2] = tp[1] * tp[1];
    tp[3] = tp[2] * tp[2];
    tp[4] = tp[3] * tp[3];
    return estrin<T, 0, AsinPoly<T>::n>(t, tp);
}

// asin(x) for 0 <= x <= 1/sqrt(2).
template <class T> inline T asin_small(T x) {
    const T t = x * x;
    return x + (x * t) * asin_poly(t);
}

// Clamp to [-1, 1]; rounding can push a correlation slightly outside.
template <class T> inline T clamp_unit(T r) { return r > T(1) ? T(1) : (r < T(-1) ? T(-1) : r); }

// sqrt(1 - r²), accurate near |r| = 1.
template <class T> inline T unit_complement(T r) {
    const T q = (T(1) - r) * (T(1) + r);
    return std::sqrt(q > T(0) ? q : T(0));
}

// θ = arccos(r) in [0, π], given r in [-1, 1] and s = sqrt(1 - r²).
template <class T> inline T angle_from_cos(T r, T s) {
    const T c = r < T(0) ? -r : r;
    const bool near_axis = c <= s;  // |θ - π/2| <= π/4
    const T a = asin_small(near_axis ? c : s);
    // near_axis: θ = π/2 - asin(r);  else θ = asin(s) for r > 0, π - asin(s) for r < 0.
    const T signed_a = r < T(0) ? -a : a;
    const T theta_far = r < T(0) ? kPi<T> - a : a;
    return near_axis ? kHalfPi<T> - signed_a : theta_far;
}

// arcsin(x) in [-π/2, π/2], given x in [-1, 1] and s = sqrt(1 - x²).
template <class T> inline T angle_from_sin(T x, T s) {
    const T c = x < T(0) ? -x : x;
    const bool small = c <= s;
    const T a = asin_small(small ? c : s);
    const T mag = small ? a : kHalfPi<T> - a;
    return x < T(0) ? -mag : mag;
}

}  // namespace ntkfast
