// Infinite-width NNGP and NTK Gram matrices (ntk-math.md §2; Jacot et al. 2018, Prop. 1, Thm. 1).
//
//   Σ^(1) = σ_w² x·x'/n0 + β²,  Σ^(l+1) = σ_w² E[φφ] + β²,  Σ̇^(l+1) = σ_w² E[φ'φ'],
//   Θ^(1) = Σ^(1),              Θ^(l+1) = Θ^(l) Σ̇^(l+1) + Σ^(l+1).
//
// Each entry needs only (k11, k22, k12) of the previous layer, and the diagonals k11, k22 depend
// on one point only. The caller therefore supplies the per-point diagonals Σ^(l)(x, x) (computed
// in Python), and this class runs the layer steps of an entry while the entry sits in an
// L1-resident strip buffer: no N×N temporary per layer unless layerwise output is requested.
// Work is cut into rectangular tiles (rows i0..i1 of x1 × columns j0..j1 of x2) that are computed
// independently; a tile's result does not depend on which thread runs it or on how many threads
// there are, so the output is bit-identical for any thread count.
//
// Angles near ρ = ±1. The ReLU family's duals need θ = arccos ρ, which is ill-conditioned there:
// an error ε in ρ becomes sqrt(2ε) in θ, and Σ̇ = (π − θ)/2π inherits it (2e-4 relative in float32
// for duplicated points of a cross call). For those duals an entry therefore carries, beside k12,
// the gaps 1 − ρ and 1 + ρ with full relative accuracy: layer 1 takes them from the distance
// between the normalised inputs (|ũ ∓ ũ'|²/2), every later layer from closed forms of
// 1 ∓ ρ^(l+1) in terms of the previous gaps (dual_activations.hpp). ELU uses the same gaps for
// its angle; the other duals are smooth in ρ and take ρ = k12 / sqrt(k11 k22).
//
// Passes. One call computes the layers after `first_layer` up to `last_layer` (1-based, 0 = from
// the inputs) for the points it is given, so a very deep network (or a huge set of points) can be
// computed in passes whose per-point tables fit in memory; the pair values between two passes
// (k12, Θ and the gaps) live in (n1, n2) state arrays, in the working dtype, exactly as they sit
// in registers, so passes never change a bit of the result. The points of x1 may be a block of
// rows of the output (row_offset) and those of x2 a block of its columns (col_offset).
//
// Activations without a closed form use the Mehler expansion
//   E[φ(u)φ(v)] = Σ_n c_n(k11) c_n(k22) ρ^n,  E[φ'(u)φ'(v)] = F'(ρ) / sqrt(k11 k22),
// whose per-point coefficients c_n(k) are supplied per layer (python/ntkfast/_mehler.py).
#pragma once

#include <cstddef>
#include <vector>

namespace ntkfast {

enum class DualKind { relu_like, erf, identity, sin, elu, mehler };

struct RecursionSpec {
    int depth = 1;            // L, number of weight layers
    double weight_var = 1.0;  // σ_w²
    double bias_var = 0.0;    // β²
    DualKind kind = DualKind::relu_like;
    double param_a = 0.0;     // relu-like: slope for z < 0; elu: alpha
    double param_b = 1.0;     // relu-like: slope for z > 0
    // This pass computes the layers first_layer+1 .. last_layer (1-based). first_layer = 0 starts
    // from the inputs; last_layer = depth writes the final kernels, anything less the state.
    int first_layer = 0;
    int last_layer = 1;
    // Mehler: series in z = ρ^step starting at power `offset` (odd φ: offset 1, step 2).
    int mehler_offset = 0;
    int mehler_step = 1;
    std::vector<int> mehler_terms;  // stored coefficients per layer step of this pass
    // Per stored term q (this pass's steps concatenated): the largest |ρ| for which the first q
    // terms suffice.
    std::vector<double> mehler_rho_limits;
};

// The per-point tables of one point set for one pass. "Table layers" are the layers
// max(first_layer, 1) .. last_layer (both included), "steps" the layer steps of the pass, from
// table layer 0 to 1, 1 to 2, ... (last_layer − max(first_layer, 1) of them).
template <class T> struct PointSet {
    const T* x = nullptr;           // (n, d), row-major; read only when first_layer == 0
    std::ptrdiff_t n = 0;
    const T* sigma_diag = nullptr;  // (table layers, n): Σ^(l)(x, x)
    const T* mehler_coef = nullptr; // per step: (terms, n), steps concatenated
    const T* mehler_d0 = nullptr;   // (steps, n): E[φ'(u)] per point (for zero-variance points)
};

// Final kernels (last_layer == depth) or the state between passes, all (rows, cols) arrays with
// leading dimension `ld`, of which this call writes the block at (row_offset, col_offset).
template <class T> struct KernelOutputs {
    T* nngp = nullptr;
    T* ntk = nullptr;
    T* sigma = nullptr;      // (depth, n1, n2)   layerwise (single pass over the whole output)
    T* sigma_dot = nullptr;  // (depth-1, n1, n2) layerwise
    T* theta = nullptr;      // (depth, n1, n2)   layerwise
    std::ptrdiff_t ld = 0, row_offset = 0, col_offset = 0;
};

// Pair values after layer `first_layer` (read) or `last_layer` (written) when a pass starts or
// ends inside the network; same layout as the outputs. gap_minus/gap_plus (1 − ρ, 1 + ρ) only
// for the duals that carry them (relu_like, elu).
template <class T> struct PairState {
    T* k12 = nullptr;
    T* theta = nullptr;
    T* gap_minus = nullptr;
    T* gap_plus = nullptr;
};

// Diagonal values for the symmetric case, written as they are (angle exactly 0).
template <class T> struct SymmetricDiagonal {
    const T* theta_diag = nullptr;      // (table layers, n)
    const T* sigma_dot_diag = nullptr;  // (steps, n)
};

template <class T> class InfiniteWidthKernel {
  public:
    static constexpr std::ptrdiff_t kTileRows = 32;
    static constexpr std::ptrdiff_t kTileCols = 256;

    // symmetric: p2 is ignored, the Gram of p1 is computed from its upper triangle.
    InfiniteWidthKernel(const RecursionSpec& spec, std::ptrdiff_t n_features, const PointSet<T>& p1,
                        const PointSet<T>& p2, bool symmetric, const SymmetricDiagonal<T>& diag,
                        const KernelOutputs<T>& out, const PairState<T>& state);

    // A kernel that writes nothing itself and computes tiles on request (compute_tile): one pass
    // from the inputs to the last layer, no outputs, no state; the diagonal tables are needed
    // only for symmetric tiles that meet the diagonal.
    InfiniteWidthKernel(const RecursionSpec& spec, std::ptrdiff_t n_features, const PointSet<T>& p1,
                        const PointSet<T>& p2, bool symmetric, const SymmetricDiagonal<T>& diag);

    std::size_t n_tiles() const { return tiles_.size(); }
    // Compute tiles [begin, end); independent of every other tile.
    void run_tiles(std::size_t begin, std::size_t end, int n_threads) const;
    // Symmetric final pass: write the exact diagonal and mirror the upper triangle.
    void finish(int n_threads) const;

    // One tile of the final kernel, Θ (ntk) or Σ, into a caller-owned buffer: entry (i, j) for
    // rows i0 <= i < i1 of x1 and columns j0 <= j < j1 of x2 at out[(i - i0) * ld + j - j0],
    // equal bit for bit to that entry of the whole kernel (entries do not depend on their place
    // in a tile). Symmetric: the entries above the diagonal as the Gram computes them (row i <
    // column j), the diagonal from the per-point tables, and below it their mirror, so the tile
    // must lie on or above the diagonal (j0 >= i1 - 1) or be a square on it (i0 == j0, i1 == j1).
    // Only for a kernel made by the tile constructor; safe to call from many threads at once.
    void compute_tile(std::ptrdiff_t i0, std::ptrdiff_t i1, std::ptrdiff_t j0, std::ptrdiff_t j1,
                      bool ntk, T* out, std::ptrdiff_t ld) const;
    std::ptrdiff_t rows() const { return p1_.n; }
    std::ptrdiff_t cols() const { return p2_.n; }
    bool symmetric() const { return symmetric_; }
    bool tiles_only() const { return tiles_only_; }

    // Whether a dual carries the gaps 1 ∓ ρ (and so needs them in the state between passes).
    static bool carries_gaps(DualKind kind) { return kind == DualKind::relu_like || kind == DualKind::elu; }

  private:
    struct PerPoint {
        std::vector<T> r, ir, aux;  // (table layers, n): sqrt(k), 1/sqrt(k) (0 if k = 0), dual aux
        std::vector<T> d0;          // Mehler, x2 only: (steps, n) E[φ'(u)]
        std::vector<T> unit;        // (n, d + 1): the normalised augmented input (first pass, gaps)
    };
    struct Tile {
        std::ptrdiff_t i0, i1, j0, j1;
    };
    // Where compute_tile wants a tile's final values instead of the outputs.
    struct TileTarget {
        T* out;
        std::ptrdiff_t ld, i0, j0;
        bool ntk;
    };
    struct MehlerSeries {};  // the "dual" of activations without a closed form

    // f(dual) with the dual of spec_.kind (MehlerSeries for the series).
    template <class F> void with_dual(F&& f) const;
    // One tile, into the outputs or state (target null) or into target.
    template <class Dual, bool Layerwise>
    void run_tile(const Dual& dual, const Tile& t, const TileTarget* target) const;
    template <bool Layerwise> void run_tile_mehler(const Tile& t, const TileTarget* target) const;
    void first_layer(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n, T* k12) const;
    void first_gaps(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n, T* k12, T* gm,
                    T* gp) const;
    // The pair values at the start of the pass for one row strip (layer 1 from the inputs, or the
    // state), with the layerwise store of layer 1.
    template <bool Layerwise, bool Gaps>
    void begin_row(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n, T* k12, T* sdot, T* theta,
                   T* gm, T* gp) const;
    template <bool Gaps>
    void end_row(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n, const T* k12,
                 const T* theta, const T* gm, const T* gp, const TileTarget* target) const;
    void store(std::ptrdiff_t layer, std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n,
               const T* k12, const T* sdot, const T* theta) const;
    std::ptrdiff_t at(std::ptrdiff_t i, std::ptrdiff_t j) const {
        return (out_.row_offset + i) * out_.ld + out_.col_offset + j;
    }

    RecursionSpec spec_;
    std::ptrdiff_t d_;
    PointSet<T> p1_, p2_;
    bool symmetric_;
    SymmetricDiagonal<T> diag_;
    KernelOutputs<T> out_;
    PairState<T> state_;
    bool layerwise_, from_inputs_, final_;
    bool tiles_only_ = false;  // made by the tile constructor: compute_tile only
    std::ptrdiff_t table_layers_, steps_;
    T feature_scale_, bias_var_, weight_var_;  // σ_w/sqrt(n0), β², σ_w²
    // x2 transposed and scaled by σ_w/sqrt(n0), (d, n2 + kStripPad zero columns): the dot products
    // vectorise over j.
    std::vector<T> x2t_;
    std::ptrdiff_t x2t_stride_ = 0;
    PerPoint pp1_, pp2_;
    std::vector<std::ptrdiff_t> mehler_first_term_;  // cumulative term count before each step
    std::vector<Tile> tiles_;
};

extern template class InfiniteWidthKernel<float>;
extern template class InfiniteWidthKernel<double>;

}  // namespace ntkfast
