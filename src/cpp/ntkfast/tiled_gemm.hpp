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

// Columns per tile when a product is too short to split by rows (see gemm_row_tiles).
constexpr std::size_t kColumnTile = 256;

// Row-major C (m×n, ldc) = alpha · op(A) · op(B) + beta · C; op(A) = Aᵀ (A is k×m, lda) when
// a_transposed, else A (m×k, lda); op(B) = Bᵀ (B is n×k, ldb) when b_transposed, else B (k×n).
// Rows of C are cut into tiles of tile_rows; the tiles are shared among n_threads threads. A
// short, wide product (one row tile, e.g. a small batch times a wide layer's weights) is cut into
// tiles of kColumnTile columns instead, so that it still uses every thread and each thread streams
// its own slice of B. Which cut is used depends only on the shapes.
template <class T>
void gemm_row_tiles(bool a_transposed, bool b_transposed, std::size_t m, std::size_t n,
                    std::size_t k, T alpha, const T* a, std::size_t lda, const T* b,
                    std::size_t ldb, T beta, T* c, std::size_t ldc, std::size_t tile_rows,
                    int n_threads) {
    if (m == 0 || n == 0) return;
    tile_rows = std::max<std::size_t>(tile_rows, 1);
    const bool by_columns = m <= tile_rows && n >= 2 * kColumnTile;
    const std::size_t extent = by_columns ? n : m, tile = by_columns ? kColumnTile : tile_rows;
    const std::ptrdiff_t n_tiles = static_cast<std::ptrdiff_t>((extent + tile - 1) / tile);
    const bool parallel = n_threads > 1 && n_tiles > 1 &&
                          static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >=
                              kMinParallelMultiplyAdds;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (parallel)
    for (std::ptrdiff_t t = 0; t < n_tiles; ++t) {
        const std::size_t i0 = static_cast<std::size_t>(t) * tile;
        const std::size_t len = std::min(tile, extent - i0);
        if (by_columns) {
            const T* b_tile = b_transposed ? b + i0 * ldb : b + i0;
            blas::gemm2(a_transposed, b_transposed, m, len, k, alpha, a, lda, b_tile, ldb, beta,
                        c + i0, ldc);
        } else {
            const T* a_tile = a_transposed ? a + i0 : a + i0 * lda;
            blas::gemm2(a_transposed, b_transposed, len, n, k, alpha, a_tile, lda, b, ldb, beta,
                        c + i0 * ldc, ldc);
        }
    }
}

}  // namespace ntkfast
