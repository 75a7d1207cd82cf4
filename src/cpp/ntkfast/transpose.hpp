// out = inᵀ for dense row-major blocks: the block below the diagonal of a Gram built from the one
// above it (python/ntkfast/_dask_gram.py) and the mirrored lower triangle of a symmetric Gram
// (infinite_width.cpp). A plain loop walks one side with the stride of a whole row, so every
// element misses the cache and the TLB; here 16×16 blocks keep both sides in L1 and its TLB, and
// with AVX each 8×8 (float) or 4×4 (double) tile is transposed in registers. Pure data movement:
// the bits are the same on every path.
#pragma once

#include <cstddef>

namespace ntkfast {

// out[j * out_stride + i] = in[i * in_stride + j] for i < n, j < m, on the calling thread; the two
// regions do not overlap.
template <class T>
void transpose_strided(const T* in, std::ptrdiff_t n, std::ptrdiff_t m, std::ptrdiff_t in_stride,
                       T* out, std::ptrdiff_t out_stride);

// in (n, m) and out (m, n), both contiguous row-major and not overlapping.
template <class T>
void transpose(const T* in, std::ptrdiff_t n, std::ptrdiff_t m, T* out, int n_threads);

}  // namespace ntkfast
