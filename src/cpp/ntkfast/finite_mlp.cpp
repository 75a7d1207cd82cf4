#include "finite_mlp.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "threading.hpp"

namespace ntkfast {

// One chunk of rows, serial. Scratch is reused between the chunks one thread handles.
template <class T>
struct MlpPasses<T>::Scratch {
    std::vector<T> act_a, act_b;                 // a^(l) when the caller does not keep it
    std::vector<std::vector<T>> dphi;            // φ'(z^(l)), l = 1 .. L-1
    std::vector<std::vector<T>> delta;           // δ^(l) when the caller does not keep it
    dots::RowDots<T> dots;
};

template <class T>
MlpPasses<T>::~MlpPasses() = default;

template <class T>
MlpPasses<T>::MlpPasses(const MlpView<T>& net, bool backward) : net_(net) {
    const std::size_t L = net_.depth();
    const auto& n = net_.widths;
    forward_.resize(L);
    offset_.resize(L);
    if (backward) backward_.resize(L);
    for (std::size_t l = 0; l < L; ++l) {
        forward_[l].pack(net_.weights[l], n[l], true, n[l + 1], 0, n[l]);
        auto& off = offset_[l];
        off.assign(forward_[l].count * dots::kCols<T>, T(0));
        for (std::size_t j = 0; j < n[l + 1]; ++j) off[j] = net_.bias_scale * net_.biases[l][j];
        // δ^(l-1) = s_w (δ^(l) W^(l)) ∘ φ'(z^(l)) for 1 <= l <= L-2
        if (backward && l >= 1 && l + 2 <= L) backward_[l].pack(net_.weights[l], n[l], false, n[l], 0, n[l + 1]);
    }
}

namespace {

template <class T, class Scratch>
void run_chunk(const MlpView<T>& net, const std::vector<dots::Panels<T>>& forward,
               const std::vector<dots::Panels<T>>& backward_panels,
               const std::vector<std::vector<T>>& offset, const T* x, std::size_t r0,
               std::size_t rows, const MlpFeatures<T>& out, bool backward, Scratch& s) {
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
        // z = s_w W a + s_b b, each entry in the same vector instructions
        s.dots.packed(rows, fan_in, a, fan_in, forward[l]);
        const T* off = net.bias_scale != T(0) ? offset[l].data() : nullptr;
        for (std::size_t r = 0; r < rows; ++r) s.dots.store_row(r, net.weight_scale[l], off, z + r * fan_out);
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
    // Products only (no sums) outside the dot products: nothing here depends on an entry's place.
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
        s.dots.packed(rows * n_out, w_out, src, w_out, backward_panels[l]);
        for (std::size_t r = 0; r < rows * n_out; ++r)
            s.dots.store_row(r, net.weight_scale[l], nullptr, dst + r * w_in);
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
void MlpPasses<T>::run(const T* x, std::size_t row_begin, std::size_t row_end,
                       const MlpFeatures<T>& out, int n_threads) const {
    const bool backward = !out.delta.empty();
    if (backward && backward_.empty()) throw std::logic_error("MlpPasses: built without the backward pass");
    const std::size_t first = row_begin / kMlpRowChunk, last = (row_end + kMlpRowChunk - 1) / kMlpRowChunk;
    const long n_chunks = static_cast<long>(last - first);
    while (scratch_.size() < static_cast<std::size_t>(n_threads)) scratch_.push_back(std::make_unique<Scratch>());
#pragma omp parallel num_threads(n_threads)
    {
        Scratch& scratch = *scratch_[static_cast<std::size_t>(thread_index())];
#pragma omp for schedule(dynamic, 1)
        for (long c = 0; c < n_chunks; ++c) {
            const std::size_t r0 = std::max(row_begin, (first + c) * kMlpRowChunk);
            const std::size_t r1 = std::min(row_end, (first + c + 1) * kMlpRowChunk);
            run_chunk(net_, forward_, backward_, offset_, x, r0, r1 - r0, out, backward, scratch);
        }
    }
}

template class MlpPasses<float>;
template class MlpPasses<double>;

}  // namespace ntkfast
