#include "empirical_gram.hpp"

#include <algorithm>
#include <numeric>

#include "lane_ops.hpp"
#include "row_dots.hpp"
#include "threading.hpp"

namespace ntkfast {

namespace {

// Points per side of an output tile: about 256 (256×256×1024 dot products run near peak and fit
// in L2), a whole number of register blocks both ways so that little of a tile is padding.
template <class T> std::size_t tile_side() {
    constexpr std::size_t target = 256;
    const std::size_t unit = std::lcm(dots::kRows, dots::kCols<T>);
    return std::max(unit, (target + unit / 2) / unit * unit);
}

template <class T>
std::size_t tile_points(NtkOutput mode, std::size_t n_out, bool diagonal_only) {
    // The per-point diagonal needs one register block of rows per tile, no more: its tiles are
    // computed for their diagonal only.
    const std::size_t side = diagonal_only ? dots::kRows : tile_side<T>();
    // In "full" mode the δ·δ' products of a tile have points·n_L rows and columns.
    return mode == NtkOutput::Full ? std::max<std::size_t>(1, side / n_out) : side;
}

}  // namespace

template <class T>
struct EmpiricalGram<T>::Scratch {
    dots::RowDots<T> ga, gd;   // a·a' and δ·δ' of the current layer
    dots::Layout<T> la, lt;    // entries (i, j) of the tile; entries of a term plane
    std::size_t mi = 0, mj = 0, planes = 1, plane = 0;
    // In lt's layout, `planes` planes of `plane` values (one per output k in "diagonal" mode):
    // h = s_w² a·a' + s_b² (la), hx (h repeated over (k, k') in "full" mode), this layer's
    // term, and the sum over layers.
    std::vector<T> h, hx, term, acc, vals;
    // Offsets of rows and columns in la (entries i, j) and in lt (rows i·n_L + k, columns
    // j·n_L + k' in "full" mode; the same as la otherwise).
    std::vector<std::size_t> row_a, col_a, row_t, col_t;

    void set_layouts(std::size_t rows, std::size_t cols, std::size_t expand) {
        mi = rows;
        mj = cols;
        la = dots::Layout<T>(mi, mj);
        lt = dots::Layout<T>(mi * expand, mj * expand);
        auto table = [](std::vector<std::size_t>& t, std::size_t n, auto&& offset) {
            t.resize(n);
            for (std::size_t i = 0; i < n; ++i) t[i] = offset(i);
        };
        table(row_a, mi, [&](std::size_t i) { return la.row_offset(i); });
        table(col_a, mj, [&](std::size_t j) { return la.column_offset(j); });
        table(row_t, mi * expand, [&](std::size_t i) { return lt.row_offset(i); });
        table(col_t, mj * expand, [&](std::size_t j) { return lt.column_offset(j); });
    }
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
    tile_ = tile_points<T>(mode_, n_out_, block_.diagonal_only);
    const std::size_t tp = (s1_.rows + tile_ - 1) / tile_, tq = (s2_.rows + tile_ - 1) / tile_;
    for (std::size_t p = 0; p < tp; ++p) {
        if (block_.diagonal_only) {
            tiles_.emplace_back(p, p);
            continue;
        }
        for (std::size_t q = block_.same_rows ? p : 0; q < tq; ++q) tiles_.emplace_back(p, q);
    }
}

template <class T>
EmpiricalGram<T>::~EmpiricalGram() = default;

template <class T>
void EmpiricalGram<T>::run(std::size_t begin, std::size_t end, int n_threads) const {
    const long count = static_cast<long>(end - begin);
    // Scratch lives as long as the object: fresh buffers for every chunk of tiles were fresh
    // pages for the kernel to zero, a large share of the time in "full" mode.
    while (scratch_.size() < static_cast<std::size_t>(n_threads)) scratch_.push_back(std::make_unique<Scratch>());
#pragma omp parallel num_threads(n_threads)
    {
        Scratch& s = *scratch_[static_cast<std::size_t>(thread_index())];
#pragma omp for schedule(dynamic, 1)
        for (long t = 0; t < count; ++t) run_tile(tiles_[begin + t].first, tiles_[begin + t].second, s);
    }
}

// Writes the kk values of entry (gi, gj), and with mirroring their transpose at (gj, gi). On the
// diagonal of a symmetric block (self) only k <= k' is taken: it is written to both places.
template <class T>
void EmpiricalGram<T>::put(T* base, std::size_t gi, std::size_t gj, const T* v, bool self) const {
    // diagonal_only: one entry per point, at gi (== gj).
    const std::size_t row = target_.n2 * kk_;
    T* d = block_.diagonal_only ? base + gi * kk_ : base + gi * row + gj * kk_;
    T* m = block_.diagonal_only ? d : base + gj * row + gi * kk_;
    if (mode_ != NtkOutput::Full) {
        std::copy(v, v + kk_, d);
        if (block_.mirror && !self) std::copy(v, v + kk_, m);
        return;
    }
    const std::size_t no = n_out_;
    for (std::size_t k = 0; k < no; ++k)
        for (std::size_t k2 = self ? k : 0; k2 < no; ++k2) {
            d[k * no + k2] = v[k * no + k2];
            if (block_.mirror || self) m[k2 * no + k] = v[k * no + k2];
        }
}

// The computed entries of the tile (the upper triangle on a diagonal tile, the diagonal alone
// for diagonal_only) from `vals` in the planes' layout into base.
template <class T>
void EmpiricalGram<T>::store_tile(T* base, std::size_t ib, std::size_t jb, bool diag,
                                  const T* vals, Scratch& s) const {
    const std::size_t no = n_out_;
    s.vals.resize(kk_);
    T* v = s.vals.data();
    for (std::size_t i = 0; i < s.mi; ++i) {
        const std::size_t j_begin = diag ? i : 0, j_end = block_.diagonal_only ? i + 1 : s.mj;
        for (std::size_t j = j_begin; j < j_end; ++j) {
            if (mode_ == NtkOutput::Trace) {
                v[0] = vals[s.row_a[i] + s.col_a[j]];
            } else if (mode_ == NtkOutput::Diagonal) {
                for (std::size_t k = 0; k < no; ++k) v[k] = vals[k * s.plane + s.row_a[i] + s.col_a[j]];
            } else {
                for (std::size_t k = 0; k < no; ++k) {
                    const T* row = vals + s.row_t[i * no + k];
                    const std::size_t* cols = s.col_t.data() + j * no;
                    for (std::size_t k2 = 0; k2 < no; ++k2) v[k * no + k2] = row[cols[k2]];
                }
            }
            put(base, block_.i0 + ib + i, block_.j0 + jb + j, v, diag && i == j);
        }
    }
}

// Layer l's term of every entry of the tile into s.term.
template <class T>
void EmpiricalGram<T>::layer_term(std::size_t l, std::size_t ib, std::size_t jb, bool diag,
                                  Scratch& s) const {
    const std::size_t L = widths_.size() - 1, no = n_out_, nl = widths_[l];
    const std::size_t mi = s.mi, mj = s.mj;
    // A diagonal tile needs j >= i only: register blocks wholly below the diagonal are skipped.
    const std::ptrdiff_t below = diag ? 0 : -1;
    s.ga.rows(mi, mj, nl, s1_.act[l] + ib * nl, nl, s2_.act[l] + jb * nl, nl, below);
    const T sw2 = weight_scale_[l] * weight_scale_[l];
    lanes::affine(s.la.size(), s.ga.data(), sw2, bias_var_, s.h.data());
    T* term = s.term.data();
    const bool full = mode_ == NtkOutput::Full;
    // h repeated over (k, k') in the layout of the δ·δ' products of "full" mode (k == k' only
    // for the last layer, whose δ_k·δ_k' is [k == k']).
    auto expand = [&](T* dst, bool identity) {
        if (identity) std::fill(dst, dst + s.plane, T(0));
        for (std::size_t i = 0; i < mi; ++i) {
            const T* h_row = s.h.data() + s.row_a[i];
            for (std::size_t k = 0; k < no; ++k) {
                T* row = dst + s.row_t[i * no + k];
                for (std::size_t j = 0; j < mj; ++j) {
                    const T hv = h_row[s.col_a[j]];
                    const std::size_t* cols = s.col_t.data() + j * no;
                    if (identity) row[cols[k]] = hv;
                    else
                        for (std::size_t k2 = 0; k2 < no; ++k2) row[cols[k2]] = hv;
                }
            }
        }
    };
    if (l + 1 == L) {  // δ^(L-1)_k = e_k: the term is h ⊗ Id
        if (full) expand(term, true);
        else
            for (std::size_t k = 0; k < s.planes; ++k) std::copy(s.h.begin(), s.h.end(), term + k * s.plane);
        return;
    }
    const std::size_t w = widths_[l + 1], dstride = no * w;
    const T* d1 = s1_.delta[l] + ib * dstride;
    const T* d2 = s2_.delta[l] + jb * dstride;
    if (mode_ == NtkOutput::Trace) {  // mean over k of δ_k·δ_k': one product of width n_L·n
        s.gd.rows(mi, mj, dstride, d1, dstride, d2, dstride, below);
        lanes::scaled_product(s.plane, s.h.data(), s.gd.data(), T(1) / T(no), term);
    } else if (mode_ == NtkOutput::Diagonal) {  // one output k at a time, rows strided
        for (std::size_t k = 0; k < no; ++k) {
            s.gd.rows(mi, mj, w, d1 + k * w, dstride, d2 + k * w, dstride, below);
            lanes::product(s.plane, s.h.data(), s.gd.data(), term + k * s.plane);
        }
    } else {  // rows (i, k) against rows (j, k'); on a diagonal tile j >= i means c >= r - (n_L - 1)
        s.gd.rows(mi * no, mj * no, w, d1, w, d2, w, diag ? std::ptrdiff_t(no - 1) : -1);
        expand(s.hx.data(), false);
        lanes::product(s.plane, s.hx.data(), s.gd.data(), term);
    }
}

template <class T>
void EmpiricalGram<T>::run_tile(std::size_t p, std::size_t q, Scratch& s) const {
    const std::size_t ib = p * tile_, jb = q * tile_;
    const bool diag = block_.same_rows && p == q;  // only the upper triangle is computed
    const bool full = mode_ == NtkOutput::Full;
    const std::size_t L = widths_.size() - 1, no = n_out_;
    s.set_layouts(std::min(tile_, s1_.rows - ib), std::min(tile_, s2_.rows - jb), full ? no : 1);
    s.planes = mode_ == NtkOutput::Diagonal ? no : 1;
    s.plane = s.lt.size();
    s.h.resize(s.la.size());
    if (full) s.hx.resize(s.plane);
    s.term.resize(s.planes * s.plane);
    s.acc.assign(s.planes * s.plane, T(0));
    for (std::size_t l = 0; l < L; ++l) {
        layer_term(l, ib, jb, diag, s);
        // The term is rounded before it is added (never fused into the sum), so the layers'
        // terms add up to the total exactly as they do in a sum over layers.
        lanes::add(s.acc.size(), s.acc.data(), s.term.data());
        if (target_.layers) {
            const std::size_t layer_size = target_.n1 * (block_.diagonal_only ? 1 : target_.n2) * kk_;
            store_tile(target_.layers + l * layer_size, ib, jb, diag, s.term.data(), s);
        }
    }
    store_tile(target_.out, ib, jb, diag, s.acc.data(), s);
}

template class EmpiricalGram<float>;
template class EmpiricalGram<double>;

}  // namespace ntkfast
