// Scaled Gaussian sector integrals: the special functions behind the ELU dual kernel.
//
// M(x) = Φ(-x)/φ(x) is the Mills ratio, and with S = sin β, C = cos β (β in [-π/2, π/2])
//
//     Λ(s; S, C) = E[e^{-s G1} 1{G1 > 0, 0 < G2 < G1 tan β}] = (S/2π) ∫_0^∞ e^{-t²/2 - sCt} M(s + Ct) dt
//
// for a standard normal pair (G1, G2): an exponentially tilted bivariate-normal sector probability,
// bounded by |β|/2π, computed from a positive integrand bounded by M(s) (no exp(large)·tiny
// products, hence full accuracy at any s). ELU's cross expectations are sums of a few Λ
// (dual_activations.hpp, EluDual); the derivation is in python/ntkfast/_bivariate.py, which has
// the same maths in numpy and whose tests (tests/test_truth_closed_forms.py) regenerate the
// tables below with mpmath.
//
// M: one Chebyshev series in t = (x - 4)/(x + 4) for every x >= 0 (27 terms, <= 4 ulp), branch-
// free so that the quadrature loops vectorise. Λ: 18-point Gauss rule of the weight e^{-t²/2} on
// [0, ∞) for b = sC <= 4, else t = z/b and 18-point Gauss–Laguerre on e^{-z²/2b²} M(s + z/s)/b;
// <= 4e-16 relative for any b (measured against mpmath).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace ntkfast {

namespace sector_detail {

constexpr double kMillsK = 4.0;
constexpr int kMillsTerms = 27;
constexpr double kMillsCheb[kMillsTerms] = {
    2.4325604285150404,     -1.8842545745794834,    0.5569566490963817,     -0.12161597214420457,
    0.017360708143727772,   -0.0008036212007299657, -0.0002520349348054353, 4.7383719270581175e-05,
    2.5325891365988257e-06, -1.5404069839913e-06,   -8.474960630061696e-09, 5.185338601094672e-08,
    -2.8281293276602497e-10, -1.9486566378891076e-09, -2.491945496827567e-11, 7.957248719448846e-11,
    4.618414179155219e-12,  -3.290856124224385e-12, -4.36538404380973e-13,  1.2300711839232774e-13,
    3.2414173582086784e-14, -3.0532395587325663e-15, -2.0183740275707353e-15, -7.170195501422588e-17,
    1.0169552398038542e-16, 1.756244228053356e-17,  -3.358068244027676e-18,
};

constexpr int kNodes = 18;
constexpr double kHalfGaussX[kNodes] = {
    0.023545287166246136, 0.12283726364871854, 0.29679866423879914, 0.5385608244766952,
    0.8400863017559593,   1.1934025299819517,  1.5914249535330836,  2.0283891325146186,
    2.5000098749987325,   3.003504918391657,   3.537597892328178,   4.102594279708339,
    4.70063172547219,     5.336273438105508,   6.017828177974762,   6.76047548703861,
    7.595085668401871,    8.604382005351328,
};
constexpr double kHalfGaussW[kNodes] = {
    0.060265667244672944, 0.13656582452507704,   0.20013922870723774,   0.23615636471771534,
    0.2309636978846039,   0.18483695868240174,   0.11791462173076975,   0.05814005982187973,
    0.021436159842814804, 0.005703903801780516,  0.001052788918463707,  0.000128617480096159,
    9.80365621608142e-06, 4.3051118731932944e-07, 9.697350456491995e-09, 9.296516079622117e-11,
    2.6776812104065664e-13, 9.775325581124863e-17,
};
constexpr double kLaguerreX[kNodes] = {
    0.07816916666970547, 0.4124900852591293, 1.0165201796235397, 1.894888509969761,
    3.0543531132026596,  4.5042055388898925, 6.256725073949111,  8.32782515660563,
    10.73799004775761,   13.51365620755509,  16.689306281930104, 20.310767626267744,
    24.4406813592837,    29.168208662579616, 34.627927065660174, 41.04181677280876,
    48.83392271608652,   59.09054643590125,
};
constexpr double kLaguerreW[kNodes] = {
    0.1855886031469188,    0.3101817663702253,     0.26786656714853635,   0.1529797474680749,
    0.061434917860961655,  0.01768721308077293,    0.0036601797677599177, 0.0005406227870077353,
    5.616965051214231e-05, 4.015307883701157e-06,  1.914669856675675e-07, 5.836095268631594e-09,
    1.0717112669553901e-10, 1.0890987138888338e-12, 5.386664748378309e-15, 1.0498659780357033e-17,
    5.405398451631054e-21, 2.6916532692010286e-25,
};
constexpr double kLaguerreFrom = 4.0;

}  // namespace sector_detail

constexpr double kTwoPi = 6.28318530717958647692;
constexpr double kSqrt2Pi = 2.50662827463100050242;
constexpr double kMills0 = 1.25331413731550025121;  // M(0) = sqrt(π/2)

// M(x) = Φ(-x)/φ(x) at N points x >= 0: the Clenshaw recurrence run across the points, so that
// the loops over points vectorise (one series per point would not).
template <int N> inline void mills_ratio_n(const double* x, double* m) {
    using namespace sector_detail;
    double t2[N], b1[N], b2[N];
    for (int i = 0; i < N; ++i) {
        t2[i] = 2 * (x[i] - kMillsK) / (x[i] + kMillsK);
        b1[i] = kMillsCheb[kMillsTerms - 1];
        b2[i] = 0.0;
    }
    for (int j = kMillsTerms - 2; j >= 1; --j) {
        for (int i = 0; i < N; ++i) {
            const double b0 = kMillsCheb[j] + t2[i] * b1[i] - b2[i];
            b2[i] = b1[i];
            b1[i] = b0;
        }
    }
    for (int i = 0; i < N; ++i) m[i] = (kMillsCheb[0] + 0.5 * t2[i] * b1[i] - b2[i]) / (x[i] + kMillsK);
}

// (M(0) - M(x)) / x for x >= 0 (1 at 0), given mx = M(x): the difference where it loses < 2
// bits (x >= 0.5), the Taylor series below.
inline double mills_slope(double x, double mx) {
    if (x >= 0.5) return (kMills0 - mx) / x;
    // M(x) = Σ a_n x^n, a_0 = M(0), a_1 = -1, (n+1) a_{n+1} = a_{n-1}; result 1 - Σ_{n>=2} a_n x^{n-1}.
    struct Taylor {
        double a[25];
        constexpr Taylor() : a{} {
            a[0] = kMills0;
            a[1] = -1.0;
            for (int n = 1; n + 1 < 25; ++n) a[n + 1] = a[n - 1] / (n + 1);
        }
    };
    static constexpr Taylor taylor{};
    double acc = 0.0;
    for (int n = 24; n >= 2; --n) acc = acc * x + taylor.a[n];
    return 1.0 - acc * x;
}


// e^x at N points x in [-700, 0], vectorisable (libm's exp is not): x = n ln2 + r with
// |r| <= ln2/2 (ln2 split in two, n ln2_hi exact), e^r by its Taylor polynomial to r^13
// (remainder < 5e-18), 2^n written into the exponent bits. <= 2 ulp.
template <int N> inline void exp_nonpositive_n(const double* x, double* y) {
    constexpr double log2e = 1.4426950408889634, ln2_hi = 0.6931471803691238,
                     ln2_lo = 1.9082149292705877e-10, shifter = 6755399441055744.0;  // 1.5·2^52
    constexpr double c[14] = {1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664,
                              0.008333333333333333, 0.001388888888888889, 0.0001984126984126984,
                              2.48015873015873e-05, 2.7557319223985893e-06, 2.755731922398589e-07,
                              2.505210838544172e-08, 2.08767569878681e-09, 1.6059043836821613e-10};
    for (int i = 0; i < N; ++i) {
        const double t = x[i] * log2e + shifter;  // n in the low mantissa bits (round to nearest)
        const double n = t - shifter;
        const double r = (x[i] - n * ln2_hi) - n * ln2_lo;
        double p = c[13];
        for (int k = 12; k >= 0; --k) p = p * r + c[k];
        std::uint64_t bits;
        std::memcpy(&bits, &t, sizeof bits);
        bits = (bits + (1023 - (std::uint64_t(1) << 51))) << 52;  // (n + 1023) << 52
        double scale;
        std::memcpy(&scale, &bits, sizeof scale);
        y[i] = p * scale;
    }
}

// The quadrature of Λ for one tilt b = sC >= 0: node weights times the b-dependent factor, which
// every Λ with the same b shares. Two rules at once (their exponentials in one vector batch).
struct SectorRule {
    double w[sector_detail::kNodes];
    bool laguerre;
};

inline void sector_rules(double b1, double b2, SectorRule& rule1, SectorRule& rule2) {
    using namespace sector_detail;
    double arg[2 * kNodes], e[2 * kNodes];
    SectorRule* rules[2] = {&rule1, &rule2};
    const double bs[2] = {b1, b2};
    for (int q = 0; q < 2; ++q) {
        const double b = bs[q];
        rules[q]->laguerre = b > kLaguerreFrom;
        if (rules[q]->laguerre) {
            const double c = -0.5 / (b * b);
            for (int i = 0; i < kNodes; ++i) arg[q * kNodes + i] = c * kLaguerreX[i] * kLaguerreX[i];
        } else {
            for (int i = 0; i < kNodes; ++i) arg[q * kNodes + i] = -b * kHalfGaussX[i];
        }
    }
    exp_nonpositive_n<2 * kNodes>(arg, e);
    for (int q = 0; q < 2; ++q) {
        if (rules[q]->laguerre) {
            const double ib = 1.0 / bs[q];
            for (int i = 0; i < kNodes; ++i) rules[q]->w[i] = kLaguerreW[i] * e[q * kNodes + i] * ib;
        } else {
            for (int i = 0; i < kNodes; ++i) rules[q]->w[i] = kHalfGaussW[i] * e[q * kNodes + i];
        }
    }
}

// The quadrature nodes of Λ(s; ·, C) under `rule` (made for b = sC): M is needed at these points.
inline void sector_points(double s, double C, const SectorRule& rule, double* x) {
    using namespace sector_detail;
    if (rule.laguerre) {
        const double is = 1.0 / s;
        for (int i = 0; i < kNodes; ++i) x[i] = s + kLaguerreX[i] * is;
    } else {
        for (int i = 0; i < kNodes; ++i) x[i] = s + C * kHalfGaussX[i];
    }
}

// Λ(s; S, C) from M at the points of sector_points.
inline double sector_sum(double S, const SectorRule& rule, const double* m) {
    double acc = 0.0;
    for (int i = 0; i < sector_detail::kNodes; ++i) acc += rule.w[i] * m[i];
    return S * acc / kTwoPi;
}

}  // namespace ntkfast
