#include "cholesky.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "blas.hpp"
#include "lapack.hpp"
#include "tiled_gemm.hpp"  // kMinParallelMultiplyAdds

namespace ntkfast {

namespace {

// Block width of the factorization and edge of every tile (rows of the panel, the trailing
// update's square tiles, row blocks of the solves). 256×256×256 products run OpenBLAS near its
// peak, and N = 4000 gives 16 steps whose first trailing update has 120 tiles to share.
constexpr std::size_t kBlock = 256;
// Columns of the right-hand sides per tile in the solves.
constexpr std::size_t kRhsColumns = 256;

std::size_t count_tiles(std::size_t extent, std::size_t tile) { return (extent + tile - 1) / tile; }

// Threads only where the work outweighs a parallel region's start and join (the tiles, hence the
// results, are the same either way).
bool threaded(int n_threads, std::size_t n_tiles, double multiply_adds) {
    return n_threads > 1 && n_tiles > 1 && multiply_adds >= kMinParallelMultiplyAdds;
}

// a's lower triangle = that of k + ridge·I, by blocks of rows (the strictly upper triangle is
// neither read nor written: its pages are never touched).
void copy_lower(const double* k, double ridge, double* a, std::size_t n, int n_threads) {
    const std::ptrdiff_t nt = static_cast<std::ptrdiff_t>(count_tiles(n, kBlock));
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1 && nt > 1)
    for (std::ptrdiff_t t = 0; t < nt; ++t) {
        const std::size_t i0 = static_cast<std::size_t>(t) * kBlock, i1 = std::min(n, i0 + kBlock);
        for (std::size_t i = i0; i < i1; ++i) {
            std::copy(k + i * n, k + i * n + i + 1, a + i * n);
            a[i * n + i] += ridge;  // as numpy's k + ridge * eye(n): one rounding
        }
    }
}

// One step's trailing update A22 ← A22 − P Pᵀ (lower triangle), P = the panel (rows [r0, n),
// columns [k0, k0 + kb)), by square tiles of the lower triangle, SYRK on the diagonal.
void trailing_update(double* a, std::size_t n, std::size_t k0, std::size_t kb, std::size_t r0,
                     int n_threads) {
    const std::size_t nb = count_tiles(n - r0, kBlock);
    std::vector<std::pair<std::size_t, std::size_t>> tiles;  // (row block, column block <= it)
    tiles.reserve(nb * (nb + 1) / 2);
    for (std::size_t p = 0; p < nb; ++p)
        for (std::size_t q = 0; q <= p; ++q) tiles.emplace_back(p, q);
    const double rest = static_cast<double>(n - r0);
    const std::ptrdiff_t nt = static_cast<std::ptrdiff_t>(tiles.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) \
    if (threaded(n_threads, tiles.size(), rest * rest * static_cast<double>(kb) / 2))
    for (std::ptrdiff_t t = 0; t < nt; ++t) {
        const auto [p, q] = tiles[static_cast<std::size_t>(t)];
        const std::size_t i0 = r0 + p * kBlock, j0 = r0 + q * kBlock;
        const std::size_t ri = std::min(kBlock, n - i0), rj = std::min(kBlock, n - j0);
        if (p == q)
            blas::syrk_lower(ri, kb, -1.0, a + i0 * n + k0, n, 1.0, a + i0 * n + i0, n);
        else
            blas::gemm2(false, true, ri, rj, kb, -1.0, a + i0 * n + k0, n, a + j0 * n + k0, n, 1.0,
                        a + i0 * n + j0, n);
    }
}

// B_k ← op(L_kk)⁻¹ B_k for the kb rows of block k0, by column tiles.
void diagonal_solve(const double* l, std::size_t n, std::size_t k0, std::size_t kb, bool transposed,
                    double* b, std::size_t m, int n_threads) {
    const std::size_t nc = count_tiles(m, kRhsColumns);
    const std::ptrdiff_t nt = static_cast<std::ptrdiff_t>(nc);
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) \
    if (threaded(n_threads, nc, static_cast<double>(kb) * static_cast<double>(kb) * static_cast<double>(m) / 2))
    for (std::ptrdiff_t c = 0; c < nt; ++c) {
        const std::size_t c0 = static_cast<std::size_t>(c) * kRhsColumns;
        blas::trsm_lower(false, transposed, kb, std::min(kRhsColumns, m - c0), l + k0 * n + k0, n,
                         b + k0 * m + c0, m);
    }
}

// B_i ← B_i − op(L)·B_k for the row blocks i of [r0, r1) (aligned to kBlock from r0), with
// op(L) the block of L at rows [r0, r1) × columns [k0, k0 + kb) (forward), or the transpose of
// the one at rows [k0, k0 + kb) × columns [r0, r1) (backward); by (row block, column tile).
void block_update(const double* l, std::size_t n, std::size_t k0, std::size_t kb, bool transposed,
                  std::size_t r0, std::size_t r1, double* b, std::size_t m, int n_threads) {
    const std::size_t nr = count_tiles(r1 - r0, kBlock), nc = count_tiles(m, kRhsColumns);
    const std::ptrdiff_t nt = static_cast<std::ptrdiff_t>(nr * nc);
    const double work = static_cast<double>(r1 - r0) * static_cast<double>(kb) * static_cast<double>(m);
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (threaded(n_threads, nr * nc, work))
    for (std::ptrdiff_t t = 0; t < nt; ++t) {
        const std::size_t i0 = r0 + static_cast<std::size_t>(t) / nc * kBlock;
        const std::size_t c0 = static_cast<std::size_t>(t) % nc * kRhsColumns;
        const std::size_t ri = std::min(kBlock, r1 - i0), cols = std::min(kRhsColumns, m - c0);
        const double* lb = transposed ? l + k0 * n + i0 : l + i0 * n + k0;
        blas::gemm2(transposed, false, ri, cols, kb, -1.0, lb, n, b + k0 * m + c0, m, 1.0,
                    b + i0 * m + c0, m);
    }
}

}  // namespace

std::size_t cholesky_factor(const double* k, double ridge, double* a, std::size_t n,
                            int n_threads, const BetweenBlocks& between) {
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    copy_lower(k, ridge, a, n, n_threads);
    for (std::size_t k0 = 0; k0 < n; k0 += kBlock) {
        const std::size_t kb = std::min(kBlock, n - k0), r0 = k0 + kb;
        if (between) between();
        if (const std::size_t info = lapack::potrf_lower(kb, a + k0 * n + k0, n); info != 0)
            return k0 + info;
        if (r0 == n) break;
        // The panel below: L21 = A21 L11⁻ᵀ, by blocks of rows.
        const std::size_t nr = count_tiles(n - r0, kBlock);
        const std::ptrdiff_t nt = static_cast<std::ptrdiff_t>(nr);
        const double work = static_cast<double>(n - r0) * static_cast<double>(kb) * static_cast<double>(kb) / 2;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (threaded(n_threads, nr, work))
        for (std::ptrdiff_t t = 0; t < nt; ++t) {
            const std::size_t i0 = r0 + static_cast<std::size_t>(t) * kBlock;
            blas::trsm_lower(true, true, std::min(kBlock, n - i0), kb, a + k0 * n + k0, n,
                             a + i0 * n + k0, n);
        }
        trailing_update(a, n, k0, kb, r0, n_threads);
    }
    return 0;
}

void cholesky_solve(const double* l, std::size_t n, double* b, std::size_t m, int n_threads,
                    const BetweenBlocks& between) {
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    if (n == 0 || m == 0) return;
    // L Z = B, forward by blocks: Z_k = L_kk⁻¹ B_k, then B_i −= L_ik Z_k below it.
    for (std::size_t k0 = 0; k0 < n; k0 += kBlock) {
        const std::size_t kb = std::min(kBlock, n - k0);
        if (between) between();
        diagonal_solve(l, n, k0, kb, false, b, m, n_threads);
        if (k0 + kb < n) block_update(l, n, k0, kb, false, k0 + kb, n, b, m, n_threads);
    }
    // Lᵀ X = Z, backward by blocks: X_k = L_kk⁻ᵀ Z_k, then Z_i −= L_kiᵀ X_k above it.
    const std::size_t last = (n - 1) / kBlock * kBlock;
    for (std::size_t k0 = last + kBlock; k0 > 0;) {
        k0 -= kBlock;
        const std::size_t kb = std::min(kBlock, n - k0);
        if (between) between();
        diagonal_solve(l, n, k0, kb, true, b, m, n_threads);
        if (k0 > 0) block_update(l, n, k0, kb, true, 0, k0, b, m, n_threads);
    }
}

}  // namespace ntkfast
