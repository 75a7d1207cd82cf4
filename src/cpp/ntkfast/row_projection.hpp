// out = values · tableᵀ for the Mehler coefficients c_n(k_i) = Σ_p v_ip h_n(x_p) (ntk-math.md §2,
// "Mehler / Hermite expansion"). A BLAS would be faster per flop, but its result can change with
// its own thread count and its idle threads keep spinning while our OpenMP team starts; this loop
// gives each output one thread and a summation order fixed by the shapes alone, so the kernels stay
// bit-identical for any n_threads, and it is a small part of the work (O(N·M·deg) against O(N²·M)).
#pragma once

#include <cstddef>

namespace ntkfast {

// values (n, p) and table (m, p), both row-major; out (n, m).
void project_rows(const double* values, std::ptrdiff_t n, const double* table, std::ptrdiff_t m,
                  std::ptrdiff_t p, double* out, int n_threads);

}  // namespace ntkfast
