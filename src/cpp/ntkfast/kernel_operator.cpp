#include "kernel_operator.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>

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

}  // namespace

template <class T> ThreadTiles<T>::ThreadTiles(int n_threads, std::ptrdiff_t tile_elements) {
    const std::size_t bytes = (std::size_t(tile_elements) * sizeof(T) + kPage - 1) / kPage * kPage;
    stride_ = std::ptrdiff_t(bytes / sizeof(T));
    storage_.resize(std::size_t(n_threads) * std::size_t(stride_) + kPage / sizeof(T));
    const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(storage_.data());
    base_ = storage_.data() + ((kPage - at % kPage) % kPage) / sizeof(T);
}

OrderedTasks::OrderedTasks(std::ptrdiff_t n_tasks, std::ptrdiff_t n_blocks)
    : n_tasks_(n_tasks), done_(new std::atomic<std::ptrdiff_t>[std::size_t(n_blocks)]) {
    for (std::ptrdiff_t b = 0; b < n_blocks; ++b) done_[std::size_t(b)].store(0);
}

template <class Task> bool OrderedTasks::run_for(double seconds, int n_threads, Task&& task) {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point stop =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    (void)n_threads;
#pragma omp parallel num_threads(n_threads)
    {
        const int thread = thread_index();
        // A thread stops taking tasks when the time is up, never inside one: every task handed
        // out is finished before the region ends, and each thread takes one at least (progress
        // even where a slice is shorter than a region's start-up on a busy machine).
        for (bool first = true; first || Clock::now() < stop; first = false) {
            const std::ptrdiff_t t = next_.fetch_add(1, std::memory_order_relaxed);
            if (t >= n_tasks_) break;
            task(t, thread);
        }
    }
    return next_.load() >= n_tasks_;
}

void OrderedTasks::wait_turn(std::ptrdiff_t block, std::ptrdiff_t count) const {
    // Rare and short: the task before this one in the block was handed out long before.
    for (int spins = 0; done_[std::size_t(block)].load(std::memory_order_acquire) != count; ++spins)
        if (spins >= 64) std::this_thread::yield();
}

template <class T>
SymmetricProduct<T>::SymmetricProduct(const InfiniteWidthKernel<T>& kernel, bool ntk, double ridge,
                                      const T* v, std::ptrdiff_t k, T* y, int n_threads)
    : kernel_(kernel), ntk_(ntk), ridge_(T(ridge)), v_(v), k_(k), n_(kernel.rows()),
      block_(std::min(kBlock, kernel.rows())), nb_((n_ + block_ - 1) / block_),
      teams_(nb_ % 2 == 1 ? nb_ : nb_ + 1), y_(y), n_threads_(std::max(n_threads, 1)),
      tiles_(n_threads_, block_ * block_),
      // n rounds of (n + 1)/2 tasks: I = 0 .. r/2 with J = r − I, then I = r + 1 .. (r + n)/2
      // with J = r − I + n, all with I <= J.
      tasks_(teams_ * ((teams_ + 1) / 2), nb_) {
    if (!kernel.tiles_only() || !kernel.symmetric())
        throw std::invalid_argument("a symmetric product needs a symmetric tile kernel");
    if (k < 1) throw std::invalid_argument("need at least one vector");
}

template <class T> bool SymmetricProduct<T>::run_for(double seconds) {
    return tasks_.run_for(seconds, n_threads_,
                          [this](std::ptrdiff_t t, int thread) { run_task(t, tiles_.get(thread)); });
}

template <class T> void SymmetricProduct<T>::run_task(std::ptrdiff_t t, T* tile) {
    const std::ptrdiff_t per_round = (teams_ + 1) / 2, r = t / per_round, q = t % per_round;
    std::ptrdiff_t i_block, j_block;
    if (q <= r / 2) {
        i_block = q;
        j_block = r - q;
    } else {
        i_block = r + 1 + (q - r / 2 - 1);
        j_block = r - i_block + teams_;
    }
    // Round r is the r-th task of each of its blocks: the products of rounds 0 .. r−1 come first.
    if (j_block >= nb_) {  // the phantom: its partner adds nothing this round
        if (i_block >= nb_) return;  // the phantom's own bye
        tasks_.wait_turn(i_block, r);
        tasks_.added(i_block);
        return;
    }
    const std::ptrdiff_t i0 = i_block * block_, i1 = std::min(n_, i0 + block_);
    const std::ptrdiff_t j0 = j_block * block_, j1 = std::min(n_, j0 + block_);
    const std::ptrdiff_t mi = i1 - i0, mj = j1 - j0, ld = block_;
    const std::size_t k = std::size_t(k_);
    kernel_.compute_tile(i0, i1, j0, j1, ntk_, tile, ld);
    if (i_block == j_block) {  // the whole square, mirrored by compute_tile; the ridge on its diagonal
        for (std::ptrdiff_t i = 0; i < mi; ++i) tile[i * ld + i] += ridge_;
        tasks_.wait_turn(i_block, r);
        blas::gemm(false, std::size_t(mi), k, std::size_t(mi), T(1), tile, std::size_t(ld),
                   v_ + i0 * k_, k, T(1), y_ + i0 * k_, k);
        tasks_.added(i_block);
        return;
    }
    tasks_.wait_turn(i_block, r);
    blas::gemm(false, std::size_t(mi), k, std::size_t(mj), T(1), tile, std::size_t(ld),
               v_ + j0 * k_, k, T(1), y_ + i0 * k_, k);
    tasks_.added(i_block);
    tasks_.wait_turn(j_block, r);
    blas::gemm2(true, false, std::size_t(mj), k, std::size_t(mi), T(1), tile, std::size_t(ld),
                v_ + i0 * k_, k, T(1), y_ + j0 * k_, k);
    tasks_.added(j_block);
}

template <class T>
CrossProduct<T>::CrossProduct(const InfiniteWidthKernel<T>& kernel, bool ntk, const T* v,
                              std::ptrdiff_t k, T* y, int n_threads)
    : kernel_(kernel), ntk_(ntk), v_(v), k_(k), n1_(kernel.rows()), n2_(kernel.cols()),
      rows_(std::min(kCrossRows, n1_)), cols_(std::min(kBlock, n2_)),
      row_blocks_((n1_ + rows_ - 1) / rows_), col_tiles_((n2_ + cols_ - 1) / cols_), y_(y),
      n_threads_(std::max(n_threads, 1)), tiles_(n_threads_, rows_ * cols_),
      tasks_(row_blocks_ * col_tiles_, row_blocks_) {
    if (!kernel.tiles_only() || kernel.symmetric())
        throw std::invalid_argument("a cross product needs a cross tile kernel");
    if (k < 1) throw std::invalid_argument("need at least one vector");
}

template <class T> bool CrossProduct<T>::run_for(double seconds) {
    return tasks_.run_for(seconds, n_threads_,
                          [this](std::ptrdiff_t t, int thread) { run_task(t, tiles_.get(thread)); });
}

template <class T> void CrossProduct<T>::run_task(std::ptrdiff_t t, T* tile) {
    const std::ptrdiff_t c = t / row_blocks_, bi = t % row_blocks_;
    const std::ptrdiff_t i0 = bi * rows_, i1 = std::min(n1_, i0 + rows_);
    const std::ptrdiff_t j0 = c * cols_, j1 = std::min(n2_, j0 + cols_);
    const std::size_t k = std::size_t(k_);
    kernel_.compute_tile(i0, i1, j0, j1, ntk_, tile, cols_);
    tasks_.wait_turn(bi, c);  // column tiles 0 .. c−1 of this row block first
    blas::gemm(false, std::size_t(i1 - i0), k, std::size_t(j1 - j0), T(1), tile,
               std::size_t(cols_), v_ + j0 * k_, k, T(1), y_ + i0 * k_, k);
    tasks_.added(bi);
}

template class ThreadTiles<float>;
template class ThreadTiles<double>;
template class SymmetricProduct<float>;
template class SymmetricProduct<double>;
template class CrossProduct<float>;
template class CrossProduct<double>;

}  // namespace ntkfast
