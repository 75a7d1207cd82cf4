// A matrix product spread over OpenMP threads by fixed tiles of output rows, each tile computed
// by one single-threaded BLAS call. The tiling depends only on the shapes and tile_rows, never on
// the thread count, so every output entry comes from the same call and results are bit-identical
// for any n_threads (OpenBLAS's own threading would split the work differently per count).
#pragma once

#include <algorithm>
#include <cstddef>

#include "blas.hpp"

namespace ntkfast {

// Below this many multiply-adds a product runs on one thread: a parallel region's start and join
// cost microseconds on an idle machine but can cost milliseconds when the cores are shared, which
// dwarfs a product this small (~50 µs of work on one core). The tiles are the same either way.
constexpr double kMinParallelMultiplyAdds = 2e6;

// Row-major C (m×n, ldc) = alpha · op(A) · op(B) + beta · C; op(A) = Aᵀ (A is k×m, lda) when
// a_transposed, else A (m×k, lda); op(B) = Bᵀ (B is n×k, ldb) when b_transposed, else B (k×n).
// Rows of C are cut into tiles of tile_rows; the tiles are shared among n_threads threads.
template <class T>
void gemm_row_tiles(bool a_transposed, bool b_transposed, std::size_t m, std::size_t n,
                    std::size_t k, T alpha, const T* a, std::size_t lda, const T* b,
                    std::size_t ldb, T beta, T* c, std::size_t ldc, std::size_t tile_rows,
                    int n_threads) {
    if (m == 0 || n == 0) return;
    tile_rows = std::max<std::size_t>(tile_rows, 1);
    const std::ptrdiff_t n_tiles = static_cast<std::ptrdiff_t>((m + tile_rows - 1) / tile_rows);
    const bool parallel = n_threads > 1 && n_tiles > 1 &&
                          static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >=
                              kMinParallelMultiplyAdds;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (parallel)
    for (std::ptrdiff_t t = 0; t < n_tiles; ++t) {
        const std::size_t r0 = static_cast<std::size_t>(t) * tile_rows;
        const std::size_t rows = std::min(tile_rows, m - r0);
        const T* a_tile = a_transposed ? a + r0 : a + r0 * lda;
        blas::gemm2(a_transposed, b_transposed, rows, n, k, alpha, a_tile, lda, b, ldb, beta,
                    c + r0 * ldc, ldc);
    }
}

}  // namespace ntkfast
