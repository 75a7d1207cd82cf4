#include "row_dots.hpp"

#include <cstring>

namespace ntkfast {
namespace dots {
namespace {

// Row blocks per pass over the panels: about 240 rows of A, read for every panel.
constexpr std::size_t kGroupBlocks = 240 / kRows;

// Features per chunk over k: a panel's chunk (kChunk × kCols, 128 KiB) stays in L2 while the row
// blocks of a group pass over it; each chunk stores and reloads the accumulators once. Measured
// against OpenBLAS on a Zen 4 core: 16 KiB chunks (in L1) ran the backward pass's 1280 × 512 × 512
// products 1.4x slower than OpenBLAS in float64 (the accumulators of all rows went through
// memory once per chunk); from 64 KiB on, every shape ran at OpenBLAS's speed or faster.
template <class T> constexpr std::size_t kChunk = std::max<std::size_t>(16, 131072 / (kCols<T> * sizeof(T)));

using lanes::load;
using lanes::splat;
using lanes::store;
template <class T> using V = lanes::V<T>;
template <class T> constexpr std::size_t W = lanes::W<T>;

// One register block: c (kRows × kCols, row-major) = (first ? 0 : c) + Σ_k a_k ⊗ b_k over the
// chunk; a[r] points at row r's features of the chunk, b holds kc rows of kCols values. Every lane
// is one chain of multiply-adds in increasing k: the entry's value never depends on its lane,
// row or block. A is read in place (kRows streams of broadcasts): only B is packed.
template <class T>
void micro(std::size_t kc, const T* const* a, const T* __restrict b, bool first, T* __restrict c) {
    const T* __restrict ar[kRows];
    for (std::size_t r = 0; r < kRows; ++r) ar[r] = a[r];
    V<T> acc[kRows][kVecs];
    for (std::size_t r = 0; r < kRows; ++r)
        for (std::size_t u = 0; u < kVecs; ++u)
            acc[r][u] = first ? V<T>{} : load(c + r * kCols<T> + u * W<T>);
    for (std::size_t k = 0; k < kc; ++k) {
        V<T> bv[kVecs];
        for (std::size_t u = 0; u < kVecs; ++u) bv[u] = load(b + k * kCols<T> + u * W<T>);
        for (std::size_t r = 0; r < kRows; ++r) {
            const V<T> av = splat(ar[r][k]);
            for (std::size_t u = 0; u < kVecs; ++u) acc[r][u] += av * bv[u];
        }
    }
    for (std::size_t r = 0; r < kRows; ++r)
        for (std::size_t u = 0; u < kVecs; ++u) store(c + r * kCols<T> + u * W<T>, acc[r][u]);
}

}  // namespace

template <class T>
void Panels<T>::pack(const T* b, std::size_t ldb, bool b_rows, std::size_t n_cols, std::size_t k0,
                     std::size_t dep) {
    constexpr std::size_t nc = kCols<T>;
    n = n_cols;
    depth = dep;
    count = blocks(n, nc);
    data.assign(count * depth * nc, T(0));
    if (b_rows) {
        for (std::size_t j = 0; j < n; ++j) {
            T* d = data.data() + (j / nc) * depth * nc + j % nc;
            const T* s = b + j * ldb + k0;
            for (std::size_t k = 0; k < depth; ++k) d[k * nc] = s[k];
        }
        return;
    }
    for (std::size_t q = 0; q < count; ++q) {
        const std::size_t width = std::min(nc, n - q * nc);
        for (std::size_t k = 0; k < depth; ++k)
            std::memcpy(data.data() + (q * depth + k) * nc, b + (k0 + k) * ldb + q * nc, width * sizeof(T));
    }
}

template <class T>
template <class PanelAt>
void RowDots<T>::run(std::size_t K, const T* a, std::size_t lda, std::ptrdiff_t below,
                     PanelAt&& panel_at) {
    constexpr std::size_t block = kRows * kCols<T>;
    const std::size_t m = layout_.m, row_blocks = layout_.row_blocks, panels = layout_.panels;
    if (c_.size() < layout_.size()) c_.resize(layout_.size());
    if (K == 0) {
        std::fill(c_.begin(), c_.begin() + layout_.size(), T(0));
        return;
    }
    // Block (p, q) is skipped when its last column lies more than `below` before its first row.
    auto skipped = [&](std::size_t p, std::size_t q) {
        return below >= 0 && std::ptrdiff_t((q + 1) * kCols<T>) + below <= std::ptrdiff_t(p * kRows);
    };
    if (zeros_.size() < K) zeros_.assign(K, T(0));  // the rows beyond m
    const std::size_t chunk = kChunk<T>;
    for (std::size_t k0 = 0; k0 < K; k0 += chunk) {
        const std::size_t kc = std::min(chunk, K - k0);
        for (std::size_t g0 = 0; g0 < row_blocks; g0 += kGroupBlocks) {
            const std::size_t g1 = std::min(row_blocks, g0 + kGroupBlocks);
            for (std::size_t q = 0; q < panels; ++q) {
                const T* bq = panel_at(q, k0, kc);
                for (std::size_t p = g0; p < g1; ++p) {
                    if (skipped(p, q)) continue;
                    const T* rows[kRows];
                    for (std::size_t r = 0; r < kRows; ++r) {
                        const std::size_t i = p * kRows + r;
                        rows[r] = (i < m ? a + i * lda : zeros_.data()) + k0;
                    }
                    micro(kc, rows, bq, k0 == 0, c_.data() + (p * panels + q) * block);
                }
            }
        }
    }
}

template <class T>
void RowDots<T>::rows(std::size_t m, std::size_t n, std::size_t K, const T* a, std::size_t lda,
                      const T* b, std::size_t ldb, std::ptrdiff_t below) {
    layout_ = Layout<T>(m, n);
    std::size_t packed_k0 = K;  // the chunk b_pack_ holds
    run(K, a, lda, below, [&](std::size_t q, std::size_t k0, std::size_t kc) {
        if (packed_k0 != k0) {
            b_pack_.pack(b, ldb, true, n, k0, kc);
            packed_k0 = k0;
        }
        return b_pack_.panel(q);
    });
}

template <class T>
void RowDots<T>::packed(std::size_t m, std::size_t K, const T* a, std::size_t lda, const Panels<T>& b) {
    layout_ = Layout<T>(m, b.n);
    run(K, a, lda, -1, [&](std::size_t q, std::size_t k0, std::size_t) {
        return b.panel(q) + k0 * kCols<T>;
    });
}

template <class T>
void RowDots<T>::store_row(std::size_t i, T alpha, const T* offset, T* dst) const {
    T tmp[kCols<T>];
    for (std::size_t q = 0; q < layout_.panels; ++q) {
        const T* src = c_.data() + layout_.index(i, q * kCols<T>);
        for (std::size_t u = 0; u < kVecs; ++u) {
            V<T> v = load(src + u * W<T>);
            if (offset) v = v * splat(alpha) + load(offset + q * kCols<T> + u * W<T>);
            else if (alpha != T(1)) v = v * splat(alpha);
            store(tmp + u * W<T>, v);
        }
        std::memcpy(dst + q * kCols<T>, tmp, std::min(kCols<T>, layout_.n - q * kCols<T>) * sizeof(T));
    }
}

template <class T>
void products(std::size_t m, std::size_t n, std::size_t K, T alpha, const T* a, std::size_t lda,
              const T* b, std::size_t ldb, bool b_rows, const T* offset, T* out, int n_threads) {
    constexpr std::size_t chunk = kGroupBlocks * kRows;
    Panels<T> panels;
    panels.pack(b, ldb, b_rows, n, 0, K);
    std::vector<T> off;
    if (offset) {
        off.assign(panels.count * kCols<T>, T(0));
        std::copy(offset, offset + n, off.begin());
    }
    const long n_chunks = static_cast<long>(blocks(m, chunk));
#pragma omp parallel num_threads(n_threads)
    {
        RowDots<T> dots;
#pragma omp for schedule(dynamic, 1)
        for (long c = 0; c < n_chunks; ++c) {
            const std::size_t r0 = static_cast<std::size_t>(c) * chunk, rows = std::min(chunk, m - r0);
            dots.packed(rows, K, a + r0 * lda, lda, panels);
            for (std::size_t r = 0; r < rows; ++r)
                dots.store_row(r, alpha, offset ? off.data() : nullptr, out + (r0 + r) * n);
        }
    }
}

template void products<float>(std::size_t, std::size_t, std::size_t, float, const float*,
                              std::size_t, const float*, std::size_t, bool, const float*, float*, int);
template void products<double>(std::size_t, std::size_t, std::size_t, double, const double*,
                               std::size_t, const double*, std::size_t, bool, const double*,
                               double*, int);
template struct Panels<float>;
template struct Panels<double>;
template class RowDots<float>;
template class RowDots<double>;

}  // namespace dots
}  // namespace ntkfast
