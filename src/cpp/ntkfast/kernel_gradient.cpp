#include "kernel_gradient.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "dual_partials.hpp"

namespace ntkfast {

namespace {

constexpr std::size_t kStrip = 64;  // columns per strip: 6 state arrays + partials stay in L1

// Per point and layer: sqrt(Σ(x, x)) and its inverse (0 at 0).
struct Roots {
    std::vector<double> root, inv;
    Roots(const GradientPoints& p, std::size_t layers) : root(layers * p.n), inv(layers * p.n) {
        for (std::size_t q = 0; q < layers * p.n; ++q) {
            const double k = p.sigma[q];
            root[q] = std::sqrt(k > 0 ? k : 0.0);
            inv[q] = root[q] > 0 ? 1 / root[q] : 0.0;
        }
    }
};

// The strip's state, one entry per column.
struct Strip {
    alignas(64) double k[kStrip], dka[kStrip], dkb[kStrip], t[kStrip], dta[kStrip], dtb[kStrip];
};

// One layer step of one entry from its partials (the chain rule of _gradient_tables.py).
inline void advance(const PairPartials& q, double a, double b, double dk11a, double dk11b,
                    double dk22a, double dk22b, Strip& s, std::size_t c) {
    const double sd = a * q.g;
    const double nka = a * (q.f11 * dk11a + q.f22 * dk22a + q.g * s.dka[c]) + q.f;
    const double nkb = a * (q.f11 * dk11b + q.f22 * dk22b + q.g * s.dkb[c]) + 1.0;
    const double sda = a * (q.g11 * dk11a + q.g22 * dk22a + q.g12 * s.dka[c]) + q.g;
    const double sdb = a * (q.g11 * dk11b + q.g22 * dk22b + q.g12 * s.dkb[c]);
    const double t = s.t[c];
    s.dta[c] = s.dta[c] * sd + t * sda + nka;
    s.dtb[c] = s.dtb[c] * sd + t * sdb + nkb;
    s.t[c] = t * sd + a * q.f + b;
    s.k[c] = a * q.f + b;
    s.dka[c] = nka;
    s.dkb[c] = nkb;
}

struct Context {
    const GradientProblem& pr;
    const GradientPoints &p1, &p2;
    const Roots &r1, &r2;
};

// Closed forms: one vectorisable loop over the strip's columns per layer.
template <class Partials>
void closed_strip(const Context& cx, const Partials& dual, std::size_t i, std::size_t j0,
                  std::size_t width, Strip& s) {
    const double a = cx.pr.weight_var, b = cx.pr.bias_var;
    const std::size_t n1 = cx.p1.n, n2 = cx.p2.n;
    for (std::size_t l = 0; l + 1 < cx.pr.depth; ++l) {
        const double ri = cx.r1.root[l * n1 + i], iri = cx.r1.inv[l * n1 + i];
        const double dk11a = cx.p1.d_sigma[(2 * l) * n1 + i], dk11b = cx.p1.d_sigma[(2 * l + 1) * n1 + i];
        const double* rj = cx.r2.root.data() + l * n2 + j0;
        const double* irj = cx.r2.inv.data() + l * n2 + j0;
        const double* dja = cx.p2.d_sigma + (2 * l) * n2 + j0;
        const double* djb = cx.p2.d_sigma + (2 * l + 1) * n2 + j0;
#pragma omp simd
        for (std::size_t c = 0; c < width; ++c) {
            const PairPartials q = dual(s.k[c], ri, iri, rj[c], irj[c]);
            advance(q, a, b, dk11a, dk11b, dja[c], djb[c], s, c);
        }
    }
}

// The seven sums of an odd φ: φ and φ″ have odd Hermite orders only, φ′ and φ‴ even ones, so
// F, F_11, F_22, G_12 are ρ times a polynomial in z = ρ² and G, G_11, G_22 polynomials in z: half
// the terms of the general loop. Orders up to `kept` (the coefficient arrays carry one zero order
// of padding, so the odd order just past an odd cut exists and is a real, harmless extra term).
void odd_sums(const double* c1, const double* c2, std::size_t stride, std::size_t n1,
              std::size_t n2, std::size_t i, std::size_t j0, std::size_t width, std::size_t kept,
              const double* rho, double (*acc)[kStrip]) {
    alignas(64) double z2[kStrip];
    for (std::size_t c = 0; c < width; ++c) z2[c] = rho[c] * rho[c];
    for (std::size_t m = (kept + 1) / 2; m-- > 0;) {
        const std::size_t ne = 2 * m, no = 2 * m + 1;
        const double a0 = c1[(0 * stride + no) * n1 + i], a2 = c1[(2 * stride + no) * n1 + i];
        const double a1 = c1[(1 * stride + ne) * n1 + i], a3 = c1[(3 * stride + ne) * n1 + i];
        const double* b0 = c2 + (0 * stride + no) * n2 + j0;
        const double* b2 = c2 + (2 * stride + no) * n2 + j0;
        const double* b1 = c2 + (1 * stride + ne) * n2 + j0;
        const double* b3 = c2 + (3 * stride + ne) * n2 + j0;
#pragma omp simd
        for (std::size_t c = 0; c < width; ++c) {
            const double z = z2[c];
            acc[0][c] = acc[0][c] * z + a0 * b0[c];
            acc[1][c] = acc[1][c] * z + a1 * b1[c];
            acc[2][c] = acc[2][c] * z + a2 * b0[c];
            acc[3][c] = acc[3][c] * z + a0 * b2[c];
            acc[4][c] = acc[4][c] * z + a3 * b1[c];
            acc[5][c] = acc[5][c] * z + a1 * b3[c];
            acc[6][c] = acc[6][c] * z + a2 * b2[c];
        }
    }
    for (std::size_t c = 0; c < width; ++c) {
        acc[0][c] *= rho[c];
        acc[2][c] *= rho[c];
        acc[3][c] *= rho[c];
        acc[6][c] *= rho[c];
    }
}

// Hermite series: seven Mehler sums Σ_n c^(u)_n(k11) c^(v)_n(k22) ρ^n per entry, by Horner over
// the terms with the strip's columns innermost (the coefficients of x2 are stored term-major),
// cut per strip where the terms left are below the bound of _kernel_gradients.rho_limits.
void mehler_strip(const Context& cx, std::size_t i, std::size_t j0, std::size_t width, Strip& s) {
    const double a = cx.pr.weight_var, b = cx.pr.bias_var;
    const std::size_t n1 = cx.p1.n, n2 = cx.p2.n, stride = cx.pr.stride;
    alignas(64) double rho[kStrip], acc[7][kStrip];
    for (std::size_t l = 0; l + 1 < cx.pr.depth; ++l) {
        const double iri = cx.r1.inv[l * n1 + i];
        const double* irj = cx.r2.inv.data() + l * n2 + j0;
        double rho_max = 0.0;
        for (std::size_t c = 0; c < width; ++c) {
            const double r = s.k[c] * iri * irj[c];
            rho[c] = r > 1 ? 1.0 : (r < -1 ? -1.0 : r);
            rho_max = std::max(rho_max, std::abs(rho[c]));
            for (auto& row : acc) row[c] = 0.0;
        }
        // The fewest terms whose truncation bound covers the strip's largest |ρ|.
        const double* limit = cx.pr.rho_limits + l * (stride + 1);
        std::size_t kept = 1;
        while (kept < cx.pr.terms[l] && limit[kept] < rho_max) ++kept;
        const double* c1 = cx.p1.coef + l * 4 * stride * n1;  // (4, stride, n1)
        const double* c2 = cx.p2.coef + l * 4 * stride * n2;
        if (cx.pr.odd) {
            odd_sums(c1, c2, stride, n1, n2, i, j0, width, kept, rho, acc);
        } else {
            for (std::size_t n = kept; n-- > 0;) {
                double ai[4];
                const double* bj[4];
                for (int d = 0; d < 4; ++d) {
                    ai[d] = c1[(d * stride + n) * n1 + i];
                    bj[d] = c2 + (d * stride + n) * n2 + j0;
                }
#pragma omp simd
                for (std::size_t c = 0; c < width; ++c) {
                    const double z = rho[c];
                    acc[0][c] = acc[0][c] * z + ai[0] * bj[0][c];  // F
                    acc[1][c] = acc[1][c] * z + ai[1] * bj[1][c];  // G
                    acc[2][c] = acc[2][c] * z + ai[2] * bj[0][c];  // 2 F_11
                    acc[3][c] = acc[3][c] * z + ai[0] * bj[2][c];  // 2 F_22
                    acc[4][c] = acc[4][c] * z + ai[3] * bj[1][c];  // 2 G_11
                    acc[5][c] = acc[5][c] * z + ai[1] * bj[3][c];  // 2 G_22
                    acc[6][c] = acc[6][c] * z + ai[2] * bj[2][c];  // G_12
                }
            }
        }
        const double dk11a = cx.p1.d_sigma[(2 * l) * n1 + i], dk11b = cx.p1.d_sigma[(2 * l + 1) * n1 + i];
        const double* dja = cx.p2.d_sigma + (2 * l) * n2 + j0;
        const double* djb = cx.p2.d_sigma + (2 * l + 1) * n2 + j0;
        for (std::size_t c = 0; c < width; ++c) {
            const PairPartials q{acc[0][c], acc[1][c], 0.5 * acc[2][c], 0.5 * acc[3][c],
                                 0.5 * acc[4][c], 0.5 * acc[5][c], acc[6][c]};
            advance(q, a, b, dk11a, dk11b, dja[c], djb[c], s, c);
        }
    }
}

template <class Run>
void run_rows(const Context& cx, const double* dots, bool symmetric, std::size_t row_begin,
              std::size_t row_end, double* value, double* grad, int n_threads, const Run& run) {
    const std::size_t n2 = cx.p2.n;
    const double a = cx.pr.weight_var, b = cx.pr.bias_var;
    const bool ntk = cx.pr.ntk;
    const long long begin = static_cast<long long>(row_begin), end = static_cast<long long>(row_end);
    // Rows of a triangle differ in length: small dynamic chunks balance the threads.
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 2)
    for (long long ii = begin; ii < end; ++ii) {
        const std::size_t i = static_cast<std::size_t>(ii);
        Strip s;
        for (std::size_t j0 = symmetric ? i : 0; j0 < n2; j0 += kStrip) {
            const std::size_t width = std::min(kStrip, n2 - j0);
            const double* d = dots + i * n2 + j0;
            for (std::size_t c = 0; c < width; ++c) {
                s.k[c] = s.t[c] = a * d[c] + b;
                s.dka[c] = s.dta[c] = d[c];
                s.dkb[c] = s.dtb[c] = 1.0;
            }
            run(i, j0, width, s);
            double* v = value + i * n2 + j0;
            double* g = grad + 2 * (i * n2 + j0);
            for (std::size_t c = 0; c < width; ++c) {
                v[c] = ntk ? s.t[c] : s.k[c];
                g[2 * c] = ntk ? s.dta[c] : s.dka[c];
                g[2 * c + 1] = ntk ? s.dtb[c] : s.dkb[c];
            }
        }
    }
}

}  // namespace

void kernel_gradient_rows(const GradientProblem& problem, const GradientPoints& p1,
                          const GradientPoints& p2, const double* dots, bool symmetric,
                          std::size_t row_begin, std::size_t row_end, double* value, double* grad,
                          int n_threads) {
    const std::size_t layers = problem.depth;
    const Roots r1(p1, layers), r2(p2, layers);
    const Context cx{problem, p1, p2, r1, r2};
    auto closed = [&](const auto& dual) {
        run_rows(cx, dots, symmetric, row_begin, row_end, value, grad, n_threads,
                 [&](std::size_t i, std::size_t j0, std::size_t w, Strip& s) {
                     closed_strip(cx, dual, i, j0, w, s);
                 });
    };
    switch (problem.dual) {
        case GradientDual::kReluLike: closed(ReluLikePartials(problem.slope_neg, problem.slope_pos)); break;
        case GradientDual::kErf: closed(ErfPartials{}); break;
        case GradientDual::kIdentity: closed(IdentityPartials{}); break;
        case GradientDual::kSin: closed(SinPartials{}); break;
        case GradientDual::kMehler:
            run_rows(cx, dots, symmetric, row_begin, row_end, value, grad, n_threads,
                     [&](std::size_t i, std::size_t j0, std::size_t w, Strip& s) {
                         mehler_strip(cx, i, j0, w, s);
                     });
            break;
    }
}

void mirror_lower(std::size_t n, double* value, double* grad, int n_threads) {
    constexpr std::size_t kBlock = 64;  // square blocks: both sides of the copy stay in cache
    const long long blocks = static_cast<long long>((n + kBlock - 1) / kBlock);
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
    for (long long bi = 0; bi < blocks; ++bi) {
        const std::size_t i0 = static_cast<std::size_t>(bi) * kBlock, i1 = std::min(n, i0 + kBlock);
        for (std::size_t j0 = 0; j0 <= i0; j0 += kBlock) {
            const std::size_t j1 = std::min(n, j0 + kBlock);
            for (std::size_t i = i0; i < i1; ++i)
                for (std::size_t j = j0; j < std::min(j1, i); ++j) {
                    value[i * n + j] = value[j * n + i];
                    grad[2 * (i * n + j)] = grad[2 * (j * n + i)];
                    grad[2 * (i * n + j) + 1] = grad[2 * (j * n + i) + 1];
                }
        }
    }
}

}  // namespace ntkfast
