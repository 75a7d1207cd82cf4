// Kernel gradient descent in function space (ntk-math.md §4): the N×O training outputs F follow
//
//     dF/dt = −(1/N) · K · D(F),      D = ∂ℓ/∂f per point (MSE: F − Y, cross-entropy: softmax(F) − Y),
//
// integrated by an explicit Runge–Kutta method: Dormand–Prince 5(4) with adaptive steps (error
// control on F in a mixed RMS norm, PI step controller, FSAL) or classical RK4 with a fixed step.
// Steps are cut to land exactly on every requested time. Test outputs depend on the training
// outputs only, f*(t) = f*(0) − (1/N) K* · I(t) with I(t) = ∫_0^t D ds, so we accumulate I with the
// same Runge–Kutta weights as F (identical to carrying the test outputs as extra state) and apply
// K* only at the requested times.
//
// The right-hand side's product K·D is the whole cost, and for the usual few outputs it is
// memory bound: a streaming kernel reads K once per product (BLAS would copy K into its packed
// layout first); wider products go through gemm_row_tiles. Both work on fixed row tiles, so every
// entry is bit-identical for any thread count. Everything else is O(N·O) per evaluation.
#pragma once

#include <cstddef>
#include <functional>

#include "kernel_matrix.hpp"

namespace ntkfast {

enum class OdeMethod { Dopri5, Rk4 };

// D = ∂ℓ/∂f at F; both n×n_out row-major. May throw (a user's loss); it is never called from
// inside a parallel region.
using LossDerivative = std::function<void(const double* f, double* d)>;

struct KernelOdeProblem {
    std::size_t n = 0, n_out = 0;
    const double* k = nullptr;  // n×n row-major, symmetric
    const double* f0 = nullptr; // n×n_out initial outputs
    LossDerivative derivative;
    // Called once before every step attempt (and never inside a parallel region): the binding
    // checks for Ctrl-C here. May throw to abort the integration.
    std::function<void()> between_steps;
    int n_threads = 1;
};

struct OdeOptions {
    OdeMethod method = OdeMethod::Dopri5;
    double rtol = 1e-8, atol = 1e-10;  // dopri5
    double dt = 0.0;                    // rk4: the fixed step (> 0)
    std::size_t max_steps = 1000000;    // step attempts, accepted + rejected
};

struct OdeStats {
    std::size_t n_rhs = 0, n_steps = 0, n_rejected = 0;
};

// Integrates from t = 0 to each of times[0..n_times) (non-decreasing, finite, >= 0) and writes
// F(t_j) to f_out + j·n·n_out and I(t_j) to integral_out + j·n·n_out (integral_out may be null).
// Throws std::runtime_error when max_steps is exceeded or the step size underflows, and
// std::invalid_argument for bad options.
OdeStats integrate_kernel_ode(const KernelOdeProblem& problem, const double* times,
                              std::size_t n_times, const OdeOptions& options, double* f_out,
                              double* integral_out);

// Built-in loss derivatives (y is n×n_out row-major): MSE d = f − y, cross-entropy
// d = softmax(f) − y row by row (max subtracted before exp).
void mse_derivative(std::size_t n, std::size_t n_out, const double* y, const double* f, double* d);
void cross_entropy_derivative(std::size_t n, std::size_t n_out, const double* y, const double* f,
                              double* d);

}  // namespace ntkfast
