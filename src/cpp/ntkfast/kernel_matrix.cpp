#include "kernel_matrix.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "tiled_gemm.hpp"

namespace ntkfast {

namespace {

// Rows of K per parallel tile. Fixed (never derived from the thread count) so results are
// thread-count invariant; large enough that a BLAS call's overhead and re-reading the thin N×O
// right factor per tile are small next to the tile's own bytes, small enough to balance two to a
// few dozen threads (N=4000 gives 32 tiles).
constexpr std::size_t kTileRows = 128;

// acc (R×4G) = (R rows of K from row r0) · D, with D padded to 4·G columns (dp, row-major).
// Per j, the padded row j of D is loaded once into G vector registers and each k_ij (broadcast)
// is multiplied into it: R·G fused multiply-adds for R + G loads, so the loop is bound by the FMA
// units, not by loads, and K is streamed exactly once. Every entry is a plain sum over j in
// increasing order: independent of tiling and thread count. Not inlined: the R·G accumulators,
// G lanes of D and the broadcast take all 16 AVX registers, and the caller's live values
// (alpha, beta) would push accumulators to the stack.
#if defined(__GNUC__)
typedef double Lanes4 __attribute__((vector_size(32)));
typedef double Lanes4Unaligned __attribute__((vector_size(32), aligned(8), __may_alias__));

// Keeps a value in a vector register. Without it GCC re-loads the D lanes from memory for every
// row (folding the load into the FMA), which makes the loop load bound: 1.5x slower measured.
// Only with AVX: without it (a portable build) a 32-byte vector fits no single register and the
// "x" constraint cannot be met.
inline void pin_in_register(Lanes4& v) {
#if defined(__AVX__)
    __asm__("" : "+x"(v));
#else
    (void)v;
#endif
}

template <int G, int R>
__attribute__((noinline)) void thin_rows(const double* kr, std::size_t n, const double* dp,
                                         double* acc_out) {
    Lanes4 acc[R][G];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) acc[r][g] = Lanes4{0.0, 0.0, 0.0, 0.0};
    for (std::size_t j = 0; j < n; ++j) {
        Lanes4 dj[G];
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
            dj[g] = *reinterpret_cast<const Lanes4Unaligned*>(dp + (j * G + static_cast<std::size_t>(g)) * 4);
            pin_in_register(dj[g]);
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const double kv = kr[static_cast<std::size_t>(r) * n + j];
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) acc[r][g] += kv * dj[g];
        }
    }
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < G; ++g)
            for (int l = 0; l < 4; ++l) acc_out[(r * G + g) * 4 + l] = acc[r][g][l];
}
#else
template <int G, int R>
void thin_rows(const double* kr, std::size_t n, const double* dp, double* acc_out) {
    constexpr int W = 4 * G;
    double acc[R][W] = {};
    for (std::size_t j = 0; j < n; ++j)
        for (int r = 0; r < R; ++r) {
            const double kv = kr[static_cast<std::size_t>(r) * n + j];
            for (int c = 0; c < W; ++c) acc[r][c] += kv * dp[j * W + c];
        }
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < W; ++c) acc_out[r * W + c] = acc[r][c];
}
#endif

// out (rows×n_out) = alpha · k · d + beta · out for n_out <= 4·G, by fixed row tiles.
template <int G>
void thin_product(std::size_t rows, std::size_t n, std::size_t n_out, double alpha,
                  const double* k, const double* d, double beta, double* out, int n_threads) {
    constexpr std::size_t W = 4 * G;
    // Rows per pass: R·G accumulators + G lanes of D + one broadcast fit in 16 AVX registers.
    constexpr int R = G == 1 ? 12 : G == 2 ? 6 : G == 3 ? 4 : 2;
    std::vector<double> dp(n * W, 0.0);
    for (std::size_t j = 0; j < n; ++j)
        for (std::size_t c = 0; c < n_out; ++c) dp[j * W + c] = d[j * n_out + c];
    // A whole number of R-row passes per tile: single-row passes (a latency-bound chain of
    // FMAs) only at the end of the matrix.
    constexpr std::size_t tile_rows = kTileRows / R * R;
    const std::ptrdiff_t n_tiles = static_cast<std::ptrdiff_t>((rows + tile_rows - 1) / tile_rows);
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1 && n_tiles > 1)
    for (std::ptrdiff_t t = 0; t < n_tiles; ++t) {
        const std::size_t begin = static_cast<std::size_t>(t) * tile_rows;
        const std::size_t end = std::min(rows, begin + tile_rows);
        double acc[R * W];
        for (std::size_t r = begin; r < end;) {
            const std::size_t rr = r + R <= end ? R : 1;
            if (rr == R) thin_rows<G, R>(k + r * n, n, dp.data(), acc);
            else thin_rows<G, 1>(k + r * n, n, dp.data(), acc);
            for (std::size_t q = 0; q < rr; ++q) {
                double* o = out + (r + q) * n_out;
                for (std::size_t c = 0; c < n_out; ++c)
                    o[c] = beta == 0.0 ? alpha * acc[q * W + c] : alpha * acc[q * W + c] + beta * o[c];
            }
            r += rr;
        }
    }
}

}  // namespace

// A product with few columns (O <= 16 outputs) does 2·O flops per 8-byte entry of K: memory
// bound, and BLAS's packing of K (a copy of the whole matrix per call) would triple the traffic.
// The streaming kernel above reads K once. Wider products are compute bound: BLAS, by row tiles.
void kernel_product(std::size_t rows, std::size_t n, std::size_t n_out, double alpha,
                    const double* k, const double* d, double beta, double* out, int n_threads) {
    switch ((n_out + 3) / 4) {
        case 1: return thin_product<1>(rows, n, n_out, alpha, k, d, beta, out, n_threads);
        case 2: return thin_product<2>(rows, n, n_out, alpha, k, d, beta, out, n_threads);
        case 3: return thin_product<3>(rows, n, n_out, alpha, k, d, beta, out, n_threads);
        case 4: return thin_product<4>(rows, n, n_out, alpha, k, d, beta, out, n_threads);
        default:
            gemm_row_tiles<double>(false, false, rows, n_out, n, alpha, k, n, d, n_out, beta, out,
                                   n_out, kTileRows, n_threads);
    }
}

KernelStats kernel_stats(const double* k, std::size_t rows, std::size_t cols, bool symmetric,
                         int n_threads) {
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    if (symmetric && rows != cols) throw std::invalid_argument("a symmetric check needs a square matrix");
    constexpr std::size_t kBlock = 64;
    const std::size_t n_blocks = (rows + kBlock - 1) / kBlock;
    std::vector<KernelStats> per_block(n_blocks);
    const std::ptrdiff_t nb = static_cast<std::ptrdiff_t>(n_blocks);
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1 && nb > 1)
    for (std::ptrdiff_t b = 0; b < nb; ++b) {
        KernelStats s;
        const std::size_t i0 = static_cast<std::size_t>(b) * kBlock, i1 = std::min(rows, i0 + kBlock);
        for (std::size_t i = i0; i < i1; ++i) {
            const double* row = k + i * cols;
            double sum = 0.0, mx = 0.0;
            bool finite = true;
            for (std::size_t j = 0; j < cols; ++j) {
                const double a = std::abs(row[j]);
                finite = finite && a <= std::numeric_limits<double>::max();  // false for inf, NaN
                sum += a;
                mx = std::max(mx, a);
            }
            s.finite = s.finite && finite;
            s.max_abs = std::max(s.max_abs, mx);
            s.max_row_abs_sum = std::max(s.max_row_abs_sum, sum);
        }
        // Asymmetry: this block of rows against the blocks at and right of the diagonal, each
        // compared with its mirror block (read down a few cached columns).
        if (symmetric) {
            for (std::size_t j0 = i0; j0 < cols; j0 += kBlock) {
                const std::size_t j1 = std::min(cols, j0 + kBlock);
                for (std::size_t i = i0; i < i1; ++i)
                    for (std::size_t j = std::max(j0, i + 1); j < j1; ++j)
                        s.max_asymmetry = std::max(s.max_asymmetry, std::abs(k[i * cols + j] - k[j * cols + i]));
            }
        }
        per_block[static_cast<std::size_t>(b)] = s;
    }
    KernelStats total;
    for (const KernelStats& s : per_block) {
        total.finite = total.finite && s.finite;
        total.max_abs = std::max(total.max_abs, s.max_abs);
        total.max_row_abs_sum = std::max(total.max_row_abs_sum, s.max_row_abs_sum);
        total.max_asymmetry = std::max(total.max_asymmetry, s.max_asymmetry);
    }
    return total;
}

double read_bandwidth(std::size_t n_bytes, int n_threads, int repeats) {
    if (n_threads < 1 || repeats < 1) throw std::invalid_argument("n_threads and repeats must be >= 1");
    const std::size_t n = std::max<std::size_t>(n_bytes / sizeof(std::uint64_t), 1);
    const std::ptrdiff_t sn = static_cast<std::ptrdiff_t>(n);
    // Integers: their sum is associative, so the compiler vectorises it without fast-math and the
    // loop runs at memory speed. Touched first by the same static schedule that reads it.
    std::vector<std::uint64_t> buf(n);
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (std::ptrdiff_t i = 0; i < sn; ++i) buf[static_cast<std::size_t>(i)] = static_cast<std::uint64_t>(i);
    double best = std::numeric_limits<double>::infinity();
    std::uint64_t sink = 0;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        std::uint64_t s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s) num_threads(n_threads)
        for (std::ptrdiff_t i = 0; i < sn; ++i) s += buf[static_cast<std::size_t>(i)];
        const auto t1 = std::chrono::steady_clock::now();
        sink ^= s;
        best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
    }
    volatile std::uint64_t keep = sink;  // the sums must not be optimised away
    (void)keep;
    return static_cast<double>(n * sizeof(std::uint64_t)) / best;
}

}  // namespace ntkfast
