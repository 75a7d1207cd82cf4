#include "kernel_ode.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel_matrix.hpp"

namespace ntkfast {

namespace {

// Dormand–Prince 5(4) (Dormand & Prince 1980; the coefficients of Hairer, Nørsett & Wanner,
// "Solving ODEs I", Table 5.2). Row i of A gives stage i+1; the 5th-order weights B are the last
// row (first same as last: stage 7 is evaluated at the new point and is the next step's stage 1).
constexpr double kA2[1] = {1.0 / 5};
constexpr double kA3[2] = {3.0 / 40, 9.0 / 40};
constexpr double kA4[3] = {44.0 / 45, -56.0 / 15, 32.0 / 9};
constexpr double kA5[4] = {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729};
constexpr double kA6[5] = {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176,
                           -5103.0 / 18656};
constexpr double kB[6] = {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84};
// Error weights: 5th-order minus embedded 4th-order weights, stages 1..7.
constexpr double kE[7] = {71.0 / 57600,  0.0,         -71.0 / 16695, 71.0 / 1920,
                          -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

// Step-size control (Hairer's DOPRI5 defaults): a PI controller h_new = h · safety ·
// err^(−α) · err_prev^β with β = 0.04, α = 1/5 − 0.75β, the factor kept in [1/5, 10], and no
// growth right after a rejection.
constexpr double kSafety = 0.9, kFacMin = 0.2, kFacMax = 10.0;
constexpr double kBeta = 0.04, kAlpha = 0.2 - 0.75 * kBeta;

// RK4 step counts are computed in double; above 2^53 they are no longer exact integers.
constexpr double kMaxCountableSteps = 9007199254740992.0;

// Entry-wise work (stage combinations, loss derivatives: O(N·O)) stays on one thread. Spreading
// it gained ~5% on a quiet machine, but every extra parallel region is a barrier, and on a shared,
// oversubscribed machine each barrier waits for a descheduled thread: a right-hand side with
// eight regions instead of one measured 1.5x slower there.

// out = base + h · Σ_s w[s] · v[s] (entries of every vector in a fixed order).
void combine(std::size_t size, double* out, const double* base, double h, const double* w,
             const double* const* v, std::size_t n_terms) {
    for (std::size_t i = 0; i < size; ++i) {
        double acc = 0.0;
        for (std::size_t s = 0; s < n_terms; ++s) acc += w[s] * v[s][i];
        out[i] = base[i] + h * acc;
    }
}

// A number for an error message, as %g would print it.
std::string fmt(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
}

class Integrator {
public:
    Integrator(const KernelOdeProblem& p, const double* times, std::size_t n_times,
               const OdeOptions& o, double* f_out, double* integral_out)
        : p_(p), o_(o), times_(times), n_times_(n_times), f_out_(f_out), i_out_(integral_out),
          size_(p.n * p.n_out), f_(p.f0, p.f0 + size_), integral_(size_, 0.0) {}

    OdeStats run() {
        record_reached();
        if (next_ == n_times_) return stats_;
        if (o_.method == OdeMethod::Rk4) run_rk4();
        else run_dopri5();
        return stats_;
    }

private:
    using Vec = std::vector<double>;

    // k = −(1/N) K D(y), with D(y) kept in d.
    void rhs(const double* y, double* d, double* k) {
        p_.derivative(y, d);
        kernel_product(p_.n, p_.n, p_.n_out, -1.0 / static_cast<double>(p_.n), p_.k, d, 0.0, k,
                       p_.n_threads);
        ++stats_.n_rhs;
    }

    // Copies the state to every requested time equal to the current time.
    void record_reached() {
        while (next_ < n_times_ && times_[next_] <= t_) {
            std::copy(f_.begin(), f_.end(), f_out_ + next_ * size_);
            if (i_out_) std::copy(integral_.begin(), integral_.end(), i_out_ + next_ * size_);
            ++next_;
        }
    }

    void begin_attempt() {
        if (p_.between_steps) p_.between_steps();
        if (stats_.n_steps + stats_.n_rejected >= o_.max_steps)
            throw std::runtime_error("kernel_gd: max_steps=" + std::to_string(o_.max_steps) +
                                     " step attempts exceeded at t=" + fmt(t_) +
                                     " before reaching t=" + fmt(times_[n_times_ - 1]) +
                                     "; raise max_steps or loosen rtol/atol");
    }

    // Classical RK4. Each interval between requested times is cut into the fewest equal steps
    // not longer than dt (up to a relative 1e-9, so a dt that divides the interval is kept).
    // Counts are computed in double: ceil(span / dt) can exceed 2^64 (a size_t cast would be
    // undefined and a size_t sum could wrap, silently skipping the steps), and any count above
    // kMaxCountableSteps is refused before a cast (no integration could take 2^53 steps anyway).
    void run_rk4() {
        double total = 0.0;
        std::vector<double> counts(n_times_, 0.0);
        double t_prev = t_;
        for (std::size_t j = next_; j < n_times_; ++j) {
            const double span = times_[j] - t_prev;
            counts[j] = span > 0 ? std::max(1.0, std::ceil(span / o_.dt - 1e-9)) : 0.0;
            total += counts[j];
            t_prev = times_[j];
        }
        const double limit = std::min(static_cast<double>(o_.max_steps), kMaxCountableSteps);
        if (!(total <= limit)) {
            const std::string needs = total <= kMaxCountableSteps
                                          ? std::to_string(static_cast<std::uint64_t>(total))
                                          : fmt(total);
            throw std::runtime_error(
                "kernel_gd: rk4 with dt=" + fmt(o_.dt) + " needs " + needs + " steps, more than " +
                (total <= static_cast<double>(o_.max_steps)
                     ? std::string("the 2^53 steps an integration can count")
                     : "max_steps=" + std::to_string(o_.max_steps)) +
                "; raise max_steps or dt (dt <= N / max row sum of |K| is stable)");
        }
        Vec y(size_), d1(size_), d2(size_), d3(size_), d4(size_), k1(size_), k2(size_), k3(size_),
            k4(size_);
        for (std::size_t j = next_; j < n_times_; ++j) {
            const double t0 = t_, target = times_[j];
            const std::size_t steps = static_cast<std::size_t>(counts[j]);  // <= 2^53: exact
            const double h = steps ? (target - t0) / static_cast<double>(steps) : 0.0;
            for (std::size_t s = 0; s < steps; ++s) {
                begin_attempt();
                rhs(f_.data(), d1.data(), k1.data());
                for (std::size_t i = 0; i < size_; ++i) y[i] = f_[i] + 0.5 * h * k1[i];
                rhs(y.data(), d2.data(), k2.data());
                for (std::size_t i = 0; i < size_; ++i) y[i] = f_[i] + 0.5 * h * k2[i];
                rhs(y.data(), d3.data(), k3.data());
                for (std::size_t i = 0; i < size_; ++i) y[i] = f_[i] + h * k3[i];
                rhs(y.data(), d4.data(), k4.data());
                const double w = h / 6.0;
                for (std::size_t i = 0; i < size_; ++i) {
                    f_[i] += w * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
                    integral_[i] += w * (d1[i] + 2.0 * d2[i] + 2.0 * d3[i] + d4[i]);
                }
                ++stats_.n_steps;
                t_ = s + 1 == steps ? target : t0 + static_cast<double>(s + 1) * h;
            }
            t_ = target;
            record_reached();
        }
    }

    // Mixed RMS norm of e relative to atol + rtol · max(|f|, |f_new|).
    double error_norm(const Vec& e, const Vec& f_new) const {
        return rms([&](std::size_t i) {
            return e[i] / (o_.atol + o_.rtol * std::max(std::abs(f_[i]), std::abs(f_new[i])));
        });
    }

    // sqrt(mean of ratio(i)²); when the squares overflow although every ratio is finite (outputs
    // or targets beyond ~1e154 against atol), summed again scaled by the largest ratio, else the
    // initial step would come out 0 and the integration stop with a false step-size underflow.
    template <class Ratio>
    double rms(Ratio ratio) const {
        double sum = 0.0, big = 0.0;
        for (std::size_t i = 0; i < size_; ++i) {
            const double r = ratio(i);
            sum += r * r;
            big = std::max(big, std::abs(r));
        }
        if (std::isfinite(sum) || !std::isfinite(big)) return std::sqrt(sum / static_cast<double>(size_));
        sum = 0.0;
        for (std::size_t i = 0; i < size_; ++i) {
            const double r = ratio(i) / big;
            sum += r * r;
        }
        return big * std::sqrt(sum / static_cast<double>(size_));
    }

    double rms_scaled(const double* v, const double* y) const {
        return rms([&](std::size_t i) { return v[i] / (o_.atol + o_.rtol * std::abs(y[i])); });
    }

    // Initial step (Hairer, Nørsett & Wanner II.4, with RMS norms): one explicit Euler probe
    // estimates the second derivative; h makes the local error of order 5 about 0.01.
    double initial_step(const Vec& k1, double t_end) {
        const double dnf = rms_scaled(k1.data(), f_.data());
        const double dny = rms_scaled(f_.data(), f_.data());
        double h = (dnf <= 1e-10 || dny <= 1e-10) ? 1e-6 : 0.01 * dny / dnf;
        h = std::min(h, t_end);
        Vec y(size_), d(size_), k(size_);
        for (std::size_t i = 0; i < size_; ++i) y[i] = f_[i] + h * k1[i];
        rhs(y.data(), d.data(), k.data());
        for (std::size_t i = 0; i < size_; ++i) k[i] -= k1[i];
        const double der2 = rms_scaled(k.data(), f_.data()) / h;
        const double der12 = std::max(der2, dnf);
        const double h1 = der12 <= 1e-15 ? std::max(1e-6, h * 1e-3) : std::pow(0.01 / der12, 0.2);
        return std::min({100.0 * h, h1, t_end});
    }

    void run_dopri5() {
        Vec d[7], k[7];
        for (int s = 0; s < 7; ++s) {
            d[s].assign(size_, 0.0);
            k[s].assign(size_, 0.0);
        }
        Vec y(size_), f_new(size_), err(size_);
        const double t_end = times_[n_times_ - 1];
        rhs(f_.data(), d[0].data(), k[0].data());
        double h = initial_step(k[0], t_end);
        double err_prev = 1e-4;
        bool last_rejected = false;
        const double* kp[7];
        const double* dp[7];
        for (int s = 0; s < 7; ++s) {
            kp[s] = k[s].data();
            dp[s] = d[s].data();
        }
        const double* const stage_a[5] = {kA2, kA3, kA4, kA5, kA6};
        while (next_ < n_times_) {
            begin_attempt();
            const double target = times_[next_];
            const double h_proposed = h;
            const bool lands = t_ + 1.01 * h >= target;  // avoids a sliver of a step after this one
            if (lands) h = target - t_;
            // Underflow relative to the current time (Hairer's DOPRI5: 0.1·h <= eps·t): such a
            // step no longer moves t meaningfully. At t = 0 there is no scale and only h = 0 (after
            // repeated rejections) is refused. A step that lands is the exact rest of the interval
            // and is always taken. (An absolute floor, h < 1e-300, refused valid tiny times.)
            if (!(h > 0.0) || t_ + h == t_ ||
                (!lands && h <= 10.0 * std::numeric_limits<double>::epsilon() * t_))
                throw std::runtime_error("kernel_gd: step size underflow at t=" + fmt(t_) +
                                         " (h=" + fmt(h) +
                                         "); the outputs may have overflowed or the tolerances are too tight");
            for (int s = 1; s < 6; ++s) {
                combine(size_, y.data(), f_.data(), h, stage_a[s - 1], kp, static_cast<std::size_t>(s));
                rhs(y.data(), d[s].data(), k[s].data());
            }
            combine(size_, f_new.data(), f_.data(), h, kB, kp, 6);
            rhs(f_new.data(), d[6].data(), k[6].data());
            for (std::size_t i = 0; i < size_; ++i) {
                double acc = 0.0;
                for (int s = 0; s < 7; ++s) acc += kE[s] * kp[s][i];
                err[i] = h * acc;
            }
            double e = error_norm(err, f_new);
            if (!std::isfinite(e)) e = std::numeric_limits<double>::infinity();
            const double fac_err = std::pow(e, kAlpha);
            if (e <= 1.0) {
                for (std::size_t i = 0; i < size_; ++i) {
                    double acc = 0.0;
                    for (int s = 0; s < 6; ++s) acc += kB[s] * dp[s][i];
                    integral_[i] += h * acc;
                }
                f_.swap(f_new);
                std::swap(k[0], k[6]);
                std::swap(d[0], d[6]);
                kp[0] = k[0].data();
                kp[6] = k[6].data();
                dp[0] = d[0].data();
                dp[6] = d[6].data();
                t_ = lands ? target : t_ + h;
                ++stats_.n_steps;
                double fac = fac_err / std::pow(err_prev, kBeta) / kSafety;
                fac = std::clamp(fac, 1.0 / kFacMax, 1.0 / kFacMin);
                double h_new = h / fac;
                if (last_rejected) h_new = std::min(h_new, h);
                if (lands) h_new = std::max(h_new, h_proposed);  // the cut was ours, not the error's
                err_prev = std::max(e, 1e-4);
                last_rejected = false;
                h = h_new;
                record_reached();
            } else {
                ++stats_.n_rejected;
                h = h / std::min(1.0 / kFacMin, fac_err / kSafety);
                last_rejected = true;
            }
        }
    }

    const KernelOdeProblem& p_;
    const OdeOptions& o_;
    const double* times_;
    std::size_t n_times_;
    double* f_out_;
    double* i_out_;
    std::size_t size_;
    Vec f_, integral_;
    double t_ = 0.0;
    std::size_t next_ = 0;
    OdeStats stats_;
};

}  // namespace

void mse_derivative(std::size_t n, std::size_t n_out, const double* y, const double* f, double* d) {
    for (std::size_t i = 0; i < n * n_out; ++i) d[i] = f[i] - y[i];
}

void cross_entropy_derivative(std::size_t n, std::size_t n_out, const double* y, const double* f,
                              double* d) {
    for (std::size_t i = 0; i < n; ++i) {
        const double* fi = f + i * n_out;
        double m = fi[0];
        for (std::size_t c = 1; c < n_out; ++c) m = std::max(m, fi[c]);
        double s = 0.0;
        for (std::size_t c = 0; c < n_out; ++c) {
            d[i * n_out + c] = std::exp(fi[c] - m);
            s += d[i * n_out + c];
        }
        for (std::size_t c = 0; c < n_out; ++c) d[i * n_out + c] = d[i * n_out + c] / s - y[i * n_out + c];
    }
}

OdeStats integrate_kernel_ode(const KernelOdeProblem& problem, const double* times,
                              std::size_t n_times, const OdeOptions& options, double* f_out,
                              double* integral_out) {
    if (problem.n == 0 || problem.n_out == 0) throw std::invalid_argument("empty problem");
    if (problem.n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    if (!problem.derivative) throw std::invalid_argument("no loss derivative");
    for (std::size_t j = 0; j < n_times; ++j)
        if (!std::isfinite(times[j]) || times[j] < 0 || (j > 0 && times[j] < times[j - 1]))
            throw std::invalid_argument("times must be finite, >= 0 and non-decreasing");
    if (options.method == OdeMethod::Rk4 && !(options.dt > 0 && std::isfinite(options.dt)))
        throw std::invalid_argument("rk4 needs a finite dt > 0");
    if (options.method == OdeMethod::Dopri5 &&
        !(options.rtol >= 0 && options.atol >= 0 && options.rtol + options.atol > 0))
        throw std::invalid_argument("rtol and atol must be >= 0 and not both 0");
    Integrator integrator(problem, times, n_times, options, f_out, integral_out);
    return integrator.run();
}

}  // namespace ntkfast
