#include "cholesky.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "blas.hpp"
#include "lapack.hpp"
#include "tiled_gemm.hpp"  // gemm2

namespace ntkfast {

namespace {

// Edge of the factorization's square tiles. 256×256×256 products run OpenBLAS near its peak, and
// N = 4000 gives 16 block columns, whose first trailing update has 120 tiles to share.
constexpr std::size_t kTile = 256;
// Columns of the right-hand sides per tile of the solves.
constexpr std::size_t kRhsColumns = 64;
// Multiply-adds of factorization between two checks for Ctrl-C (about 0.2 s on one core): each
// check ends a parallel region, so the threads drain and start again, which costs most on a
// machine whose cores are shared.
constexpr double kWorkPerCheck = 8e9;

std::size_t count_tiles(std::size_t extent, std::size_t tile) { return (extent + tile - 1) / tile; }

// a's lower triangle = that of k + ridge·I, by blocks of rows (the strictly upper triangle is
// neither read nor written: its pages are never touched).
void copy_lower(const double* k, double ridge, double* a, std::size_t n, int n_threads) {
    const std::ptrdiff_t nt = static_cast<std::ptrdiff_t>(count_tiles(n, kTile));
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1 && nt > 1)
    for (std::ptrdiff_t t = 0; t < nt; ++t) {
        const std::size_t i0 = static_cast<std::size_t>(t) * kTile, i1 = std::min(n, i0 + kTile);
        for (std::size_t i = i0; i < i1; ++i) {
            std::copy(k + i * n, k + i * n + i + 1, a + i * n);
            a[i * n + i] += ridge;  // as numpy's k + ridge * eye(n): one rounding
        }
    }
}

// The tiled right-looking factorization's block columns [s0, s1) as a graph of OpenMP tasks, one
// BLAS call each: potrf of the diagonal tile (s, s); trsm of the tiles (i, s) below it; then each
// tile (i, j) of the trailing lower triangle updated by syrk (i = j) or gemm with the tiles of
// block column s. A tile's updates are chained through its dependence slot, so it receives them in
// the order s = 0, 1, … whatever thread runs them: every entry is bit-identical for any thread
// count, while threads run ahead into the next block columns (no barrier per column). Returns 0,
// or the 1-based index of the first pivot that is not positive.
std::size_t factor_columns(double* a, std::size_t n, std::size_t s0, std::size_t s1,
                           int n_threads) {
    const std::size_t nt = count_tiles(n, kTile);
    std::vector<char> slot(nt * nt);  // dependence slot of tile (i, j): its address only
    char* dep = slot.data();
    (void)dep;  // GCC counts a use in a depend clause as none (-Wunused-variable)
    std::atomic<long> failed{0};  // 1-based pivot of the first failure, or 0 (negative: a bug)
    auto size = [n](std::size_t t) { return std::min(kTile, n - t * kTile); };
    auto tile = [a, n](std::size_t i, std::size_t j) { return a + i * kTile * n + j * kTile; };
#pragma omp parallel num_threads(n_threads)
#pragma omp single
    for (std::size_t s = s0; s < s1; ++s) {
        // potrf(s) runs after every update of tile (s, s), which come after potrf of every earlier
        // column: the first failure stops all that follows, and is the first pivot in order.
#pragma omp task depend(inout : dep[s * nt + s]) shared(failed)
        if (failed.load() == 0) {
            const long info = lapack::potrf_lower(size(s), tile(s, s), n);
            if (info != 0) failed.store(info < 0 ? info : static_cast<long>(s * kTile) + info);
        }
        for (std::size_t i = s + 1; i < nt; ++i) {
#pragma omp task depend(in : dep[s * nt + s]) depend(inout : dep[i * nt + s]) shared(failed)
            if (failed.load() == 0)
                blas::trsm_lower(true, true, size(i), size(s), tile(s, s), n, tile(i, s), n);
        }
        for (std::size_t i = s + 1; i < nt; ++i) {
#pragma omp task depend(in : dep[i * nt + s]) depend(inout : dep[i * nt + i]) shared(failed)
            if (failed.load() == 0)
                blas::syrk_lower(size(i), size(s), -1.0, tile(i, s), n, 1.0, tile(i, i), n);
            for (std::size_t j = s + 1; j < i; ++j) {
#pragma omp task depend(in : dep[i * nt + s], dep[j * nt + s]) depend(inout : dep[i * nt + j]) shared(failed)
                if (failed.load() == 0)
                    blas::gemm2(false, true, size(i), size(j), size(s), -1.0, tile(i, s), n,
                                tile(j, s), n, 1.0, tile(i, j), n);
            }
        }
    }
    const long info = failed.load();
    if (info < 0) throw std::logic_error("dpotrf: invalid argument " + std::to_string(-info));
    return static_cast<std::size_t>(info);
}

// L Lᵀ X = B for the column tiles [c0, c1) of B, by blocked substitution as a graph of OpenMP
// tasks over tiles (row block i, column tile c), one BLAS call each. Forward, L Z = B: tile (k, c)
// is solved by trsm with L_kk once every update B_kc −= L_kj Z_jc (j < k) is in; backward,
// Lᵀ X = Z, the same from the last row block up with the transposed blocks. Each tile's updates
// are chained through its dependence slot, so it receives them in a fixed order: bit-identical
// for any thread count, with no barrier between block rows. The solves are memory bound (L is
// read twice), a few per cent of the factorization.
void solve_columns(const double* l, std::size_t n, double* b, std::size_t m, std::size_t c0,
                   std::size_t c1, int n_threads) {
    const std::size_t nr = count_tiles(n, kTile);
    std::vector<char> slot(nr * (c1 - c0));  // dependence slot of tile (i, c): its address only
    char* dep = slot.data();
    (void)dep;  // as in factor_columns
    auto rows = [n](std::size_t i) { return std::min(kTile, n - i * kTile); };
    auto cols = [m](std::size_t c) { return std::min(kRhsColumns, m - c * kRhsColumns); };
    auto lt = [l, n](std::size_t i, std::size_t j) { return l + i * kTile * n + j * kTile; };
    auto bt = [b, m](std::size_t i, std::size_t c) { return b + i * kTile * m + c * kRhsColumns; };
    const std::size_t w = c1 - c0;
#pragma omp parallel num_threads(n_threads) if (n_threads > 1 && nr * w > 1)
#pragma omp single
    for (std::size_t c = c0; c < c1; ++c) {
        const std::size_t q = c - c0;
        for (std::size_t k = 0; k < nr; ++k) {
#pragma omp task depend(inout : dep[k * w + q])
            blas::trsm_lower(false, false, rows(k), cols(c), lt(k, k), n, bt(k, c), m);
            for (std::size_t i = k + 1; i < nr; ++i) {
#pragma omp task depend(in : dep[k * w + q]) depend(inout : dep[i * w + q])
                blas::gemm2(false, false, rows(i), cols(c), rows(k), -1.0, lt(i, k), n, bt(k, c),
                            m, 1.0, bt(i, c), m);
            }
        }
        for (std::size_t k = nr; k-- > 0;) {
#pragma omp task depend(inout : dep[k * w + q])
            blas::trsm_lower(false, true, rows(k), cols(c), lt(k, k), n, bt(k, c), m);
            for (std::size_t i = 0; i < k; ++i) {
#pragma omp task depend(in : dep[k * w + q]) depend(inout : dep[i * w + q])
                blas::gemm2(true, false, rows(i), cols(c), rows(k), -1.0, lt(k, i), n, bt(k, c),
                            m, 1.0, bt(i, c), m);
            }
        }
    }
}

}  // namespace

std::size_t cholesky_factor(const double* k, double ridge, double* a, std::size_t n,
                            int n_threads, const BetweenBlocks& between) {
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    blas::checked_int(n);  // every BLAS argument below is at most n: none can throw in a task
    copy_lower(k, ridge, a, n, n_threads);
    const std::size_t nt = count_tiles(n, kTile);
    // Block columns in groups of about kWorkPerCheck multiply-adds (at least one column each),
    // Ctrl-C checked between groups. Groups change no result: the tasks are the same.
    for (std::size_t s0 = 0; s0 < nt;) {
        if (between) between();
        std::size_t s1 = s0;
        double work = 0.0;
        while (s1 < nt && (s1 == s0 || work < kWorkPerCheck)) {
            const double rest = static_cast<double>(n - s1 * kTile);
            work += rest * rest * static_cast<double>(kTile) / 2;
            ++s1;
        }
        if (const std::size_t info = factor_columns(a, n, s0, s1, n_threads); info != 0) return info;
        s0 = s1;
    }
    return 0;
}

void cholesky_solve(const double* l, std::size_t n, double* b, std::size_t m, int n_threads,
                    const BetweenBlocks& between) {
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    if (n == 0 || m == 0) return;
    blas::checked_int(n), blas::checked_int(m);  // the largest BLAS arguments: none throws in a task
    // Rounds of column tiles of B, Ctrl-C checked between them (few right-hand sides, the usual O
    // outputs, make one round of one tile).
    const std::size_t n_cols = count_tiles(m, kRhsColumns);
    const std::size_t per_round = 4 * static_cast<std::size_t>(n_threads);
    for (std::size_t c0 = 0; c0 < n_cols; c0 += per_round) {
        if (between) between();
        solve_columns(l, n, b, m, c0, std::min(n_cols, c0 + per_round), n_threads);
    }
}

}  // namespace ntkfast
