#include "mlp_training.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "tiled_gemm.hpp"

namespace ntkfast {
namespace {

std::size_t n_tiles_of(std::size_t rows, std::size_t tile_rows) {
    return (rows + tile_rows - 1) / tile_rows;
}

// f(tile, r0, r1) over fixed tiles of tile_rows rows, spread over threads. Tiles are independent
// and fixed by the shapes, so the thread count cannot change any result.
template <class F>
void for_row_tiles(std::size_t rows, std::size_t tile_rows, int n_threads, F&& f) {
    const std::ptrdiff_t n_tiles = static_cast<std::ptrdiff_t>(n_tiles_of(rows, tile_rows));
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1 && n_tiles > 1)
    for (std::ptrdiff_t t = 0; t < n_tiles; ++t) {
        const std::size_t r0 = static_cast<std::size_t>(t) * tile_rows;
        f(static_cast<std::size_t>(t), r0, std::min(rows, r0 + tile_rows));
    }
}

// gemm_row_tiles for C = alpha·A·op(B) (A not transposed, beta = 0), each row tile followed on the
// same thread by epilogue(tile, r0, r1) while the tile is still in cache: the elementwise work
// after a product costs no extra trip through memory. Same tiles as gemm_row_tiles.
template <class T, class Epilogue>
void gemm_row_tiles_then(bool b_transposed, std::size_t m, std::size_t n, std::size_t k, T alpha,
                         const T* a, std::size_t lda, const T* b, std::size_t ldb, T* c,
                         std::size_t ldc, std::size_t tile_rows, int n_threads, Epilogue&& epilogue) {
    if (m <= tile_rows) {  // one row tile (a small batch): the product itself spreads its columns
        gemm_row_tiles<T>(false, b_transposed, m, n, k, alpha, a, lda, b, ldb, T(0), c, ldc,
                          tile_rows, n_threads);
        epilogue(std::size_t(0), std::size_t(0), m);
        return;
    }
    for_row_tiles(m, tile_rows, n_threads, [&](std::size_t t, std::size_t r0, std::size_t r1) {
        gemm_row_tiles<T>(false, b_transposed, r1 - r0, n, k, alpha, a + r0 * lda, lda, b, ldb,
                          T(0), c + r0 * ldc, ldc, tile_rows, 1);
        epilogue(t, r0, r1);
    });
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
        if (w > static_cast<std::size_t>(INT_MAX))
            throw std::length_error("training: width exceeds 32-bit BLAS");
        widest = std::max(widest, w);
    }
    if (n_rows > static_cast<std::size_t>(INT_MAX))
        throw std::length_error("training: too many points for 32-bit BLAS");
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
        partial_.resize(n_tiles_of(n_rows, tile_rows_) * widest);
        bias_grad_.resize(widest);
    }
}

template <class T>
void MlpTraining<T>::bias_phi_rows(std::size_t l, std::size_t r0, std::size_t r1) {
    const std::size_t n = net_.widths[l + 1];
    const bool hidden = l + 1 < depth_;
    const T sb = net_.bias_scale;
    T* z = act_[l + 1].data();
    if (sb != T(0)) {
        const T* b = biases_[l];
        for (std::size_t r = r0; r < r1; ++r) {
            T* row = z + r * n;
            for (std::size_t j = 0; j < n; ++j) row[j] += sb * b[j];
        }
    }
    if (hidden) {
        T* dphi = dphi_from_act_ ? nullptr : dphi_[l + 1].data() + r0 * n;
        apply_pointwise(net_.act, z + r0 * n, dphi, (r1 - r0) * n);
    }
}

template <class T>
void MlpTraining<T>::forward() {
    if (current_) return;
    const auto& n = net_.widths;
    for (std::size_t l = 0; l < depth_; ++l) {
        const bool epilogue = l + 1 < depth_ || net_.bias_scale != T(0);
        if (epilogue)
            gemm_row_tiles_then<T>(true, rows_, n[l + 1], n[l], net_.weight_scale[l], activation(l),
                                   n[l], weights_[l], n[l], act_[l + 1].data(), n[l + 1], tile_rows_,
                                   n_threads_, [&](std::size_t, std::size_t r0, std::size_t r1) {
                                       bias_phi_rows(l, r0, r1);
                                   });
        else
            gemm_row_tiles<T>(false, true, rows_, n[l + 1], n[l], net_.weight_scale[l],
                              activation(l), n[l], weights_[l], n[l], T(0), act_[l + 1].data(),
                              n[l + 1], tile_rows_, n_threads_);
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
void MlpTraining<T>::narrow_product_rows(std::size_t l, const T* g_above, T* g, std::size_t r0,
                                         std::size_t r1) const {
    const std::size_t n = net_.widths[l], k_n = net_.widths[l + 1];
    const T sw = net_.weight_scale[l];
    const T* w = weights_[l];
    for (std::size_t r = r0; r < r1; ++r) {
        T* row = g + r * n;
        const T* above = g_above + r * k_n;
        for (std::size_t j = 0; j < n; ++j) row[j] = above[0] * w[j];
        for (std::size_t k = 1; k < k_n; ++k)
            for (std::size_t j = 0; j < n; ++j) row[j] += above[k] * w[k * n + j];
        for (std::size_t j = 0; j < n; ++j) row[j] *= sw;
    }
}

template <class T>
void MlpTraining<T>::dphi_and_sums_rows(std::size_t l, bool hidden, T* g, std::size_t tile,
                                        std::size_t r0, std::size_t r1) {
    const std::size_t n = net_.widths[l];
    if (hidden && dphi_from_act_) {
        const T* a = act_[l].data();
        const T neg = static_cast<T>(net_.act.a), pos = static_cast<T>(net_.act.b);
        for (std::size_t i = r0 * n; i < r1 * n; ++i) g[i] *= a[i] > T(0) ? pos : neg;
    } else if (hidden) {
        const T* d = dphi_[l].data();
        for (std::size_t i = r0 * n; i < r1 * n; ++i) g[i] *= d[i];
    }
    if (net_.bias_scale != T(0)) {  // this tile's column sums, in row order
        double* p = partial_.data() + tile * n;
        std::fill(p, p + n, 0.0);
        for (std::size_t r = r0; r < r1; ++r)
            for (std::size_t j = 0; j < n; ++j) p[j] += static_cast<double>(g[r * n + j]);
    }
}

template <class T>
void MlpTraining<T>::update_bias(std::size_t l) {
    const std::size_t n = net_.widths[l + 1], n_tiles = n_tiles_of(rows_, tile_rows_);
    std::fill(bias_grad_.begin(), bias_grad_.begin() + n, 0.0);
    for (std::size_t t = 0; t < n_tiles; ++t)  // tiles added in order: thread-count invariant
        for (std::size_t j = 0; j < n; ++j) bias_grad_[j] += partial_[t * n + j];
    const double step = lr_ * static_cast<double>(net_.bias_scale);
    T* b = biases_[l];
    for (std::size_t j = 0; j < n; ++j) b[j] = static_cast<T>(b[j] - step * bias_grad_[j]);
}

template <class T>
void MlpTraining<T>::backward_update() {
    if (!current_) throw std::logic_error("training: backward_update before forward");
    const auto& n = net_.widths;
    const bool biases = net_.bias_scale != T(0);
    T* g = grad_out_.data();
    if (biases)
        for_row_tiles(rows_, tile_rows_, n_threads_, [&](std::size_t t, std::size_t r0, std::size_t r1) {
            dphi_and_sums_rows(depth_, false, g, t, r0, r1);
        });
    for (std::size_t l = depth_; l-- > 0;) {
        const std::size_t n_in = n[l], n_out = n[l + 1];
        const T sw = net_.weight_scale[l];
        if (biases) update_bias(l);  // from the partial sums of g
        T* g_below = nullptr;
        if (l > 0) {  // from the weights before their update; the layer-0 input needs no gradient
            g_below = grad_[(depth_ - 1 - l) % 2].data();
            if (n_out <= kFusedBackwardRank)
                for_row_tiles(rows_, tile_rows_, n_threads_, [&](std::size_t t, std::size_t r0, std::size_t r1) {
                    narrow_product_rows(l, g, g_below, r0, r1);
                    dphi_and_sums_rows(l, true, g_below, t, r0, r1);
                });
            else
                gemm_row_tiles_then<T>(false, rows_, n_in, n_out, sw, g, n_out, weights_[l], n_in,
                                       g_below, n_in, tile_rows_, n_threads_,
                                       [&](std::size_t t, std::size_t r0, std::size_t r1) {
                                           dphi_and_sums_rows(l, true, g_below, t, r0, r1);
                                       });
        }
        // W^(l) += −lr·s_w G^(l)ᵀ a^(l): the update in place, no gradient array.
        const T step = static_cast<T>(-lr_ * sw);
        if (n_out == 1)  // one row would be one tile: update W^(l)ᵀ, a column, by tiles of its rows
            gemm_row_tiles<T>(true, false, n_in, 1, rows_, step, activation(l), n_in, g, 1, T(1),
                              weights_[l], 1, tile_rows_, n_threads_);
        else
            gemm_row_tiles<T>(true, false, n_out, n_in, rows_, step, g, n_out, activation(l), n_in,
                              T(1), weights_[l], n_in, tile_rows_, n_threads_);
        g = g_below;
    }
    current_ = false;
}

template class MlpTraining<float>;
template class MlpTraining<double>;

}  // namespace ntkfast
