#include "transpose.hpp"

#include <algorithm>
#include <cstdint>

#ifdef __AVX__
#include <immintrin.h>
#endif

namespace ntkfast {

namespace {

using Index = std::ptrdiff_t;

// The element loop: for the ragged edges and the alignment peel, and everything in builds without
// AVX (NTKFAST_NATIVE=OFF, or a CPU without it).
template <class T>
void transpose_elements(const T* in, Index rows, Index cols, Index ls, T* out, Index lo) {
    for (Index j = 0; j < cols; ++j) {
        T* o = out + j * lo;
        for (Index i = 0; i < rows; ++i) o[i] = in[i * ls + j];
    }
}

#ifdef __AVX__
// One AVX register's width of rows and columns: 8 floats, 4 doubles.
template <class T>
constexpr Index kTile = Index(32 / sizeof(T));

inline void transpose_tile(const float* in, Index ls, float* out, Index lo) {
    const __m256 r0 = _mm256_loadu_ps(in), r1 = _mm256_loadu_ps(in + ls),
                 r2 = _mm256_loadu_ps(in + 2 * ls), r3 = _mm256_loadu_ps(in + 3 * ls),
                 r4 = _mm256_loadu_ps(in + 4 * ls), r5 = _mm256_loadu_ps(in + 5 * ls),
                 r6 = _mm256_loadu_ps(in + 6 * ls), r7 = _mm256_loadu_ps(in + 7 * ls);
    // Interleave pairs of rows, then pairs of pairs, then swap the 128-bit halves.
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
                 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(out, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(out + lo, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(out + 2 * lo, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(out + 3 * lo, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(out + 4 * lo, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(out + 5 * lo, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(out + 6 * lo, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(out + 7 * lo, _mm256_permute2f128_ps(s3, s7, 0x31));
}

inline void transpose_tile(const double* in, Index ls, double* out, Index lo) {
    const __m256d r0 = _mm256_loadu_pd(in), r1 = _mm256_loadu_pd(in + ls),
                  r2 = _mm256_loadu_pd(in + 2 * ls), r3 = _mm256_loadu_pd(in + 3 * ls);
    const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1),
                  t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    _mm256_storeu_pd(out, _mm256_permute2f128_pd(t0, t2, 0x20));
    _mm256_storeu_pd(out + lo, _mm256_permute2f128_pd(t1, t3, 0x20));
    _mm256_storeu_pd(out + 2 * lo, _mm256_permute2f128_pd(t0, t2, 0x31));
    _mm256_storeu_pd(out + 3 * lo, _mm256_permute2f128_pd(t1, t3, 0x31));
}
#endif

// One block (at most kBlock²): register tiles where whole, elements on the ragged edges.
template <class T>
void transpose_block(const T* in, Index rows, Index cols, Index ls, T* out, Index lo) {
#ifdef __AVX__
    constexpr Index S = kTile<T>;
    const Index whole_rows = rows - rows % S, whole_cols = cols - cols % S;
    for (Index i = 0; i < whole_rows; i += S)
        for (Index j = 0; j < whole_cols; j += S) transpose_tile(in + i * ls + j, ls, out + j * lo + i, lo);
    transpose_elements(in + whole_cols, whole_rows, cols - whole_cols, ls, out + whole_cols * lo, lo);
    transpose_elements(in + whole_rows * ls, rows - whole_rows, cols, ls, out + whole_rows, lo);
#else
    transpose_elements(in, rows, cols, ls, out, lo);
#endif
}

// 16 rows and columns: a block's rows on both sides span 32 pages, within the L1 TLB (64 entries);
// 64×64 blocks were 1.5x slower on a 3125² float32 block (4 kB pages), 128×128 slower still.
constexpr Index kBlock = 16;

// Elements up to the first 32-byte boundary after p (at most count): peeling them first aligns the
// register tiles' loads and stores whenever the strides are whole multiples of 32 bytes (a Gram of
// 20 000 rows, which numpy places 16 bytes past a page: misaligned, its mirror took 3x longer).
template <class T>
Index elements_to_alignment(const T* p, Index count) {
    const auto misaligned = Index(reinterpret_cast<std::uintptr_t>(p) % 32);
    if (misaligned % Index(sizeof(T)) != 0) return 0;
    return std::min(count, (32 - misaligned) % 32 / Index(sizeof(T)));
}

template <class T>
void transpose_blocks(const T* in, Index n, Index m, Index in_stride, T* out, Index out_stride) {
    for (Index i0 = 0; i0 < n; i0 += kBlock)
        for (Index j0 = 0; j0 < m; j0 += kBlock)
            transpose_block(in + i0 * in_stride + j0, std::min(kBlock, n - i0), std::min(kBlock, m - j0),
                            in_stride, out + j0 * out_stride + i0, out_stride);
}

// Transposes the first rows of in up to out's next 32-byte boundary, and the first columns up to
// in's, and returns how many of each it took; what is left starts aligned on both sides.
struct Peeled {
    Index rows, cols;
};

template <class T>
Peeled transpose_peel(const T* in, Index n, Index m, Index in_stride, T* out, Index out_stride) {
    const Index pi = elements_to_alignment(out, n), pj = elements_to_alignment(in, m);
    transpose_elements(in, pi, m, in_stride, out, out_stride);
    transpose_elements(in + pi * in_stride, n - pi, pj, in_stride, out + pi, out_stride);
    return {pi, pj};
}

}  // namespace

template <class T>
void transpose_strided(const T* in, Index n, Index m, Index in_stride, T* out, Index out_stride) {
    const auto [pi, pj] = transpose_peel(in, n, m, in_stride, out, out_stride);
    if (pi == n || pj == m) return;  // all peeled (and the pointers below would run past the end)
    transpose_blocks(in + pi * in_stride + pj, n - pi, m - pj, in_stride, out + pj * out_stride + pi,
                     out_stride);
}

template <class T>
void transpose(const T* in, Index n, Index m, T* out, int n_threads) {
    // The peel once, on this thread: peeling each band would leave most of a 16-row band to it.
    const Peeled peeled = transpose_peel(in, n, m, m, out, n);
    const Index pi = peeled.rows, pj = peeled.cols;  // plain locals: used in the OpenMP region
    if (pi == n || pj == m) return;  // all peeled (and the pointers below would run past the end)
    in += pi * m + pj;
    out += pj * n + pi;
    const Index rows = n - pi, bands = (rows + kBlock - 1) / kBlock;
    if (n_threads < 1) n_threads = 1;
    (void)n_threads;
    // Parallel over bands of input rows (output columns): each thread writes its own columns.
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (Index b = 0; b < bands; ++b) {
        const Index i0 = b * kBlock;
        transpose_blocks(in + i0 * m, std::min(kBlock, rows - i0), m - pj, m, out + i0, n);
    }
}

template void transpose_strided<float>(const float*, Index, Index, Index, float*, Index);
template void transpose_strided<double>(const double*, Index, Index, Index, double*, Index);
template void transpose<float>(const float*, Index, Index, float*, int);
template void transpose<double>(const double*, Index, Index, double*, int);

}  // namespace ntkfast
