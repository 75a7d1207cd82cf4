#include "kernel_gradient.hpp"

#include "dual_partials.hpp"

namespace ntkfast {

namespace {

PairPartials partials(const GradientProblem& pr, std::size_t step, const GradientPoints& p1,
                      std::size_t i, const GradientPoints& p2, std::size_t j, double k11,
                      double k22, double k12) {
    switch (pr.dual) {
        case GradientDual::kReluLike:
            return relu_like_partials(pr.slope_neg, pr.slope_pos, k11, k22, k12);
        case GradientDual::kErf: return erf_partials(k11, k22, k12);
        case GradientDual::kIdentity: return identity_partials(k12);
        case GradientDual::kSin: return sin_partials(k11, k22, k12);
        case GradientDual::kMehler: {
            const std::size_t block = 4 * pr.stride;
            const double* c1 = p1.coef + (step * p1.n + i) * block;
            const double* c2 = p2.coef + (step * p2.n + j) * block;
            return mehler_partials(c1, c2, pr.stride, pr.terms[step], k11, k22, k12);
        }
    }
    return {};
}

// One entry: every layer of (Σ, Θ) and their derivatives in (a, b).
void entry(const GradientProblem& pr, const GradientPoints& p1, std::size_t i,
           const GradientPoints& p2, std::size_t j, double dot, double* value, double* grad) {
    const double a = pr.weight_var, b = pr.bias_var;
    double k = a * dot + b, dk[2] = {dot, 1.0};
    double t = k, dt[2] = {dot, 1.0};
    for (std::size_t l = 0; l + 1 < pr.depth; ++l) {
        const double k11 = p1.sigma[l * p1.n + i], k22 = p2.sigma[l * p2.n + j];
        const double* d1 = p1.d_sigma + l * 2 * p1.n;
        const double* d2 = p2.d_sigma + l * 2 * p2.n;
        const PairPartials q = partials(pr, l, p1, i, p2, j, k11, k22, k);
        const double sd = a * q.g;
        double dk_next[2], dsd[2];
        for (int p = 0; p < 2; ++p) {
            const double dk11 = d1[p * p1.n + i], dk22 = d2[p * p2.n + j];
            dk_next[p] = a * (q.f11 * dk11 + q.f22 * dk22 + q.g * dk[p]);
            dsd[p] = a * (q.g11 * dk11 + q.g22 * dk22 + q.g12 * dk[p]);
        }
        dk_next[0] += q.f;
        dk_next[1] += 1.0;
        dsd[0] += q.g;
        const double k_next = a * q.f + b;
        for (int p = 0; p < 2; ++p) {
            dt[p] = dt[p] * sd + t * dsd[p] + dk_next[p];
            dk[p] = dk_next[p];
        }
        t = t * sd + k_next;
        k = k_next;
    }
    *value = pr.ntk ? t : k;
    grad[0] = pr.ntk ? dt[0] : dk[0];
    grad[1] = pr.ntk ? dt[1] : dk[1];
}

}  // namespace

void kernel_gradient_rows(const GradientProblem& problem, const GradientPoints& p1,
                          const GradientPoints& p2, const double* dots, bool symmetric,
                          std::size_t row_begin, std::size_t row_end, double* value, double* grad,
                          int n_threads) {
    const std::size_t n2 = p2.n;
    const long long begin = static_cast<long long>(row_begin), end = static_cast<long long>(row_end);
    // Rows of a triangle differ in length: dynamic chunks of rows balance the threads.
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 4)
    for (long long ii = begin; ii < end; ++ii) {
        const std::size_t i = static_cast<std::size_t>(ii);
        for (std::size_t j = symmetric ? i : 0; j < n2; ++j) {
            const std::size_t at = i * n2 + j;
            entry(problem, p1, i, p2, j, dots[at], value + at, grad + 2 * at);
        }
    }
}

}  // namespace ntkfast
