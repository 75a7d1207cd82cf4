#include "mlp_training.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "tiled_gemm.hpp"

namespace ntkfast {
namespace {

std::size_t n_pass_tiles(std::size_t rows) {
    return (rows + kTrainingPassRows - 1) / kTrainingPassRows;
}

// f(r0, r1) over the fixed row tiles of the elementwise passes, spread over threads. Each tile's
// work is independent, so the thread count cannot change any result.
template <class F>
void for_row_tiles(std::size_t rows, int n_threads, F&& f) {
    const std::ptrdiff_t n_tiles = static_cast<std::ptrdiff_t>(n_pass_tiles(rows));
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_threads > 1 && n_tiles > 1)
    for (std::ptrdiff_t t = 0; t < n_tiles; ++t) {
        const std::size_t r0 = static_cast<std::size_t>(t) * kTrainingPassRows;
        f(static_cast<std::size_t>(t), r0, std::min(rows, r0 + kTrainingPassRows));
    }
}

}  // namespace

template <class T>
MlpTraining<T>::MlpTraining(const MlpView<T>& net, std::vector<T*> weights, std::vector<T*> biases,
                            const T* x, const T* y, std::size_t n_rows, TrainingLoss loss,
                            double lr, std::size_t tile_rows, int n_threads)
    : net_(net), weights_(std::move(weights)), biases_(std::move(biases)), x_(x), y_(y),
      rows_(n_rows), depth_(net.depth()), loss_(loss), lr_(lr),
      tile_rows_(std::max<std::size_t>(tile_rows, 1)), n_threads_(n_threads) {
    const auto& n = net_.widths;
    if (depth_ == 0 || weights_.size() != depth_ || biases_.size() != depth_ || n.size() != depth_ + 1)
        throw std::invalid_argument("training: one weight and one bias array per layer");
    if (n_rows == 0) throw std::invalid_argument("training: no training points");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    if (loss != TrainingLoss::External && y == nullptr) throw std::invalid_argument("training: y is missing");
    // BLAS takes 32-bit sizes; refuse here, where throwing is safe (not inside a parallel region).
    std::size_t widest = 0;
    for (std::size_t w : n) {
        if (w > static_cast<std::size_t>(INT_MAX)) throw std::length_error("training: width exceeds 32-bit BLAS");
        widest = std::max(widest, w);
    }
    if (n_rows > static_cast<std::size_t>(INT_MAX)) throw std::length_error("training: too many points for 32-bit BLAS");
    dphi_from_act_ = net_.act.kind == Pointwise::ReluLike && net_.act.a >= 0.0 && net_.act.b > 0.0;
    act_.resize(depth_ + 1);
    dphi_.resize(depth_);
    std::size_t widest_hidden = 0;
    for (std::size_t l = 1; l <= depth_; ++l) {
        act_[l].resize(n_rows * n[l]);
        if (l < depth_) {
            if (!dphi_from_act_) dphi_[l].resize(n_rows * n[l]);
            widest_hidden = std::max(widest_hidden, n[l]);
        }
    }
    if (depth_ > 1) {
        grad_[0].resize(n_rows * widest_hidden);
        if (depth_ > 2) grad_[1].resize(n_rows * widest_hidden);
    }
    grad_out_.resize(n_rows * net_.n_out());
    if (net_.bias_scale != T(0)) {
        partial_.resize(n_pass_tiles(n_rows) * widest);
        bias_grad_.resize(widest);
    }
}

template <class T>
void MlpTraining<T>::bias_phi_pass(std::size_t l) {
    const std::size_t n = net_.widths[l + 1];
    const bool hidden = l + 1 < depth_;
    const T sb = net_.bias_scale;
    if (!hidden && sb == T(0)) return;
    T* z = act_[l + 1].data();
    T* dphi = hidden && !dphi_from_act_ ? dphi_[l + 1].data() : nullptr;
    const T* b = biases_[l];
    for_row_tiles(rows_, n_threads_, [&](std::size_t, std::size_t r0, std::size_t r1) {
        if (sb != T(0))
            for (std::size_t r = r0; r < r1; ++r) {
                T* row = z + r * n;
                for (std::size_t j = 0; j < n; ++j) row[j] += sb * b[j];
            }
        if (hidden) apply_pointwise(net_.act, z + r0 * n, dphi ? dphi + r0 * n : nullptr, (r1 - r0) * n);
    });
}

template <class T>
void MlpTraining<T>::forward() {
    if (current_) return;
    const auto& n = net_.widths;
    for (std::size_t l = 0; l < depth_; ++l) {
        gemm_row_tiles<T>(false, true, rows_, n[l + 1], n[l], net_.weight_scale[l], activation(l),
                          n[l], weights_[l], n[l], T(0), act_[l + 1].data(), n[l + 1], tile_rows_,
                          n_threads_);
        bias_phi_pass(l);
    }
    current_ = true;
}

template <class T>
double MlpTraining<T>::builtin_loss() {
    if (!current_) throw std::logic_error("training: builtin_loss before forward");
    if (loss_ == TrainingLoss::External) throw std::logic_error("training: the loss is computed by the caller");
    const std::size_t o = net_.n_out();
    const T* f = output();
    T* g = grad_out_.data();
    const double inv_n = 1.0 / static_cast<double>(rows_);
    double total = 0.0;
    if (loss_ == TrainingLoss::Mse) {
        for (std::size_t i = 0; i < rows_ * o; ++i) {
            const double d = static_cast<double>(f[i]) - static_cast<double>(y_[i]);
            total += 0.5 * d * d;
            g[i] = static_cast<T>(d * inv_n);
        }
    } else {
        for (std::size_t i = 0; i < rows_; ++i) {
            const T* fi = f + i * o;
            const T* yi = y_ + i * o;
            double m = static_cast<double>(fi[0]);
            for (std::size_t k = 1; k < o; ++k) m = std::max(m, static_cast<double>(fi[k]));
            double s = 0.0;
            for (std::size_t k = 0; k < o; ++k) s += std::exp(static_cast<double>(fi[k]) - m);
            const double lse = m + std::log(s);
            for (std::size_t k = 0; k < o; ++k) {
                const double fk = static_cast<double>(fi[k]), yk = static_cast<double>(yi[k]);
                total += yk * (lse - fk);
                g[i * o + k] = static_cast<T>((std::exp(fk - lse) - yk) * inv_n);
            }
        }
    }
    return total * inv_n;
}

template <class T>
void MlpTraining<T>::set_output_gradient(const double* d) {
    const double inv_n = 1.0 / static_cast<double>(rows_);
    for (std::size_t i = 0; i < rows_ * net_.n_out(); ++i) grad_out_[i] = static_cast<T>(d[i] * inv_n);
}

template <class T>
void MlpTraining<T>::below_pass(T* g, std::size_t l, bool hidden, const T* narrow) {
    const bool sums = net_.bias_scale != T(0);
    if (!hidden && !sums) return;
    const std::size_t n = net_.widths[l];
    const T slope_neg = static_cast<T>(net_.act.a), slope_pos = static_cast<T>(net_.act.b);
    const T* act = hidden ? act_[l].data() : nullptr;
    const T* dphi = hidden && !dphi_from_act_ ? dphi_[l].data() : nullptr;
    for_row_tiles(rows_, n_threads_, [&](std::size_t t, std::size_t r0, std::size_t r1) {
        if (narrow) {  // g = s_w · narrow W^(l), narrow (rows × k) with k = n_{l+1} small
            const std::size_t k_n = net_.widths[l + 1];
            const T sw = net_.weight_scale[l];
            const T* w = weights_[l];
            for (std::size_t r = r0; r < r1; ++r) {
                T* row = g + r * n;
                const T* nr = narrow + r * k_n;
                for (std::size_t j = 0; j < n; ++j) row[j] = nr[0] * w[j];
                for (std::size_t k = 1; k < k_n; ++k)
                    for (std::size_t j = 0; j < n; ++j) row[j] += nr[k] * w[k * n + j];
                for (std::size_t j = 0; j < n; ++j) row[j] *= sw;
            }
        }
        if (dphi)
            for (std::size_t i = r0 * n; i < r1 * n; ++i) g[i] *= dphi[i];
        else if (act)
            for (std::size_t i = r0 * n; i < r1 * n; ++i) g[i] *= act[i] > T(0) ? slope_pos : slope_neg;
        if (sums) {
            double* p = partial_.data() + t * n;
            std::fill(p, p + n, 0.0);
            for (std::size_t r = r0; r < r1; ++r)
                for (std::size_t j = 0; j < n; ++j) p[j] += static_cast<double>(g[r * n + j]);
        }
    });
    if (sums) {  // the tiles' sums, added in tile order
        std::fill(bias_grad_.begin(), bias_grad_.begin() + n, 0.0);
        const std::size_t n_tiles = n_pass_tiles(rows_);
        for (std::size_t t = 0; t < n_tiles; ++t)
            for (std::size_t j = 0; j < n; ++j) bias_grad_[j] += partial_[t * n + j];
    }
}

template <class T>
void MlpTraining<T>::backward_update() {
    if (!current_) throw std::logic_error("training: backward_update before forward");
    const auto& n = net_.widths;
    const T sb = net_.bias_scale;
    T* g = grad_out_.data();
    below_pass(g, depth_, false, nullptr);  // only the bias gradient of the output layer
    for (std::size_t l = depth_; l-- > 0;) {
        const std::size_t n_in = n[l], n_out = n[l + 1];
        const T sw = net_.weight_scale[l];
        if (sb != T(0)) {
            T* b = biases_[l];
            const double step = lr_ * static_cast<double>(sb);
            for (std::size_t j = 0; j < n_out; ++j) b[j] = static_cast<T>(b[j] - step * bias_grad_[j]);
        }
        T* g_below = nullptr;
        if (l > 0) {  // from the weights before their update
            g_below = grad_[(depth_ - 1 - l) % 2].data();
            const bool narrow = n_out <= kFusedBackwardRank;
            if (!narrow)
                gemm_row_tiles<T>(false, false, rows_, n_in, n_out, sw, g, n_out, weights_[l], n_in,
                                  T(0), g_below, n_in, tile_rows_, n_threads_);
            below_pass(g_below, l, true, narrow ? g : nullptr);
        }
        gemm_row_tiles<T>(true, false, n_out, n_in, rows_, static_cast<T>(-lr_ * sw), g, n_out,
                          activation(l), n_in, T(1), weights_[l], n_in, tile_rows_, n_threads_);
        g = g_below;
    }
    current_ = false;
}

template class MlpTraining<float>;
template class MlpTraining<double>;

}  // namespace ntkfast
