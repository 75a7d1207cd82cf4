// Kernel (ridge) regression at t = ∞ of the MSE dynamics (ntk-math.md §4): with A = K + ridge·I,
//
//     α = A⁻¹ (y − f_0),      f_∞(x*) = f_0(x*) + K(x*, X) α,
//
// by the Cholesky factorization A = L Lᵀ, about a sixth of the flops of the eigendecomposition.
//
// OpenBLAS runs single-threaded in this process (blas.hpp), so its own potrf would use one core.
// The factorization here is blocked and right-looking, each step one small potrf on the diagonal
// block (one thread), then the panel below it and the trailing update, cut into fixed tiles that
// are shared among the OpenMP threads, each tile one BLAS call over the full inner dimension. The
// tiles depend on the matrix size only, so every entry comes from the same calls for any thread
// count: results are bit-identical for any n_threads. The solves with many right-hand sides work
// the same way by blocks of rows and columns.
#pragma once

#include <cstddef>
#include <functional>

namespace ntkfast {

// Called between blocks (never inside a parallel region): the binding checks for Ctrl-C there.
// May throw to stop the computation.
using BetweenBlocks = std::function<void()>;

// Writes the lower triangle of k + ridge·I (k n×n row-major) into a (n×n row-major) and factors it
// in place, A = L Lᵀ (L in a's lower triangle; a's strictly upper triangle is never touched).
// Returns 0, or the 1-based index of the first pivot that is not positive (A is not numerically
// positive definite; a is then only partly factored).
std::size_t cholesky_factor(const double* k, double ridge, double* a, std::size_t n,
                            int n_threads, const BetweenBlocks& between);

// Solves L Lᵀ X = B in place (B n×m row-major), L from cholesky_factor.
void cholesky_solve(const double* l, std::size_t n, double* b, std::size_t m, int n_threads,
                    const BetweenBlocks& between);

}  // namespace ntkfast
