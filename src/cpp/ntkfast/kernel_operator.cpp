#include "kernel_operator.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "blas.hpp"

namespace ntkfast {

namespace {

constexpr std::size_t kPage = 4096;

int thread_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Tiles (ragged last blocks included) per chunk and thread: enough that the wait at a chunk's end
// (on average half a tile per thread) costs a few per cent, few enough that Ctrl-C is seen
// within a fraction of a second.
constexpr std::ptrdiff_t kTilesPerChunkThread = 32;

}  // namespace

template <class T> ThreadTiles<T>::ThreadTiles(int n_threads, std::ptrdiff_t tile_elements) {
    const std::size_t bytes = (std::size_t(tile_elements) * sizeof(T) + kPage - 1) / kPage * kPage;
    stride_ = std::ptrdiff_t(bytes / sizeof(T));
    storage_.resize(std::size_t(n_threads) * std::size_t(stride_) + kPage / sizeof(T));
    const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(storage_.data());
    base_ = storage_.data() + ((kPage - at % kPage) % kPage) / sizeof(T);
}

template <class T>
SymmetricProduct<T>::SymmetricProduct(const InfiniteWidthKernel<T>& kernel, bool ntk, double ridge,
                                      const T* v, std::ptrdiff_t k, T* y, int n_threads)
    : kernel_(kernel), ntk_(ntk), ridge_(T(ridge)), v_(v), k_(k), n_(kernel.rows()), y_(y),
      n_threads_(std::max(n_threads, 1)),
      tiles_(n_threads_, std::min(kBlock, kernel.rows()) * std::min(kBlock, kernel.rows())) {
    if (!kernel.tiles_only() || !kernel.symmetric())
        throw std::invalid_argument("a symmetric product needs a symmetric tile kernel");
    if (k < 1) throw std::invalid_argument("need at least one vector");
    block_ = std::min(kBlock, n_);
    nb_ = (n_ + block_ - 1) / block_;
    teams_ = nb_ % 2 == 1 ? nb_ : nb_ + 1;
    const std::ptrdiff_t per_chunk = kTilesPerChunkThread * n_threads_;
    for (std::ptrdiff_t r = 0; r < teams_; ++r) {
        const std::ptrdiff_t count = tasks_in_round(r);
        for (std::ptrdiff_t q0 = 0; q0 < count; q0 += per_chunk)
            chunks_.push_back({r, q0, std::min(count, q0 + per_chunk)});
    }
}

// Round r pairs I with J = (r − I) mod n; I <= J holds for I in [0, r/2] (J = r − I) and for I in
// [r + 1, (r + n)/2] (J = r − I + n).
template <class T> std::ptrdiff_t SymmetricProduct<T>::tasks_in_round(std::ptrdiff_t r) const {
    return r / 2 + 1 + (r + teams_) / 2 - r;
}

template <class T>
void SymmetricProduct<T>::task(std::ptrdiff_t r, std::ptrdiff_t q, std::ptrdiff_t& bi,
                               std::ptrdiff_t& bj) const {
    if (q <= r / 2) {
        bi = q;
        bj = r - q;
    } else {
        bi = r + 1 + (q - r / 2 - 1);
        bj = r - bi + teams_;
    }
}

template <class T> void SymmetricProduct<T>::pair(std::ptrdiff_t bi, std::ptrdiff_t bj, T* tile) const {
    const std::ptrdiff_t i0 = bi * block_, i1 = std::min(n_, i0 + block_);
    const std::ptrdiff_t j0 = bj * block_, j1 = std::min(n_, j0 + block_);
    const std::ptrdiff_t mi = i1 - i0, mj = j1 - j0, ld = block_;
    kernel_.compute_tile(i0, i1, j0, j1, ntk_, tile, ld);
    const std::size_t k = std::size_t(k_);
    if (bi == bj) {  // the whole square, mirrored by compute_tile; the ridge on its diagonal
        for (std::ptrdiff_t i = 0; i < mi; ++i) tile[i * ld + i] += ridge_;
        blas::gemm(false, std::size_t(mi), k, std::size_t(mi), T(1), tile, std::size_t(ld),
                   v_ + i0 * k_, k, T(1), y_ + i0 * k_, k);
        return;
    }
    blas::gemm(false, std::size_t(mi), k, std::size_t(mj), T(1), tile, std::size_t(ld),
               v_ + j0 * k_, k, T(1), y_ + i0 * k_, k);
    blas::gemm2(true, false, std::size_t(mj), k, std::size_t(mi), T(1), tile, std::size_t(ld),
                v_ + i0 * k_, k, T(1), y_ + j0 * k_, k);
}

template <class T> void SymmetricProduct<T>::run_chunk(std::size_t c) {
    const Chunk ch = chunks_[c];
#pragma omp parallel for num_threads(n_threads_) schedule(dynamic, 1)
    for (std::ptrdiff_t q = ch.q0; q < ch.q1; ++q) {
        std::ptrdiff_t bi, bj;
        task(ch.round, q, bi, bj);
        if (bj < nb_) pair(bi, bj, tiles_.get(thread_index()));
    }
}

template <class T>
CrossProduct<T>::CrossProduct(const InfiniteWidthKernel<T>& kernel, bool ntk, const T* v,
                              std::ptrdiff_t k, T* y, int n_threads)
    : kernel_(kernel), ntk_(ntk), v_(v), k_(k), n1_(kernel.rows()), n2_(kernel.cols()), y_(y),
      n_threads_(std::max(n_threads, 1)),
      tiles_(n_threads_, std::min(kCrossRows, kernel.rows()) * std::min(kBlock, kernel.cols())) {
    if (!kernel.tiles_only() || kernel.symmetric())
        throw std::invalid_argument("a cross product needs a cross tile kernel");
    if (k < 1) throw std::invalid_argument("need at least one vector");
    rows_ = std::min(kCrossRows, n1_);
    cols_ = std::min(kBlock, n2_);
    row_blocks_ = (n1_ + rows_ - 1) / rows_;
    col_tiles_ = (n2_ + cols_ - 1) / cols_;
    // A chunk is a range of column tiles for every row block (each block still sums its tiles
    // in ascending order across chunks).
    const std::ptrdiff_t per_chunk =
        std::max<std::ptrdiff_t>(1, kTilesPerChunkThread * n_threads_ / row_blocks_);
    for (std::ptrdiff_t t = 0; t < col_tiles_; t += per_chunk) chunks_.push_back(t);
    chunks_.push_back(col_tiles_);
    chunks_.shrink_to_fit();
}

template <class T> void CrossProduct<T>::run_chunk(std::size_t c) {
    const std::ptrdiff_t t0 = chunks_[c], t1 = chunks_[c + 1];
    const std::size_t k = std::size_t(k_);
#pragma omp parallel for num_threads(n_threads_) schedule(dynamic, 1)
    for (std::ptrdiff_t bi = 0; bi < row_blocks_; ++bi) {
        T* tile = tiles_.get(thread_index());
        const std::ptrdiff_t i0 = bi * rows_, i1 = std::min(n1_, i0 + rows_);
        for (std::ptrdiff_t t = t0; t < t1; ++t) {
            const std::ptrdiff_t j0 = t * cols_, j1 = std::min(n2_, j0 + cols_);
            kernel_.compute_tile(i0, i1, j0, j1, ntk_, tile, cols_);
            blas::gemm(false, std::size_t(i1 - i0), k, std::size_t(j1 - j0), T(1), tile,
                       std::size_t(cols_), v_ + j0 * k_, k, T(1), y_ + i0 * k_, k);
        }
    }
}

template class ThreadTiles<float>;
template class ThreadTiles<double>;
template class SymmetricProduct<float>;
template class SymmetricProduct<double>;
template class CrossProduct<float>;
template class CrossProduct<double>;

}  // namespace ntkfast
