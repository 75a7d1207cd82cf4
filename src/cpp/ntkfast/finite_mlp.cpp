#include "finite_mlp.hpp"

#include <algorithm>
#include <vector>

#include "blas.hpp"

namespace ntkfast {
namespace {

// One chunk of rows, serial. Scratch is reused between the chunks one thread handles.
template <class T>
struct ChunkScratch {
    std::vector<T> act_a, act_b;                 // a^(l) when the caller does not keep it
    std::vector<std::vector<T>> dphi;            // φ'(z^(l)), l = 1 .. L-1
    std::vector<std::vector<T>> delta;           // δ^(l) when the caller does not keep it
};

template <class T>
void run_chunk(const MlpView<T>& net, const T* x, std::size_t r0, std::size_t rows,
               const MlpFeatures<T>& out, bool backward, ChunkScratch<T>& s) {
    const std::size_t L = net.depth(), n_out = net.n_out();
    const auto& n = net.widths;
    s.dphi.resize(L);
    const T* a = x + r0 * n[0];
    for (std::size_t l = 0; l < L; ++l) {
        const std::size_t fan_in = n[l], fan_out = n[l + 1];
        T* z = nullptr;
        if (l + 1 == L) z = out.output ? out.output + r0 * fan_out : nullptr;
        else if (!out.hidden.empty() && out.hidden[l]) z = out.hidden[l] + r0 * fan_out;
        if (!z) {
            auto& buf = (l % 2 == 0) ? s.act_b : s.act_a;  // never the buffer `a` points into
            buf.resize(rows * fan_out);
            z = buf.data();
        }
        blas::gemm(true, rows, fan_out, fan_in, net.weight_scale[l], a, fan_in, net.weights[l],
                   fan_in, T(0), z, fan_out);
        const T* bias = net.biases[l];
        const T bs = net.bias_scale;
        if (bs != T(0))
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t j = 0; j < fan_out; ++j) z[r * fan_out + j] += bs * bias[j];
        if (l + 1 < L) {
            T* dphi = nullptr;
            if (backward) {
                s.dphi[l + 1].resize(rows * fan_out);
                dphi = s.dphi[l + 1].data();
            }
            apply_pointwise(net.act, z, dphi, rows * fan_out);
        }
        a = z;
    }
    if (!backward || L < 2) return;
    // δ^(L-2)_k = s_w W^(L-1)[k, :] ∘ φ'(z^(L-1));  δ^(l-1) = s_w (δ^(l) W^(l)) ∘ φ'(z^(l)).
    s.delta.resize(L);
    auto delta_ptr = [&](std::size_t l) -> T* {
        if (out.delta[l]) return out.delta[l] + r0 * n_out * n[l + 1];
        s.delta[l].resize(rows * n_out * n[l + 1]);
        return s.delta[l].data();
    };
    {
        const std::size_t w = n[L - 1];
        T* d = delta_ptr(L - 2);
        const T* dp = s.dphi[L - 1].data();
        const T* W = net.weights[L - 1];
        const T sw = net.weight_scale[L - 1];
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t k = 0; k < n_out; ++k) {
                T* dst = d + (r * n_out + k) * w;
                const T* wk = W + k * w;
                const T* dpr = dp + r * w;
                for (std::size_t j = 0; j < w; ++j) dst[j] = sw * wk[j] * dpr[j];
            }
    }
    for (std::size_t l = L - 2; l >= 1; --l) {
        const std::size_t w_out = n[l + 1], w_in = n[l];
        const T* src = delta_ptr(l);
        T* dst = delta_ptr(l - 1);
        blas::gemm(false, rows * n_out, w_in, w_out, net.weight_scale[l], src, w_out,
                   net.weights[l], w_in, T(0), dst, w_in);
        const T* dp = s.dphi[l].data();
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t k = 0; k < n_out; ++k) {
                T* row = dst + (r * n_out + k) * w_in;
                const T* dpr = dp + r * w_in;
                for (std::size_t j = 0; j < w_in; ++j) row[j] *= dpr[j];
            }
    }
}

}  // namespace

template <class T>
void mlp_forward_backward(const MlpView<T>& net, const T* x, std::size_t row_begin,
                          std::size_t row_end, const MlpFeatures<T>& out, int n_threads) {
    const bool backward = !out.delta.empty();
    const std::size_t first = row_begin / kMlpRowChunk, last = (row_end + kMlpRowChunk - 1) / kMlpRowChunk;
    const long n_chunks = static_cast<long>(last - first);
#pragma omp parallel num_threads(n_threads)
    {
        ChunkScratch<T> scratch;
#pragma omp for schedule(dynamic, 1)
        for (long c = 0; c < n_chunks; ++c) {
            const std::size_t r0 = std::max(row_begin, (first + c) * kMlpRowChunk);
            const std::size_t r1 = std::min(row_end, (first + c + 1) * kMlpRowChunk);
            run_chunk(net, x, r0, r1 - r0, out, backward, scratch);
        }
    }
}

template void mlp_forward_backward<float>(const MlpView<float>&, const float*, std::size_t,
                                          std::size_t, const MlpFeatures<float>&, int);
template void mlp_forward_backward<double>(const MlpView<double>&, const double*, std::size_t,
                                           std::size_t, const MlpFeatures<double>&, int);

}  // namespace ntkfast
