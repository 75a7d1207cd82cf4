#include "empirical_gram.hpp"

#include <algorithm>

#include "blas.hpp"

namespace ntkfast {

namespace {
constexpr std::size_t kTileRows = 256;  // 256×256×1024 products run BLAS near peak, fit in L2
}

std::size_t empirical_tile_rows(NtkOutput mode, std::size_t n_out) {
    if (mode != NtkOutput::Full) return kTileRows;
    return std::max<std::size_t>(1, kTileRows / n_out);
}

template <class T>
struct EmpiricalGram<T>::Scratch {
    std::vector<T> ga, gd, acc, term;
};

template <class T>
EmpiricalGram<T>::EmpiricalGram(std::vector<std::size_t> widths, std::vector<T> weight_scale,
                                T bias_scale, NtkOutput mode, FeatureSet<T> set1,
                                FeatureSet<T> set2, GramTarget<T> target, GramBlock block)
    : widths_(std::move(widths)), weight_scale_(std::move(weight_scale)),
      bias_var_(bias_scale * bias_scale), mode_(mode), s1_(std::move(set1)), s2_(std::move(set2)),
      target_(target), block_(block) {
    n_out_ = widths_.back();
    kk_ = mode_ == NtkOutput::Trace ? 1 : mode_ == NtkOutput::Diagonal ? n_out_ : n_out_ * n_out_;
    tile_ = empirical_tile_rows(mode_, n_out_);
    const std::size_t tp = (s1_.rows + tile_ - 1) / tile_, tq = (s2_.rows + tile_ - 1) / tile_;
    for (std::size_t p = 0; p < tp; ++p)
        for (std::size_t q = block_.same_rows ? p : 0; q < tq; ++q) tiles_.emplace_back(p, q);
}

template <class T>
void EmpiricalGram<T>::run(std::size_t begin, std::size_t end, int n_threads) const {
    const long count = static_cast<long>(end - begin);
#pragma omp parallel num_threads(n_threads)
    {
        Scratch s;
#pragma omp for schedule(dynamic, 1)
        for (long t = 0; t < count; ++t) run_tile(tiles_[begin + t].first, tiles_[begin + t].second, s);
    }
}

// Writes the kk values of entry (gi, gj), and with mirroring their transpose at (gj, gi). On the
// diagonal of a symmetric block (self) only k <= k' is valid: it is written to both places.
template <class T>
void EmpiricalGram<T>::put(T* base, std::size_t gi, std::size_t gj, const T* v, bool self) const {
    const std::size_t row = target_.n2 * kk_;
    T* d = base + gi * row + gj * kk_;
    T* m = base + gj * row + gi * kk_;
    if (mode_ != NtkOutput::Full) {
        std::copy(v, v + kk_, d);
        if (block_.mirror && !self) std::copy(v, v + kk_, m);
        return;
    }
    const std::size_t no = n_out_;
    for (std::size_t k = 0; k < no; ++k)
        for (std::size_t k2 = self ? k : 0; k2 < no; ++k2) {
            d[k * no + k2] = v[k * no + k2];
            if (block_.mirror) m[k2 * no + k] = v[k * no + k2];
        }
}

template <class T>
void EmpiricalGram<T>::store_tile(T* base, std::size_t ib, std::size_t jb, std::size_t mi,
                                  std::size_t mj, bool diag, const T* vals) const {
    for (std::size_t i = 0; i < mi; ++i)
        for (std::size_t j = diag ? i : 0; j < mj; ++j)
            put(base, block_.i0 + ib + i, block_.j0 + jb + j, vals + (i * mj + j) * kk_,
                diag && i == j);
}

template <class T>
void EmpiricalGram<T>::run_tile(std::size_t p, std::size_t q, Scratch& s) const {
    const std::size_t ib = p * tile_, jb = q * tile_;
    const std::size_t mi = std::min(tile_, s1_.rows - ib), mj = std::min(tile_, s2_.rows - jb);
    const bool diag = block_.same_rows && p == q;  // only the upper triangle is computed
    const std::size_t L = widths_.size() - 1, no = n_out_, kk = kk_;
    const bool full = mode_ == NtkOutput::Full;
    const std::size_t gd_cols = full ? mj * no : mj;
    s.ga.resize(mi * mj);
    s.gd.resize((full ? mi * no : mi) * gd_cols);
    s.term.resize(mi * mj * kk);
    s.acc.assign(mi * mj * kk, T(0));

    // C = alpha · X1 X2ᵀ over rows of the two sets (upper triangle only on diagonal tiles).
    auto gram = [&](std::size_t m, std::size_t n, std::size_t k, T alpha, const T* x1,
                    const T* x2, std::size_t ld, T* c, std::size_t ldc) {
        if (diag) blas::syrk_upper(m, k, alpha, x1, ld, T(0), c, ldc);
        else blas::gemm(true, m, n, k, alpha, x1, ld, x2, ld, T(0), c, ldc);
    };
    // Visits the computed entries (i, j) of the tile with h = s_w² a·a' + s_b².
    auto each_entry = [&](auto&& f) {
        for (std::size_t i = 0; i < mi; ++i)
            for (std::size_t j = diag ? i : 0; j < mj; ++j)
                f(i * mj + j, i, j, s.ga[i * mj + j] + bias_var_);
    };

    for (std::size_t l = 0; l < L; ++l) {
        const std::size_t nl = widths_[l];
        const T sw2 = weight_scale_[l] * weight_scale_[l];
        gram(mi, mj, nl, sw2, s1_.act[l] + ib * nl, s2_.act[l] + jb * nl, nl, s.ga.data(), mj);
        T* term = s.term.data();
        if (l + 1 == L) {  // δ^(L-1)_k = e_k: the term is h ⊗ Id
            each_entry([&](std::size_t e, std::size_t, std::size_t, T h) {
                T* t = term + e * kk;
                if (full) {
                    std::fill(t, t + kk, T(0));
                    for (std::size_t k = 0; k < no; ++k) t[k * no + k] = h;
                } else {
                    std::fill(t, t + kk, h);
                }
            });
        } else {
            const std::size_t w = widths_[l + 1], dstride = no * w;
            const T* d1 = s1_.delta[l] + ib * dstride;
            const T* d2 = s2_.delta[l] + jb * dstride;
            const T* gd = s.gd.data();
            if (mode_ == NtkOutput::Trace) {  // mean over k of δ_k·δ_k': one product of width n_L·n
                gram(mi, mj, dstride, T(1) / T(no), d1, d2, dstride, s.gd.data(), mj);
                each_entry([&](std::size_t e, std::size_t, std::size_t, T h) { term[e] = h * gd[e]; });
            } else if (mode_ == NtkOutput::Diagonal) {  // one output k at a time, rows strided
                for (std::size_t k = 0; k < no; ++k) {
                    gram(mi, mj, w, T(1), d1 + k * w, d2 + k * w, dstride, s.gd.data(), mj);
                    each_entry([&](std::size_t e, std::size_t, std::size_t, T h) {
                        term[e * no + k] = h * gd[e];
                    });
                }
            } else {  // rows (i, k) against rows (j, k')
                gram(mi * no, mj * no, w, T(1), d1, d2, w, s.gd.data(), gd_cols);
                each_entry([&](std::size_t e, std::size_t i, std::size_t j, T h) {
                    T* t = term + e * kk;
                    for (std::size_t k = 0; k < no; ++k) {
                        const T* g = gd + (i * no + k) * gd_cols + j * no;
                        for (std::size_t k2 = 0; k2 < no; ++k2) t[k * no + k2] = h * g[k2];
                    }
                });
            }
        }
        each_entry([&](std::size_t e, std::size_t, std::size_t, T) {
            for (std::size_t k = 0; k < kk; ++k) s.acc[e * kk + k] += term[e * kk + k];
        });
        if (target_.layers)
            store_tile(target_.layers + l * target_.n1 * target_.n2 * kk, ib, jb, mi, mj, diag, term);
    }
    store_tile(target_.out, ib, jb, mi, mj, diag, s.acc.data());
}

template class EmpiricalGram<float>;
template class EmpiricalGram<double>;

}  // namespace ntkfast
