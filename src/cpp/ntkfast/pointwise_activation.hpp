// φ and φ' of the built-in nonlinearities, elementwise over the pre-activations of a block of
// rows (the forward and backward passes of finite networks). The formulas mirror
// python/ntkfast/activations.py, which the reference evaluates, so both agree to rounding.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace ntkfast {

enum class Pointwise { ReluLike, Erf, Identity, Sin, Tanh, Sigmoid, Softplus, Gelu, Silu, Elu };

struct PointwiseSpec {
    Pointwise kind;
    double a = 0.0;  // relu_like: slope for z <= 0; elu: alpha
    double b = 1.0;  // relu_like: slope for z > 0
};

inline PointwiseSpec pointwise_from_name(const std::string& name, double a, double b) {
    static const struct { const char* name; Pointwise kind; } table[] = {
        {"relu_like", Pointwise::ReluLike}, {"erf", Pointwise::Erf},
        {"identity", Pointwise::Identity},  {"sin", Pointwise::Sin},
        {"tanh", Pointwise::Tanh},          {"sigmoid", Pointwise::Sigmoid},
        {"softplus", Pointwise::Softplus},  {"gelu", Pointwise::Gelu},
        {"silu", Pointwise::Silu},          {"elu", Pointwise::Elu},
    };
    for (const auto& e : table)
        if (name == e.name) return PointwiseSpec{e.kind, a, b};
    throw std::invalid_argument("activation: no compiled pointwise form for '" + name + "'");
}

namespace detail {

template <class T> inline T sigmoid_pos(T e) { return T(1) / (T(1) + e); }   // σ(|z|), e = exp(-|z|)
template <class T> inline T sigmoid_neg(T e) { return e / (T(1) + e); }      // σ(-|z|)

template <class T, class F>
inline void each(T* z, T* dphi, std::size_t n, F&& f) {
    for (std::size_t i = 0; i < n; ++i) {
        T d;
        z[i] = f(z[i], d);
        if (dphi) dphi[i] = d;
    }
}

}  // namespace detail

// z[i] <- φ(z[i]); dphi[i] <- φ'(z[i]) when dphi is not null.
template <class T>
void apply_pointwise(const PointwiseSpec& s, T* z, T* dphi, std::size_t n) {
    using detail::each;
    const T a = static_cast<T>(s.a), b = static_cast<T>(s.b);
    constexpr double kSqrtPi = 1.7724538509055160273, kSqrt2 = 1.4142135623730950488;
    constexpr double kSqrt2Pi = 2.5066282746310005024;
    switch (s.kind) {
    case Pointwise::ReluLike:
        for (std::size_t i = 0; i < n; ++i) {  // branch-free: vectorises
            const bool pos = z[i] > T(0);
            if (dphi) dphi[i] = pos ? b : a;
            z[i] = (pos ? b : a) * z[i];
        }
        return;
    case Pointwise::Identity:
        if (dphi) for (std::size_t i = 0; i < n; ++i) dphi[i] = T(1);
        return;
    case Pointwise::Erf:
        return each(z, dphi, n, [](T v, T& d) {
            d = T(2 / kSqrtPi) * std::exp(-v * v);
            return std::erf(v);
        });
    case Pointwise::Sin:
        return each(z, dphi, n, [](T v, T& d) { d = std::cos(v); return std::sin(v); });
    case Pointwise::Tanh:
        return each(z, dphi, n, [](T v, T& d) { const T t = std::tanh(v); d = T(1) - t * t; return t; });
    case Pointwise::Sigmoid:
        return each(z, dphi, n, [](T v, T& d) {
            const T e = std::exp(-std::fabs(v));
            const T p = detail::sigmoid_pos(e), q = detail::sigmoid_neg(e);
            d = p * q;
            return v >= T(0) ? p : q;
        });
    case Pointwise::Softplus:
        return each(z, dphi, n, [](T v, T& d) {
            const T e = std::exp(-std::fabs(v));
            d = v >= T(0) ? detail::sigmoid_pos(e) : detail::sigmoid_neg(e);
            return std::fmax(v, T(0)) + std::log1p(e);
        });
    case Pointwise::Gelu:
        return each(z, dphi, n, [](T v, T& d) {
            const T cdf = T(0.5) * (T(1) + std::erf(v / T(kSqrt2)));
            d = cdf + v * std::exp(T(-0.5) * v * v) / T(kSqrt2Pi);
            return v * cdf;
        });
    case Pointwise::Silu:
        return each(z, dphi, n, [](T v, T& d) {
            const T e = std::exp(-std::fabs(v));
            const T p = detail::sigmoid_pos(e), q = detail::sigmoid_neg(e);
            const T sig = v >= T(0) ? p : q, sig_minus = v >= T(0) ? q : p;
            d = sig * (T(1) + v * sig_minus);
            return v * sig;
        });
    case Pointwise::Elu:
        return each(z, dphi, n, [a](T v, T& d) {
            const T m = std::fmin(v, T(0));
            d = v > T(0) ? T(1) : a * std::exp(m);
            return v > T(0) ? v : a * std::expm1(m);
        });
    }
}

}  // namespace ntkfast
