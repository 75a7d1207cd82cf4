#include "row_projection.hpp"

namespace ntkfast {

namespace {

// Rows i..i+R-1 against one table row: the table row is loaded once for R dot products.
// The vectorised reductions reassociate the sums, but the same way whatever the thread count:
// the row blocks are fixed by n alone.
inline void dot_rows4(const double* v, std::ptrdiff_t p, const double* t, double* acc) {
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
    for (std::ptrdiff_t q = 0; q < p; ++q) {
        const double tq = t[q];
        a0 += v[q] * tq;
        a1 += v[p + q] * tq;
        a2 += v[2 * p + q] * tq;
        a3 += v[3 * p + q] * tq;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

inline double dot_row(const double* v, std::ptrdiff_t p, const double* t) {
    double a = 0;
#pragma omp simd reduction(+ : a)
    for (std::ptrdiff_t q = 0; q < p; ++q) a += v[q] * t[q];
    return a;
}

}  // namespace

void project_rows(const double* values, std::ptrdiff_t n, const double* table, std::ptrdiff_t m,
                  std::ptrdiff_t p, double* out, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    (void)n_threads;
    constexpr int R = 4;
    const std::ptrdiff_t n_blocks = (n + R - 1) / R;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (std::ptrdiff_t blk = 0; blk < n_blocks; ++blk) {
        const std::ptrdiff_t i0 = blk * R;
        const std::ptrdiff_t rows = n - i0 < R ? n - i0 : R;
        for (std::ptrdiff_t r = 0; r < m; ++r) {
            double acc[R];
            const double* t = table + r * p;
            if (rows == R) {
                dot_rows4(values + i0 * p, p, t, acc);
            } else {
                for (std::ptrdiff_t u = 0; u < rows; ++u) acc[u] = dot_row(values + (i0 + u) * p, p, t);
            }
            for (std::ptrdiff_t u = 0; u < rows; ++u) out[(i0 + u) * m + r] = acc[u];
        }
    }
}

}  // namespace ntkfast
