// Every dot product between the rows of two matrices, c_ij = Σ_k a_ik b_jk, with each entry's
// value a function of its own two rows only: the products of the empirical NTK (ntk-math.md §3:
// a·a' and δ·δ' of the Gram, and the forward and backward passes that make a and δ).
//
// Why not BLAS: OpenBLAS computes the entries at a block's edges with other micro-kernels (other
// instructions, other orders) than the interior ones, so an entry's last bits depended on where
// its two points sat in the call, and a block of a Gram computed from row slices differed from
// the same block of the one-call Gram. Here every entry is one chain of multiply-adds over k in
// increasing order, started from zero, in one vector lane of the same register-blocked kernel:
// rows and columns are padded to whole register blocks (no scalar remainder), chunking over k
// only stores and reloads the running sum (exact), and GCC's -ffp-contract=fast contracts the one
// expression the same way everywhere. An entry is therefore the same whatever the block shape,
// the tiling, the thread count or the position of its rows; it is even bitwise symmetric
// (fma(a, b, c) = fma(b, a, c)).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "lane_ops.hpp"

namespace ntkfast {
namespace dots {

// Register blocks: kRows rows of A times kVecs vectors of B's columns, kRows·kVecs accumulators.
// With AVX-512's 32 registers 8 × 3 (24 accumulators, 3 column vectors, 1 broadcast); with 16
// registers 6 × 2, the classic shape that keeps two FMAs per cycle busy.
#if defined(__AVX512F__)
constexpr std::size_t kRows = 8, kVecs = 3;
#else
constexpr std::size_t kRows = 6, kVecs = 2;
#endif

// Columns per register block (a "panel" of B).
template <class T> constexpr std::size_t kCols = kVecs * lanes::W<T>;

inline std::size_t blocks(std::size_t n, std::size_t size) { return (n + size - 1) / size; }

// m × n entries stored by register block: block (p, q) holds rows [p·kRows, (p+1)·kRows) ×
// columns [q·kCols, (q+1)·kCols) as kRows rows of kCols values; blocks row-major. Entries
// beyond m × n are padding, and the size is a whole number of vectors.
template <class T>
struct Layout {
    std::size_t m = 0, n = 0, row_blocks = 0, panels = 0;

    Layout() = default;
    Layout(std::size_t rows, std::size_t cols)
        : m(rows), n(cols), row_blocks(blocks(rows, kRows)), panels(blocks(cols, kCols<T>)) {}
    std::size_t size() const { return row_blocks * panels * kRows * kCols<T>; }
    // index(i, j) = row_offset(i) + column_offset(j): tables of both make gathers cheap.
    std::size_t row_offset(std::size_t i) const {
        return (i / kRows) * panels * (kRows * kCols<T>) + (i % kRows) * kCols<T>;
    }
    std::size_t column_offset(std::size_t j) const {
        return (j / kCols<T>) * (kRows * kCols<T>) + j % kCols<T>;
    }
    std::size_t index(std::size_t i, std::size_t j) const { return row_offset(i) + column_offset(j); }
};

// B in panels of kCols columns: panel q holds columns [q·kCols, (q+1)·kCols) for features
// [k0, k0 + depth) as depth rows of kCols values; columns beyond n are zeros.
template <class T>
struct Panels {
    std::vector<T> data;
    std::size_t n = 0, depth = 0, count = 0;

    // B(j, k) = b[j·ldb + k] when b_rows (B's rows are the points), else b[k·ldb + j].
    void pack(const T* b, std::size_t ldb, bool b_rows, std::size_t n_cols, std::size_t k0,
              std::size_t depth);
    const T* panel(std::size_t q) const { return data.data() + q * depth * kCols<T>; }
};

// The dots in a Layout. One object per thread: it keeps its buffers between calls.
template <class T>
class RowDots {
public:
    // c_ij for i < m, j < n from rows of A (a, lda) and of B (b, ldb). With below >= 0, blocks
    // whose columns all lie more than `below` before their first row are skipped (a symmetric
    // tile needs the entries j >= i - below only) and hold stale values.
    void rows(std::size_t m, std::size_t n, std::size_t K, const T* a, std::size_t lda,
              const T* b, std::size_t ldb, std::ptrdiff_t below = -1);
    // The same with B packed beforehand over all its K features (a layer's weights).
    void packed(std::size_t m, std::size_t K, const T* a, std::size_t lda, const Panels<T>& b);

    const Layout<T>& layout() const { return layout_; }
    T* data() { return c_.data(); }
    const T* data() const { return c_.data(); }
    // Row i into dst[0, n) as alpha·c_ij + offset_j (offset padded to whole panels, or null),
    // computed in whole vectors: the same instructions for every entry.
    void store_row(std::size_t i, T alpha, const T* offset, T* dst) const;

private:
    template <class PanelAt>
    void run(std::size_t K, const T* a, std::size_t lda, std::ptrdiff_t below, PanelAt&& panel_at);

    Layout<T> layout_;
    std::vector<T> c_, zeros_;
    Panels<T> b_pack_;
};

// out (m × n, row-major) = alpha · A B(·)ᵀ + offset: A is m × K (lda), B(j, k) as in
// Panels::pack, offset (n values) or null. Row chunks of A are shared among n_threads threads; B
// is packed once. The products of the fast path's own passes, for a network whose activation is
// a Python function (its forward and backward passes run in numpy around these products).
template <class T>
void products(std::size_t m, std::size_t n, std::size_t K, T alpha, const T* a, std::size_t lda,
              const T* b, std::size_t ldb, bool b_rows, const T* offset, T* out, int n_threads);

}  // namespace dots
}  // namespace ntkfast
