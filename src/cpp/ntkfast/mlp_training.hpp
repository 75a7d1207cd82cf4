// Full-batch gradient descent of a finite MLP (ntk-math.md §1 and §4):
//
//     C(θ) = (1/N) Σ_i ℓ(f_θ(x_i), y_i),     θ ← θ − lr · ∇_θ C,
//
// with G^(l) = ∂C/∂z^(l+1) (N × n_{l+1}) propagated down the layers:
//     G^(L-1) = d / N                                  (d = ∂ℓ/∂f per point)
//     G^(l-1) = s_w^(l) (G^(l) W^(l)) ∘ φ'(z^(l))
//     ∂C/∂W^(l) = s_w^(l) G^(l)ᵀ a^(l),   ∂C/∂b^(l) = s_b Σ_i G^(l)_i.
// Work per step: one GEMM per layer forward, one backward (none for layer 0: the input needs no
// gradient) and one that adds −lr·s_w G^(l)ᵀ a^(l) straight into W^(l) (beta = 1: the update is
// in place and no gradient array exists). Scales ride on the GEMMs' alpha. Bias, φ and φ'
// forwards, and the φ' factor and the bias gradient's partial sums backwards, are applied to each
// row tile right after its GEMM wrote it, while it is in cache. A layer with few outputs (the
// usual last layer) back-propagates by a rank-n_L product formed inside that tile pass instead.
// The GEMMs run on the fixed row tiles of gemm_row_tiles and every reduction over rows runs in a
// fixed order, so results are bit-identical for any thread count.
#pragma once

#include <cstddef>
#include <vector>

#include "finite_mlp.hpp"

namespace ntkfast {

enum class TrainingLoss {
    Mse,           // ℓ = ½||f − y||², d = f − y
    CrossEntropy,  // ℓ = −Σ_k y_k log softmax(f)_k, d = softmax(f) − y
    External,      // the caller computes d and hands it over (set_output_gradient)
};

template <class T>
class MlpTraining {
public:
    // `net` gives the architecture, scales and φ (its parameter pointers are not used);
    // `weights`/`biases` are the parameters, updated in place. x is (n_rows × n_0); y is
    // (n_rows × n_L), unused for External. Pointers must outlive this object.
    MlpTraining(const MlpView<T>& net, std::vector<T*> weights, std::vector<T*> biases,
                const T* x, const T* y, std::size_t n_rows, TrainingLoss loss, double lr,
                std::size_t tile_rows, int n_threads);

    // f and φ' at the current parameters; does nothing if they are already current.
    void forward();
    // C at the current f (after forward), and ∂C/∂f = d/N for the backward pass. Sums in double,
    // serially over rows.
    double builtin_loss();
    // ∂C/∂f = d/N with d (n_rows × n_L) computed by the caller at the current f.
    void set_output_gradient(const double* d);
    // One gradient-descent update from the last forward and output gradient.
    void backward_update();

    const T* output() const { return act_[depth_].data(); }
    std::size_t n_rows() const { return rows_; }
    std::size_t n_out() const { return net_.n_out(); }

private:
    const T* activation(std::size_t l) const { return l == 0 ? x_ : act_[l].data(); }
    // Row-tile pieces, run on the tile a GEMM has just written (or in a pass of their own).
    void bias_phi_rows(std::size_t l, std::size_t r0, std::size_t r1);  // z^(l+1) += s_b b; φ, φ'
    // g = s_w · g_above W^(l) for a layer with few outputs (k = n_{l+1} <= kFusedBackwardRank).
    void narrow_product_rows(std::size_t l, const T* g_above, T* g, std::size_t r0,
                             std::size_t r1) const;
    // g (rows × n_l) ∘= φ'(z^(l)) when hidden; then this tile's column sums of g when the biases
    // train (bias gradient of layer l-1).
    void dphi_and_sums_rows(std::size_t l, bool hidden, T* g, std::size_t tile, std::size_t r0,
                            std::size_t r1);
    void update_bias(std::size_t l);  // b^(l) −= lr·s_b Σ_i G^(l)_i from the tiles' sums

    MlpView<T> net_;
    std::vector<T*> weights_, biases_;
    const T* x_;
    const T* y_;
    std::size_t rows_, depth_;
    TrainingLoss loss_;
    double lr_;
    std::size_t tile_rows_;
    int n_threads_;
    bool current_ = false;  // act_/dphi_ belong to the present parameters
    // relu-like φ with slopes a >= 0, b > 0: φ'(z) = b where φ(z) > 0, else a, so φ' is read
    // off the activations and never stored.
    bool dphi_from_act_ = false;

    std::vector<std::vector<T>> act_;    // act_[l]: a^(l) (l = 1..L-1), act_[L] = f
    std::vector<std::vector<T>> dphi_;   // dphi_[l]: φ'(z^(l)), l = 1..L-1
    std::vector<T> grad_[2];             // G^(l) of hidden layers, alternating
    std::vector<T> grad_out_;            // G^(L-1) = d/N
    std::vector<double> partial_;        // column sums of a G per row tile (bias gradient)
    std::vector<double> bias_grad_;      // Σ_i G_i of the layer being updated
};

// A layer with at most this many outputs back-propagates by a product formed inside the φ' pass
// (a rank-n_{l+1} update: one pass over G^(l-1) instead of a GEMM writing it and a pass scaling it).
constexpr std::size_t kFusedBackwardRank = 4;

}  // namespace ntkfast
