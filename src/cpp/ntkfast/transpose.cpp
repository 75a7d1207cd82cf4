#include "transpose.hpp"

#include <algorithm>

namespace ntkfast {

template <class T>
void transpose(const T* in, std::ptrdiff_t n, std::ptrdiff_t m, T* out, int n_threads) {
    constexpr std::ptrdiff_t B = 64;
    const std::ptrdiff_t row_blocks = (n + B - 1) / B;
    if (n_threads < 1) n_threads = 1;
    (void)n_threads;
    // Parallel over bands of B input rows (B output columns): each thread writes its own columns.
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (std::ptrdiff_t ib = 0; ib < row_blocks; ++ib) {
        const std::ptrdiff_t i0 = ib * B, i1 = std::min(n, i0 + B);
        for (std::ptrdiff_t j0 = 0; j0 < m; j0 += B) {
            const std::ptrdiff_t j1 = std::min(m, j0 + B);
            for (std::ptrdiff_t j = j0; j < j1; ++j) {
                T* o = out + j * n;
                for (std::ptrdiff_t i = i0; i < i1; ++i) o[i] = in[i * m + j];
            }
        }
    }
}

template void transpose<float>(const float*, std::ptrdiff_t, std::ptrdiff_t, float*, int);
template void transpose<double>(const double*, std::ptrdiff_t, std::ptrdiff_t, double*, int);

}  // namespace ntkfast
