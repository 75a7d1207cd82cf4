// Matrix-free products with an infinite-width kernel (ntk-math.md §2): Y = (K(X, X) + ridge·I) V
// for the symmetric kernel of X and Y = K(X', X) V for a cross kernel, K never stored. Its tiles
// come from InfiniteWidthKernel::compute_tile, the one place where entries are computed, so the
// implied matrix is exactly the Gram of ntkfast.ntk(X) (entries above the diagonal as the Gram
// computes them, mirrored below, the diagonal from the per-point recursion), and each tile is
// multiplied into Y while it is hot in cache. Memory: Y, V and one tile per thread.
//
// Symmetric schedule. X is cut into nb blocks of kBlock points; an off-diagonal tile K_IJ (I < J)
// is used twice, Y_I += K_IJ V_J and Y_J += K_IJᵀ V_I, a diagonal one once. The tasks (pairs
// {I, J}, I = J included) are taken in the rounds of a round-robin tournament among n = nb blocks
// (nb odd) or nb + 1 (nb even, the extra block a phantom that plays no tile): round r, for
// r = 0 .. n−1, holds the pairs with I + J ≡ r (mod n). Every block is in exactly one pair of a
// round (the one with 2I ≡ r plays itself: its diagonal tile), so a round is a parallel loop with
// no two tasks touching the same block of Y, and every block receives its contributions in round
// order, whatever the number of threads: Y is bit-identical for any thread count, without atomics
// or partial results per thread. Rounds hold ~nb/2 tasks each (a split by shift and colour would
// have twice as many phases, most of them short): one barrier per round.
//
// Cross schedule. Rows of X' in blocks of kCrossRows, in parallel; each sums its column tiles in
// ascending order.
//
// Work comes in chunks that run one after another (each a parallel loop), so the binding can
// release the GIL and poll Ctrl-C between them; a chunk never spans two phases (the barrier
// between phases is the end of a chunk).
#pragma once

#include <cstddef>
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

// Y (n, k) += (K(X, X) + ridge·I) V (n, k), both row-major; Y holds zeros to start with.
template <class T> class SymmetricProduct {
  public:
    // Points per block: a 256×256 tile (512 KB in float64) stays in L2 while it is multiplied
    // twice, and its computation costs ~1000× the two products (benchmarks: README).
    static constexpr std::ptrdiff_t kBlock = 256;

    // kernel: made by the tile constructor, symmetric. ntk: Θ, else Σ.
    SymmetricProduct(const InfiniteWidthKernel<T>& kernel, bool ntk, double ridge, const T* v,
                     std::ptrdiff_t k, T* y, int n_threads);
    std::size_t n_chunks() const { return chunks_.size(); }
    // Chunks must run in order, one at a time.
    void run_chunk(std::size_t c);

  private:
    struct Chunk {
        std::ptrdiff_t round, q0, q1;  // tasks q0..q1 of a round
    };
    std::ptrdiff_t tasks_in_round(std::ptrdiff_t r) const;
    // The blocks (I, J), I <= J, of task q of round r; J = nb for the phantom (nothing to do).
    void task(std::ptrdiff_t r, std::ptrdiff_t q, std::ptrdiff_t& bi, std::ptrdiff_t& bj) const;
    void pair(std::ptrdiff_t bi, std::ptrdiff_t bj, T* tile) const;

    const InfiniteWidthKernel<T>& kernel_;
    bool ntk_;
    T ridge_;
    const T* v_;
    std::ptrdiff_t k_, n_, nb_, block_, teams_;  // teams_: nb_ or nb_ + 1, odd
    T* y_;
    int n_threads_;
    ThreadTiles<T> tiles_;
    std::vector<Chunk> chunks_;
};

// Y (n1, k) += K(X', X) V (n2, k), both row-major, for a cross kernel (x1 = X', x2 = X).
template <class T> class CrossProduct {
  public:
    // Rows of X' per block: enough blocks to keep every thread busy for a few hundred test points.
    static constexpr std::ptrdiff_t kCrossRows = 64;
    static constexpr std::ptrdiff_t kBlock = SymmetricProduct<T>::kBlock;

    CrossProduct(const InfiniteWidthKernel<T>& kernel, bool ntk, const T* v, std::ptrdiff_t k,
                 T* y, int n_threads);
    std::size_t n_chunks() const { return chunks_.size() - 1; }
    // Chunks must run in order, one at a time.
    void run_chunk(std::size_t c);

  private:
    const InfiniteWidthKernel<T>& kernel_;
    bool ntk_;
    const T* v_;
    std::ptrdiff_t k_, n1_, n2_, row_blocks_, col_tiles_, rows_, cols_;
    T* y_;
    int n_threads_;
    ThreadTiles<T> tiles_;
    std::vector<std::ptrdiff_t> chunks_;  // first column tile of each chunk, then col_tiles_
};

extern template class SymmetricProduct<float>;
extern template class SymmetricProduct<double>;
extern template class CrossProduct<float>;
extern template class CrossProduct<double>;

}  // namespace ntkfast
