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
// in place and no gradient array exists). Scales ride on the GEMMs' alpha; bias, φ and φ' are one
// pass over each hidden layer. Every GEMM goes through gemm_row_tiles and every reduction over
// rows runs in a fixed order, so results are bit-identical for any thread count.
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
    void bias_phi_pass(std::size_t l);  // z^(l+1) += s_b b; φ and φ' for hidden layers
    // g (rows × n_l): for a hidden layer l, g ∘= φ'(z^(l)), forming g = s_w · narrow W^(l) first
    // when `narrow` (rows × n_{l+1}, few columns) is given; then, when the biases train, the
    // column sums of g into bias_grad_ (hidden = false: only those, e.g. of the output layer).
    void below_pass(T* g, std::size_t l, bool hidden, const T* narrow);

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
    std::vector<double> partial_;        // per row tile column sums of a G (bias gradient)
    std::vector<double> bias_grad_;      // Σ_i G_i of the layer being updated
};

// A layer with at most this many outputs back-propagates by a product formed inside the φ' pass
// (a rank-n_{l+1} update: one pass over G^(l-1) instead of a GEMM writing it and a pass scaling it).
constexpr std::size_t kFusedBackwardRank = 4;

// Rows per tile of the elementwise passes and of the partial sums (fixed: results do not depend
// on the thread count).
constexpr std::size_t kTrainingPassRows = 32;

}  // namespace ntkfast
