// out = inᵀ for a dense row-major block: the block below the diagonal of a Gram built from the one
// above it (python/ntkfast/_dask_gram.py). numpy's copy of a transposed view walks one side with a
// stride of a whole row, so every element of a 4096² float32 block misses the cache (~0.25 s, more
// than computing the block on one thread); in 64×64 sub-blocks both sides stay in L1.
#pragma once

#include <cstddef>

namespace ntkfast {

// in (n, m) and out (m, n), both row-major and not overlapping.
template <class T>
void transpose(const T* in, std::ptrdiff_t n, std::ptrdiff_t m, T* out, int n_threads);

}  // namespace ntkfast
