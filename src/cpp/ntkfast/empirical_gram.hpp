// The empirical NTK of a finite MLP from its per-layer features (ntk-math.md §3):
//
//     Θ_kk'(x, x') = Σ_l [s_w² a^(l)(x)·a^(l)(x') + s_b²] · [δ^(l)_k(x)·δ^(l)_k'(x')]
//
// Output tiles are independent: per tile and layer, the dot products a·a' and δ·δ' (row_dots.hpp)
// land in tile-sized scratch and are fused with the Hadamard product and the sum over layers, so
// no N×N temporary is ever written. Every step is per entry, in the same vector instructions for
// every entry, so an entry's value depends on its two points only: a block computed from row
// slices equals the same block of the one-call Gram bit for bit, and the per-point diagonal
// K(x, x) (diagonal_only) equals the Gram's diagonal. Symmetric blocks compute the upper tiles
// only (on diagonal tiles the register blocks above the diagonal) and mirror them, so the result
// is exactly symmetric.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace ntkfast {

enum class NtkOutput { Trace, Diagonal, Full };

// Features of one block of rows: act[l] = a^(l) (rows, n_l) for l < L (act[0] is the input);
// delta[l] = δ^(l) (rows, n_L, n_{l+1}) for l < L-1.
template <class T>
struct FeatureSet {
    std::size_t rows = 0;
    std::vector<const T*> act;
    std::vector<const T*> delta;
};

// Where results go: out has shape (n1, n2, kk) with kk = 1, n_L or n_L² by the output mode;
// layers (optional) has shape (L, n1, n2, kk) and receives each layer's term.
template <class T>
struct GramTarget {
    T* out = nullptr;
    T* layers = nullptr;
    std::size_t n1 = 0, n2 = 0;
};

// How a pair of feature blocks maps into the output.
struct GramBlock {
    std::size_t i0 = 0, j0 = 0;  // block origin in the output
    bool same_rows = false;      // both sets are the same rows (i0 == j0): upper tiles only
    bool mirror = false;         // symmetric output: also write every entry's transpose
    bool diagonal_only = false;  // same rows; only K(x_i, x_i), into out of shape (n1, kk)
};

template <class T>
class EmpiricalGram {
public:
    EmpiricalGram(std::vector<std::size_t> widths, std::vector<T> weight_scale, T bias_scale,
                  NtkOutput mode, FeatureSet<T> set1, FeatureSet<T> set2, GramTarget<T> target,
                  GramBlock block);
    ~EmpiricalGram();

    std::size_t n_tiles() const { return tiles_.size(); }
    // Computes tiles [begin, end) in parallel; each entry is written by exactly one tile. Not
    // reentrant: the scratch of each thread is kept between calls (a call is a chunk of tiles).
    void run(std::size_t begin, std::size_t end, int n_threads) const;

private:
    struct Scratch;
    void run_tile(std::size_t p, std::size_t q, Scratch& s) const;
    void layer_term(std::size_t l, std::size_t ib, std::size_t jb, bool diag, Scratch& s) const;
    void put(T* base, std::size_t gi, std::size_t gj, const T* v, bool self) const;
    void store_tile(T* base, std::size_t ib, std::size_t jb, bool diag, const T* vals,
                    Scratch& s) const;

    std::vector<std::size_t> widths_;
    std::vector<T> weight_scale_;
    T bias_var_;
    NtkOutput mode_;
    FeatureSet<T> s1_, s2_;
    GramTarget<T> target_;
    GramBlock block_;
    std::size_t n_out_, kk_, tile_;
    std::vector<std::pair<std::size_t, std::size_t>> tiles_;
    mutable std::vector<std::unique_ptr<Scratch>> scratch_;  // one per thread
};


}  // namespace ntkfast
