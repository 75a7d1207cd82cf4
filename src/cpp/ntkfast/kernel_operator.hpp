// Matrix-free products with an infinite-width kernel (ntk-math.md §2): Y = (K(X, X) + ridge·I) V
// for the symmetric kernel of X and Y = K(X', X) V for a cross kernel, K never stored. Its tiles
// come from InfiniteWidthKernel::compute_tile, the one place where entries are computed, so the
// implied matrix is exactly the Gram of ntkfast.ntk(X) (entries above the diagonal as the Gram
// computes them, mirrored below, the diagonal from the per-point recursion), and each tile is
// multiplied into Y while it is hot in cache. Memory: Y, V, one tile per thread and a counter per
// block of Y.
//
// Determinism without partial results. The work is a sequence of tasks, each one tile and its
// products into one or two blocks of Y. Tasks are handed out in sequence order (one atomic
// counter); a thread computes its tile at once, in parallel with the others, but adds a product
// into a block of Y only when every earlier task's product into that block has been added (a
// counter per block). So every block of Y receives its contributions in sequence order whatever
// the number of threads: Y is bit-identical for any thread count. A task only ever waits for
// earlier tasks, which were handed out before it and are running or done, so the earliest
// unfinished task never waits: no deadlock. The sequences below put a block's consecutive tasks
// far apart, so waits are rare; there is no barrier between them (a barrier per phase of
// independent tasks cost 40% on a machine shared with other processes: one descheduled thread
// held up all the others).
//
// Symmetric sequence. X is cut into nb blocks of kBlock points; an off-diagonal tile K_IJ (I < J)
// is used twice, Y_I += K_IJ V_J and Y_J += K_IJᵀ V_I, a diagonal one once. The tasks are the
// rounds of a round-robin tournament among n = nb blocks (nb odd) or nb + 1 (nb even, the extra
// one a phantom that plays no tile): round r = 0 .. n−1 pairs I with J = (r − I) mod n, and the
// block with 2I ≡ r plays itself (its diagonal tile). Every block is in exactly one task of each
// round, so its consecutive tasks lie about a round, (n + 1)/2 tasks, apart.
//
// Cross sequence. Rows of X' in blocks of kCrossRows, columns of X in tiles of kBlock; the tasks
// go by column tile, every row block within it: a row block sums its column tiles in ascending
// order, its consecutive tasks one column of tasks apart (a single row block still computes its
// tiles in parallel, only their products wait their turn).
//
// The work runs in slices of about a tenth of a second (run_for), so the binding can release the
// GIL and poll Ctrl-C between them; where a slice ends changes nothing in the result.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "infinite_width.hpp"

namespace ntkfast {

// One tile buffer per thread, all at the same alignment: a single-threaded BLAS call then sees
// the same operands (V, Y and a tile at the same offset modulo a page) whichever thread makes it.
template <class T> class ThreadTiles {
  public:
    ThreadTiles(int n_threads, std::ptrdiff_t tile_elements);
    T* get(int thread) { return base_ + std::ptrdiff_t(thread) * stride_; }

  private:
    std::vector<T> storage_;
    T* base_ = nullptr;
    std::ptrdiff_t stride_ = 0;
};

// Tasks handed out in sequence order, and the per-block counters that let their products into
// Y in that order.
class OrderedTasks {
  public:
    OrderedTasks(std::ptrdiff_t n_tasks, std::ptrdiff_t n_blocks);
    // Runs task(t, thread) for the next tasks on n_threads threads until all are done or
    // `seconds` have passed (each thread still takes at least one task); returns whether all
    // are done. (Defined in kernel_operator.cpp, its only user.)
    template <class Task> bool run_for(double seconds, int n_threads, Task&& task);
    // Blocks until `count` products have been added to `block`, then the caller adds the next.
    void wait_turn(std::ptrdiff_t block, std::ptrdiff_t count) const;
    void added(std::ptrdiff_t block) {
        done_[std::size_t(block)].fetch_add(1, std::memory_order_release);
    }

  private:
    std::ptrdiff_t n_tasks_;
    std::atomic<std::ptrdiff_t> next_{0};
    std::unique_ptr<std::atomic<std::ptrdiff_t>[]> done_;  // products added, per block of Y
};

// Y (n, k) += (K(X, X) + ridge·I) V (n, k), both row-major; Y holds zeros to start with.
template <class T> class SymmetricProduct {
  public:
    // Points per block: a 256×256 tile (512 KB in float64) stays in L2 while it is multiplied
    // twice; the two products cost ~5% of its computation (relu, depth 3).
    static constexpr std::ptrdiff_t kBlock = 256;

    // kernel: made by the tile constructor, symmetric. ntk: Θ, else Σ.
    SymmetricProduct(const InfiniteWidthKernel<T>& kernel, bool ntk, double ridge, const T* v,
                     std::ptrdiff_t k, T* y, int n_threads);
    // Works for about `seconds`; returns whether the product is complete.
    bool run_for(double seconds);

  private:
    void run_task(std::ptrdiff_t t, T* tile);

    const InfiniteWidthKernel<T>& kernel_;
    bool ntk_;
    T ridge_;
    const T* v_;
    std::ptrdiff_t k_, n_, block_, nb_, teams_;  // teams_: nb_ or nb_ + 1, odd
    T* y_;
    int n_threads_;
    ThreadTiles<T> tiles_;
    OrderedTasks tasks_;
};

// Y (n1, k) += K(X', X) V (n2, k), both row-major, for a cross kernel (x1 = X', x2 = X).
template <class T> class CrossProduct {
  public:
    // Rows of X' per block: tiles of 64 × 256 keep a few hundred test points in many tasks.
    static constexpr std::ptrdiff_t kCrossRows = 64;
    static constexpr std::ptrdiff_t kBlock = SymmetricProduct<T>::kBlock;

    CrossProduct(const InfiniteWidthKernel<T>& kernel, bool ntk, const T* v, std::ptrdiff_t k,
                 T* y, int n_threads);
    // Works for about `seconds`; returns whether the product is complete.
    bool run_for(double seconds);

  private:
    void run_task(std::ptrdiff_t t, T* tile);

    const InfiniteWidthKernel<T>& kernel_;
    bool ntk_;
    const T* v_;
    std::ptrdiff_t k_, n1_, n2_, rows_, cols_, row_blocks_, col_tiles_;
    T* y_;
    int n_threads_;
    ThreadTiles<T> tiles_;
    OrderedTasks tasks_;
};

extern template class SymmetricProduct<float>;
extern template class SymmetricProduct<double>;
extern template class CrossProduct<float>;
extern template class CrossProduct<double>;

}  // namespace ntkfast
