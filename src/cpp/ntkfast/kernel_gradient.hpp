// The infinite-width kernel together with its derivatives in a = σ_w² and b = β², by forward-mode
// differentiation of the Σ / Σ̇ / Θ recursion of ntk-math.md §2 entry by entry (the chain rule is
// derived in python/ntkfast/_gradient_tables.py; the per-layer partials are dual_partials.hpp).
// Per entry and layer it carries Σ(x, x'), Θ(x, x') and their two derivatives, from the per-point
// tables of Σ(x, x) and its derivatives (computed in Python, O(N·L)). A row is processed in strips
// of columns, every layer of a strip while it sits in L1, each loop over the strip's columns
// branch-free so that it vectorises. Each entry is computed by one thread in a fixed order:
// bit-identical for any thread count.
#pragma once

#include <cstddef>

namespace ntkfast {

enum class GradientDual { kReluLike = 0, kErf = 1, kIdentity = 2, kSin = 3, kMehler = 4 };

struct GradientPoints {
    const double* sigma;    // (L, n): Σ^(l)(x, x)
    const double* d_sigma;  // (L, 2, n): ∂Σ/∂a, ∂Σ/∂b
    const double* coef;     // Mehler: (L-1, 4, stride, n) coefficients of φ..φ''' per step; else null
    std::size_t n;
};

struct GradientProblem {
    GradientDual dual;
    double slope_neg, slope_pos;  // relu family: a·min(z,0) + b·max(z,0)
    std::size_t depth;
    double weight_var, bias_var;
    bool ntk;                     // Θ (true) or Σ (false)
    const std::size_t* terms;     // Mehler: terms used per layer step (L-1); else null
    std::size_t stride;           // Mehler: coefficients stored per derivative order and point
    const double* rho_limits;     // Mehler: (L-1, stride+1): terms q suffice while |ρ| <= limit[q]
    bool odd;                     // Mehler: φ is odd (each sum has only odd or only even orders)
};

// dots: (n1, n2) x·x'/n0. Writes value (n1, n2) and grad (n1, n2, 2) = (∂/∂a, ∂/∂b) for rows
// [row_begin, row_end); symmetric: only entries j >= i (mirror_lower fills the rest).
void kernel_gradient_rows(const GradientProblem& problem, const GradientPoints& p1,
                          const GradientPoints& p2, const double* dots, bool symmetric,
                          std::size_t row_begin, std::size_t row_end, double* value, double* grad,
                          int n_threads);

// value[i, j] = value[j, i] and grad likewise for j < i (n × n).
void mirror_lower(std::size_t n, double* value, double* grad, int n_threads);

}  // namespace ntkfast
