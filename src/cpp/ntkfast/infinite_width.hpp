// Infinite-width NNGP and NTK Gram matrices (ntk-math.md §2; Jacot et al. 2018, Prop. 1, Thm. 1).
//
//   Σ^(1) = σ_w² x·x'/n0 + β²,  Σ^(l+1) = σ_w² E[φφ] + β²,  Σ̇^(l+1) = σ_w² E[φ'φ'],
//   Θ^(1) = Σ^(1),              Θ^(l+1) = Θ^(l) Σ̇^(l+1) + Σ^(l+1).
//
// Each entry needs only (k11, k22, k12) of the previous layer, and the diagonals k11, k22 depend
// on one point only. The caller therefore supplies the per-point diagonals Σ^(l)(x, x) for every
// layer (O(N·L), computed in Python), and this class runs all L layer steps per entry while the
// entry sits in an L1-resident strip buffer: no N×N temporary per layer unless layerwise output is
// requested. Work is cut into rectangular tiles (rows i0..i1 of x1 × columns j0..j1 of x2) that are
// computed independently; a tile's result does not depend on which thread runs it or on how many
// threads there are, so the output is bit-identical for any thread count.
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
    // Mehler: series in z = ρ^step starting at power `offset` (odd φ: offset 1, step 2).
    int mehler_offset = 0;
    int mehler_step = 1;
    std::vector<int> mehler_terms;  // number of stored coefficients per layer step (depth-1)
    // Per stored term q (layers concatenated): the largest |ρ| for which the first q terms suffice.
    std::vector<double> mehler_rho_limits;
};

template <class T> struct PointSet {
    const T* x = nullptr;           // (n, d), row-major
    std::ptrdiff_t n = 0;
    const T* sigma_diag = nullptr;  // (depth, n): Σ^(l)(x, x), l = 1..depth
    const T* mehler_coef = nullptr; // per layer step l: (terms_l, n), layers concatenated
    const T* mehler_d0 = nullptr;   // (depth-1, n): E[φ'(u)] per point (for zero-variance points)
};

template <class T> struct KernelOutputs {
    T* nngp = nullptr;       // (n1, n2)
    T* ntk = nullptr;        // (n1, n2)
    T* sigma = nullptr;      // (depth, n1, n2)   layerwise
    T* sigma_dot = nullptr;  // (depth-1, n1, n2) layerwise
    T* theta = nullptr;      // (depth, n1, n2)   layerwise
};

// Diagonal values for the symmetric case, written as they are (angle exactly 0).
template <class T> struct SymmetricDiagonal {
    const T* theta_diag = nullptr;      // (depth, n)
    const T* sigma_dot_diag = nullptr;  // (depth-1, n)
};

template <class T> class InfiniteWidthKernel {
  public:
    static constexpr std::ptrdiff_t kTileRows = 32;
    static constexpr std::ptrdiff_t kTileCols = 256;

    // symmetric: p2 is ignored, the Gram of p1 is computed from its upper triangle.
    InfiniteWidthKernel(const RecursionSpec& spec, std::ptrdiff_t n_features, const PointSet<T>& p1,
                        const PointSet<T>& p2, bool symmetric, const SymmetricDiagonal<T>& diag,
                        const KernelOutputs<T>& out);

    std::size_t n_tiles() const { return tiles_.size(); }
    // Compute tiles [begin, end); independent of every other tile.
    void run_tiles(std::size_t begin, std::size_t end, int n_threads) const;
    // Symmetric case: write the exact diagonal and mirror the upper triangle. No-op otherwise.
    void finish(int n_threads) const;

  private:
    struct PerPoint {
        std::vector<T> r, ir, aux;  // (depth, n): sqrt(k), 1/sqrt(k) (0 if k = 0), activation aux
    };
    struct Tile {
        std::ptrdiff_t i0, i1, j0, j1;
    };

    template <class Dual, bool Layerwise> void run_tile(const Dual& dual, const Tile& t) const;
    template <bool Layerwise> void run_tile_mehler(const Tile& t) const;
    template <class Dual> void dispatch_tiles(const Dual& dual, std::size_t b, std::size_t e,
                                              int n_threads) const;
    void first_layer(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n, T* k12) const;
    // Layer 1 of one row strip: Σ^(1) and Θ^(1) = Σ^(1) (and the layerwise store).
    template <bool Layerwise>
    void begin_row(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n, T* k12, T* sdot,
                   T* theta) const;
    void store(std::ptrdiff_t layer, std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n,
               const T* k12, const T* sdot, const T* theta) const;
    void store_final(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n, const T* k12,
                     const T* theta) const;

    RecursionSpec spec_;
    std::ptrdiff_t d_;
    PointSet<T> p1_, p2_;
    bool symmetric_;
    SymmetricDiagonal<T> diag_;
    KernelOutputs<T> out_;
    bool layerwise_;
    T x_scale_, bias_var_, weight_var_;
    std::vector<T> x2t_;  // x2 transposed, (d, n2): the first-layer dot products vectorise over j
    PerPoint pp1_, pp2_;
    std::vector<std::ptrdiff_t> mehler_first_term_;  // cumulative term count before each layer step
    std::vector<Tile> tiles_;
};

extern template class InfiniteWidthKernel<float>;
extern template class InfiniteWidthKernel<double>;

}  // namespace ntkfast
