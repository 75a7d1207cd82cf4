// Dense kernel-matrix primitives of the dynamics (ntk-math.md §4): the product K·D with a thin
// block of outputs (the whole cost of the kernel ODE's right-hand side), the checks the Python
// layer makes on a kernel before integrating, and the memory-bandwidth probe the product is
// benchmarked against. Every result is independent of the thread count (fixed row tiles, fixed
// summation order).
#pragma once

#include <cstddef>

namespace ntkfast {

// out (rows×n_out) = alpha · k (rows×n) · d (n×n_out) + beta · out, by fixed row tiles.
void kernel_product(std::size_t rows, std::size_t n, std::size_t n_out, double alpha,
                    const double* k, const double* d, double beta, double* out, int n_threads);

// What the Python layer checks about a kernel before integrating, in two cache-friendly passes
// (numpy would need several N×N temporaries): whether every entry is finite, max |k_ij|,
// max_i Σ_j |k_ij| (for the default RK4 step) and, when `symmetric` (rows == cols), max |k_ij − k_ji|.
struct KernelStats {
    bool finite = true;
    double max_abs = 0.0, max_row_abs_sum = 0.0, max_asymmetry = 0.0;
};
KernelStats kernel_stats(const double* k, std::size_t rows, std::size_t cols, bool symmetric,
                         int n_threads);

// Bytes per second of a streaming read-only pass over an n_bytes buffer with n_threads threads
// (best of `repeats`): the memory-bandwidth floor the right-hand side is measured against.
double read_bandwidth(std::size_t n_bytes, int n_threads, int repeats);

}  // namespace ntkfast
