#include "infinite_width.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "dual_activations.hpp"
#include "tile_loops.hpp"
#include "transpose.hpp"

namespace ntkfast {

using namespace strip;

namespace {

template <class T> T point_aux(DualKind kind, T k) {
    switch (kind) {
        case DualKind::erf: return ErfDual<T>::point_aux(k);
        case DualKind::sin: return SinDual<T>::point_aux(k);
        case DualKind::elu: return EluDual<T>::point_aux(k);
        default: return T(0);
    }
}

}  // namespace

template <class T>
InfiniteWidthKernel<T>::InfiniteWidthKernel(const RecursionSpec& spec, std::ptrdiff_t n_features,
                                            const PointSet<T>& p1, const PointSet<T>& p2,
                                            bool symmetric, const SymmetricDiagonal<T>& diag,
                                            const KernelOutputs<T>& out, const PairState<T>& state)
    : spec_(spec), d_(n_features), p1_(p1), p2_(symmetric ? p1 : p2), symmetric_(symmetric),
      diag_(diag), out_(out), state_(state) {
    const std::ptrdiff_t L = spec_.depth;
    if (L < 1) throw std::invalid_argument("depth must be >= 1");
    if (d_ < 1) throw std::invalid_argument("n_features must be >= 1");
    if (spec_.first_layer < 0 || spec_.last_layer <= spec_.first_layer || spec_.last_layer > L)
        throw std::invalid_argument("need 0 <= first_layer < last_layer <= depth");
    from_inputs_ = spec_.first_layer == 0;
    final_ = spec_.last_layer == L;
    steps_ = spec_.last_layer - std::max(spec_.first_layer, 1);
    table_layers_ = steps_ + 1;
    layerwise_ = out_.sigma || out_.sigma_dot || out_.theta;
    if (layerwise_ && !(from_inputs_ && final_))
        throw std::invalid_argument("layerwise output needs a single pass over all layers");
    const bool gaps = carries_gaps(spec_.kind);
    if (!from_inputs_ && (!state_.k12 || !state_.theta || (gaps && (!state_.gap_minus || !state_.gap_plus))))
        throw std::invalid_argument("a pass that starts inside the network needs the state");
    if (!final_ && (!state_.k12 || !state_.theta || (gaps && (!state_.gap_minus || !state_.gap_plus))))
        throw std::invalid_argument("a pass that ends inside the network needs the state");
    // Whether this kernel writes outputs or state itself (not only tiles on request).
    const bool writes = out_.nngp || out_.ntk || layerwise_ || !final_;
    if (writes && symmetric_ && (out_.row_offset != 0 || out_.col_offset != 0 || out_.ld != p1_.n))
        throw std::invalid_argument("a symmetric Gram is computed whole");
    // Both factors of x·x' are scaled by σ_w/sqrt(n0) before the product (not the product
    // after): in float32 the sum of products could overflow where the kernel itself fits.
    feature_scale_ = T(std::sqrt(spec_.weight_var / double(d_)));
    weight_var_ = T(spec_.weight_var);
    bias_var_ = T(spec_.bias_var);

    const std::ptrdiff_t n2 = p2_.n;
    if (from_inputs_) {
        // kStripPad zero columns more per feature: the dot products of a padded strip read them.
        x2t_stride_ = n2 + kStripPad;
        x2t_.assign(std::size_t(d_ * x2t_stride_), T(0));
        for (std::ptrdiff_t j = 0; j < n2; ++j)
            for (std::ptrdiff_t k = 0; k < d_; ++k)
                x2t_[std::size_t(k * x2t_stride_ + j)] = p2_.x[j * d_ + k] * feature_scale_;
    }

    const T unit_scale = feature_scale_, unit_bias = std::sqrt(bias_var_);
    auto fill = [&](const PointSet<T>& p, PerPoint& pp) {
        const std::size_t size = std::size_t(table_layers_ * p.n);
        // kStripPad more: padded strips read past the last point (never stored).
        pp.r.assign(size + kStripPad, T(1));
        pp.ir.assign(size + kStripPad, T(1));
        pp.aux.assign(size + kStripPad, T(0));
        for (std::size_t q = 0; q < size; ++q) {
            const T k = p.sigma_diag[q];
            const T r = std::sqrt(k > T(0) ? k : T(0));
            pp.r[q] = r;
            pp.ir[q] = r > T(0) ? T(1) / r : T(0);
            pp.aux[q] = point_aux(spec_.kind, k);
        }
        if (from_inputs_ && gaps) {  // ũ = (σ_w x/sqrt(n0), β) / sqrt(Σ^(1)(x, x))
            const std::ptrdiff_t w = d_ + 1;
            pp.unit.resize(std::size_t(p.n * w));
            for (std::ptrdiff_t i = 0; i < p.n; ++i) {
                const T ir = pp.ir[std::size_t(i)];
                for (std::ptrdiff_t k = 0; k < d_; ++k)
                    pp.unit[std::size_t(i * w + k)] = p.x[i * d_ + k] * unit_scale * ir;
                pp.unit[std::size_t(i * w + d_)] = unit_bias * ir;
            }
        }
    };
    fill(p1_, pp1_);
    if (symmetric_) pp2_ = pp1_;
    else fill(p2_, pp2_);
    if (spec_.kind == DualKind::mehler && steps_ > 0) {  // E[φ'(u)] per point, padded like r
        const std::size_t size = std::size_t(steps_ * p2_.n);
        pp2_.d0.assign(size + kStripPad, T(0));
        std::copy(p2_.mehler_d0, p2_.mehler_d0 + size, pp2_.d0.begin());
    }

    if (spec_.kind == DualKind::mehler) {
        if (std::ptrdiff_t(spec_.mehler_terms.size()) != steps_)
            throw std::invalid_argument("mehler_terms must have one entry per layer step");
        mehler_first_term_.assign(std::size_t(steps_ + 1), 0);
        for (std::ptrdiff_t l = 0; l < steps_; ++l) {
            if (spec_.mehler_terms[std::size_t(l)] < 1)
                throw std::invalid_argument("every Mehler layer needs at least one term");
            mehler_first_term_[std::size_t(l + 1)] =
                mehler_first_term_[std::size_t(l)] + spec_.mehler_terms[std::size_t(l)];
        }
        if (spec_.mehler_step != 1 && spec_.mehler_step != 2)
            throw std::invalid_argument("mehler_step must be 1 or 2");
        if (std::ptrdiff_t(spec_.mehler_rho_limits.size()) != mehler_first_term_[std::size_t(steps_)])
            throw std::invalid_argument("mehler_rho_limits must have one entry per stored term");
    }

    const std::ptrdiff_t n1 = p1_.n;
    for (std::ptrdiff_t i0 = 0; writes && i0 < n1; i0 += kTileRows) {
        const std::ptrdiff_t i1 = std::min(n1, i0 + kTileRows);
        // Symmetric: only tiles that reach above the diagonal (some j > i).
        const std::ptrdiff_t jstart = symmetric_ ? (i0 + 1) / kTileCols * kTileCols : 0;
        for (std::ptrdiff_t j0 = jstart; j0 < n2; j0 += kTileCols) {
            const std::ptrdiff_t j1 = std::min(n2, j0 + kTileCols);
            if (symmetric_ && j1 <= i0 + 1) continue;
            tiles_.push_back({i0, i1, j0, j1});
        }
    }
}

template <class T>
InfiniteWidthKernel<T>::InfiniteWidthKernel(const RecursionSpec& spec, std::ptrdiff_t n_features,
                                            const PointSet<T>& p1, const PointSet<T>& p2,
                                            bool symmetric, const SymmetricDiagonal<T>& diag)
    : InfiniteWidthKernel(spec, n_features, p1, p2, symmetric, diag, KernelOutputs<T>{},
                          PairState<T>{}) {
    if (!from_inputs_ || !final_)
        throw std::invalid_argument("tiles are computed in one pass from the inputs to the last layer");
    tiles_only_ = true;
}

template <class T>
void InfiniteWidthKernel<T>::first_layer(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n,
                                         T* k12) const {
    const T* xi = p1_.x + i * d_;
    // Fixed summation order over features for every entry, and whole blocks of four vectors
    // (padded columns are zeros): every entry takes the same instructions wherever it sits, so
    // tiling cannot change the result. The accumulators stay in registers across the features.
    using V = typename Vec32<T>::type;
    constexpr std::ptrdiff_t W = Vec32<T>::lanes;
    for (std::ptrdiff_t jb = 0; jb < padded(n); jb += 4 * W) {
        V acc[4] = {};
        const T* col = x2t_.data() + j0 + jb;
        for (std::ptrdiff_t k = 0; k < d_; ++k) {
            const V xik = V{} + xi[k] * feature_scale_;
            const T* row = col + k * x2t_stride_;
            for (int u = 0; u < 4; ++u) {
                V r;
                std::memcpy(&r, row + u * W, sizeof(V));
                acc[u] += xik * r;
            }
        }
        std::memcpy(k12 + jb, acc, sizeof(acc));
    }
#pragma omp simd
    for (std::ptrdiff_t jj = 0; jj < padded(n); ++jj) k12[jj] += bias_var_;
}

// Near ρ = ±1 the first-layer gaps come from the distance between the normalised inputs, not
// from the rounded dot product (whose arccos would lose half the digits); elsewhere 1 ∓ ρ loses
// nothing. There k12 itself is also taken as ±sqrt(k11 k22)(1 − gap): a few roundings against
// the dot product's error, which grows with the number of features (duplicated rows of a cross
// call then agree with the symmetric Gram's exact diagonal to a few ulps). Rare for most data, so
// a scalar loop is fine. The distance is summed in double.
template <class T>
void InfiniteWidthKernel<T>::first_gaps(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n,
                                        T* k12, T* gm, T* gp) const {
    constexpr T kNear = T(0.9);
    const T iri = pp1_.ir[std::size_t(i)];
    const T* irj = pp2_.ir.data() + j0;
    const std::ptrdiff_t w = d_ + 1;
    const T* ui = pp1_.unit.data() + i * w;
    for (std::ptrdiff_t jj = 0; jj < n; ++jj) {
        const T rho = clamp_unit(k12[jj] * iri * irj[jj]);
        if (rho >= -kNear && rho <= kNear) {
            gm[jj] = T(1) - rho;
            gp[jj] = T(1) + rho;
            continue;
        }
        const T* uj = pp2_.unit.data() + (j0 + jj) * w;
        const double sign = rho > T(0) ? -1.0 : 1.0;
        double acc = 0.0;
        for (std::ptrdiff_t k = 0; k < w; ++k) {
            const double v = double(ui[k]) + sign * double(uj[k]);
            acc += v * v;
        }
        const T half = clamp_gap(T(0.5 * acc));  // |ũ ∓ ũ'|²/2 = 1 ∓ ρ
        gm[jj] = rho > T(0) ? half : T(2) - half;
        gp[jj] = rho > T(0) ? T(2) - half : half;
        const T rr = pp1_.r[std::size_t(i)] * pp2_.r[std::size_t(j0 + jj)];
        k12[jj] = rho > T(0) ? rr * (T(1) - half) : -(rr * (T(1) - half));
    }
}

template <class T>
template <bool Layerwise, bool Gaps>
void InfiniteWidthKernel<T>::begin_row(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n, T* k12,
                                       T* sdot, T* theta, T* gm, T* gp) const {
    if (from_inputs_) {
        first_layer(i, j0, n, k12);
        if constexpr (Gaps) first_gaps(i, j0, n, k12, gm, gp);
        std::copy(k12, k12 + n, theta);  // Θ^(1) = Σ^(1)
        if constexpr (Layerwise) store(0, i, j0, n, k12, sdot, theta);
        return;
    }
    const std::ptrdiff_t base = at(i, j0);
    std::copy(state_.k12 + base, state_.k12 + base + n, k12);
    std::copy(state_.theta + base, state_.theta + base + n, theta);
    if constexpr (Gaps) {
        std::copy(state_.gap_minus + base, state_.gap_minus + base + n, gm);
        std::copy(state_.gap_plus + base, state_.gap_plus + base + n, gp);
    }
}

template <class T>
template <bool Gaps>
void InfiniteWidthKernel<T>::end_row(std::ptrdiff_t i, std::ptrdiff_t j0, std::ptrdiff_t n,
                                     const T* k12, const T* theta, const T* gm, const T* gp,
                                     const TileTarget* target) const {
    if (target) {
        const T* v = target->ntk ? theta : k12;
        std::copy(v, v + n, target->out + (i - target->i0) * target->ld + (j0 - target->j0));
        return;
    }
    const std::ptrdiff_t base = at(i, j0);
    if (final_) {
        if (out_.nngp) std::copy(k12, k12 + n, out_.nngp + base);
        if (out_.ntk) std::copy(theta, theta + n, out_.ntk + base);
        return;
    }
    std::copy(k12, k12 + n, state_.k12 + base);
    std::copy(theta, theta + n, state_.theta + base);
    if constexpr (Gaps) {
        std::copy(gm, gm + n, state_.gap_minus + base);
        std::copy(gp, gp + n, state_.gap_plus + base);
    }
}

template <class T>
void InfiniteWidthKernel<T>::store(std::ptrdiff_t layer, std::ptrdiff_t i, std::ptrdiff_t j0,
                                   std::ptrdiff_t n, const T* k12, const T* sdot,
                                   const T* theta) const {
    const std::ptrdiff_t n1 = p1_.n, n2 = p2_.n;
    const std::ptrdiff_t base = (layer * n1 + i) * n2 + j0;
    if (out_.sigma) std::copy(k12, k12 + n, out_.sigma + base);
    if (out_.theta) std::copy(theta, theta + n, out_.theta + base);
    if (out_.sigma_dot && layer > 0)
        std::copy(sdot, sdot + n, out_.sigma_dot + ((layer - 1) * n1 + i) * n2 + j0);
}

template <class T>
template <class Dual, bool Layerwise>
void InfiniteWidthKernel<T>::run_tile(const Dual& dual, const Tile& t,
                                      const TileTarget* target) const {
    constexpr bool Gaps = Dual::kGaps;
    alignas(64) T k12[kTileCols];
    alignas(64) T theta[kTileCols];
    alignas(64) T sdot[kTileCols];
    alignas(64) T gm[kTileCols];
    alignas(64) T gp[kTileCols];
    const std::ptrdiff_t n1 = p1_.n, n2 = p2_.n;
    const T wv = weight_var_, bv = bias_var_;
    for (std::ptrdiff_t i = t.i0; i < t.i1; ++i) {
        const std::ptrdiff_t j0 = symmetric_ ? std::max(t.j0, i + 1) : t.j0;
        const std::ptrdiff_t n = t.j1 - j0;
        if (n <= 0) continue;
        begin_row<Layerwise, Gaps>(i, j0, n, k12, sdot, theta, gm, gp);
        const std::ptrdiff_t n_pad = padded(n);
        for (std::ptrdiff_t jj = n; jj < n_pad; ++jj) {  // lanes past the row: harmless values
            k12[jj] = theta[jj] = sdot[jj] = T(0);
            gm[jj] = gp[jj] = T(1);
        }
        for (std::ptrdiff_t l = 0; l < steps_; ++l) {
            const std::size_t pi = std::size_t(l * n1 + i), pj = std::size_t(l * n2 + j0);
            const T ri = pp1_.r[pi], iri = pp1_.ir[pi], ai = pp1_.aux[pi];
            const T* rj = pp2_.r.data() + pj;
            const T* irj = pp2_.ir.data() + pj;
            const T* aj = pp2_.aux.data() + pj;
            if constexpr (Gaps) {
                // Roots of the next layer's variances, for the next gaps.
                const std::size_t qi = pi + std::size_t(n1), qj = pj + std::size_t(n2);
                const T rni = pp1_.r[qi], irni = pp1_.ir[qi];
                const T* rnj = pp2_.r.data() + qj;
                const T* irnj = pp2_.ir.data() + qj;
                gap_strip(dual, n_pad, k12, theta, sdot, gm, gp, ri, iri, ai, rj, irj, aj, rni,
                          irni, rnj, irnj, wv, bv);
            } else {
#pragma omp simd
                for (std::ptrdiff_t jj = 0; jj < n_pad; ++jj) {
                    T e, ed;
                    dual(k12[jj], ri, iri, ai, rj[jj], irj[jj], aj[jj], e, ed);
                    advance(e, ed, wv, bv, k12[jj], theta[jj], sdot[jj]);
                }
            }
            if constexpr (Layerwise) store(l + 1, i, j0, n, k12, sdot, theta);
        }
        end_row<Gaps>(i, j0, n, k12, theta, gm, gp, target);
    }
}

template <class T>
template <bool Layerwise>
void InfiniteWidthKernel<T>::run_tile_mehler(const Tile& t, const TileTarget* target) const {
    alignas(64) T k12[kTileCols];
    alignas(64) T theta[kTileCols];
    alignas(64) T sdot[kTileCols];
    alignas(64) T rho[kTileCols];
    alignas(64) T z[kTileCols];
    alignas(64) T f[kTileCols];
    alignas(64) T g[kTileCols];
    alignas(64) T q[kTileCols];
    const std::ptrdiff_t n1 = p1_.n, n2 = p2_.n;
    const T wv = weight_var_, bv = bias_var_;
    const int offset = spec_.mehler_offset, step = spec_.mehler_step;
    constexpr std::ptrdiff_t B = kBlock<T>;
    static_assert(kStripPad % kBlock<T> == 0, "strips are whole register blocks");
    // The coefficients of a row's last block, copied with zeros past the row's end: the block
    // reads whole vectors and x2's coefficient table ends at its last point.
    std::vector<T> last_block(std::size_t(B) * std::size_t(spec_.mehler_terms.empty() ? 1 :
        *std::max_element(spec_.mehler_terms.begin(), spec_.mehler_terms.end())));
    for (std::ptrdiff_t i = t.i0; i < t.i1; ++i) {
        const std::ptrdiff_t j0 = symmetric_ ? std::max(t.j0, i + 1) : t.j0;
        const std::ptrdiff_t n = t.j1 - j0;
        if (n <= 0) continue;
        begin_row<Layerwise, false>(i, j0, n, k12, sdot, theta, nullptr, nullptr);
        const std::ptrdiff_t n_pad = padded(n);
        for (std::ptrdiff_t jj = n; jj < n_pad; ++jj) k12[jj] = theta[jj] = sdot[jj] = T(0);
        for (std::ptrdiff_t l = 0; l < steps_; ++l) {
            const std::ptrdiff_t terms = spec_.mehler_terms[std::size_t(l)];
            const T* a = p1_.mehler_coef + mehler_first_term_[std::size_t(l)] * n1 + i;
            const T* b = p2_.mehler_coef + mehler_first_term_[std::size_t(l)] * n2 + j0;
            const T iri = pp1_.ir[std::size_t(l * n1 + i)];
            const T* irj = pp2_.ir.data() + l * n2 + j0;
            const T d0i = p1_.mehler_d0[l * n1 + i];
            const T* d0j = pp2_.d0.data() + l * n2 + j0;
            const double* rho_limit =
                spec_.mehler_rho_limits.data() + mehler_first_term_[std::size_t(l)];
#pragma omp simd
            for (std::ptrdiff_t jj = 0; jj < n; ++jj) {
                const T r = clamp_unit(k12[jj] * iri * irj[jj]);
                rho[jj] = r;
                z[jj] = step == 2 ? r * r : r;
            }
            // Lanes past the row repeat its last entry: they then widen no block's term range.
            for (std::ptrdiff_t jj = n; jj < n_pad; ++jj) {
                rho[jj] = rho[n - 1];
                z[jj] = z[n - 1];
            }
            // Horner for the series S(z) = Σ_m p_m z^m and its derivative S'(z) together,
            // with p_m = c_m(x) c_m(x') formed on the fly (never stored per pair). Each entry
            // stops at the number of terms its own |ρ| needs (ρ^n shrinks the terms
            // geometrically away from ρ = ±1); blocks of kBlock entries keep z, S and S' in
            // registers.
            for (std::ptrdiff_t jb = 0; jb < n_pad; jb += B) {
                T lo = std::abs(rho[jb]), hi = lo;
                for (std::ptrdiff_t u = 1; u < B; ++u) {
                    lo = std::min(lo, std::abs(rho[jb + u]));
                    hi = std::max(hi, std::abs(rho[jb + u]));
                }
                // The count is non-decreasing in |ρ|: two searches bound the block, and a lane's
                // own count is q_min plus the limits between them that its |ρ| exceeds.
                const std::ptrdiff_t q_min = terms_needed(rho_limit, terms, double(lo));
                const std::ptrdiff_t q_max = terms_needed(rho_limit, terms, double(hi));
                for (std::ptrdiff_t u = 0; u < B; ++u) q[jb + u] = T(q_min);
                for (std::ptrdiff_t k = q_min - 1; k < q_max - 1; ++k) {
                    const double limit = rho_limit[k];
                    for (std::ptrdiff_t u = 0; u < B; ++u)
                        q[jb + u] += double(std::abs(rho[jb + u])) > limit ? T(1) : T(0);
                }
                const T* bb = b + jb;
                std::ptrdiff_t stride = n2;
                if (jb + B > n) {
                    const std::ptrdiff_t valid = n - jb > 0 ? n - jb : 0;
                    for (std::ptrdiff_t m = 0; m < q_max; ++m) {
                        T* dst = last_block.data() + m * B;
                        std::fill(dst, dst + B, T(0));
                        std::copy(b + m * n2 + jb, b + m * n2 + jb + valid, dst);
                    }
                    bb = last_block.data();
                    stride = B;
                }
                horner_block<T>(a, n1, bb, stride, q + jb, q_min, q_max, z + jb, f + jb, g + jb);
            }
#pragma omp simd
            for (std::ptrdiff_t jj = 0; jj < n_pad; ++jj) {
                const T r = rho[jj];
                T e, fp;
                if (step == 1) {  // F(ρ) = S(ρ)
                    e = f[jj];
                    fp = g[jj];
                } else if (offset == 1) {  // odd: F = ρ S(ρ²), F' = S + 2ρ² S'
                    e = r * f[jj];
                    fp = f[jj] + T(2) * z[jj] * g[jj];
                } else {  // even: F = S(ρ²), F' = 2ρ S'
                    e = f[jj];
                    fp = T(2) * r * g[jj];
                }
                // Σ̇ = F'(ρ)/sqrt(k11 k22); a zero-variance point has u = 0 a.s., then E[φ'φ'] =
                // E[φ'(u)] E[φ'(v)], carried by d0.
                // fp / sqrt(k11 k22) as (fp / r_i) / r_j: the product of the inverse roots
                // overflows at subnormal variances.
                const T ed = iri > T(0) && irj[jj] > T(0) ? fp * iri * irj[jj] : d0i * d0j[jj];
                advance(e, ed, wv, bv, k12[jj], theta[jj], sdot[jj]);
            }
            if constexpr (Layerwise) store(l + 1, i, j0, n, k12, sdot, theta);
        }
        end_row<false>(i, j0, n, k12, theta, nullptr, nullptr, target);
    }
}

template <class T>
template <class F>
void InfiniteWidthKernel<T>::with_dual(F&& f) const {
    switch (spec_.kind) {
        case DualKind::relu_like:
            if (spec_.bias_var > 0)
                f(ReluLikeDual<T, true>(spec_.param_a, spec_.param_b, spec_.weight_var,
                                        spec_.bias_var));
            else
                f(ReluLikeDual<T, false>(spec_.param_a, spec_.param_b, spec_.weight_var,
                                         spec_.bias_var));
            break;
        case DualKind::erf: f(ErfDual<T>()); break;
        case DualKind::identity: f(IdentityDual<T>()); break;
        case DualKind::sin: f(SinDual<T>()); break;
        case DualKind::elu: f(EluDual<T>(spec_.param_a, spec_.weight_var, spec_.bias_var)); break;
        case DualKind::mehler: f(MehlerSeries{}); break;
    }
}

template <class T>
void InfiniteWidthKernel<T>::run_tiles(std::size_t begin, std::size_t end, int n_threads) const {
    end = std::min(end, tiles_.size());
    if (begin >= end) return;
    if (n_threads < 1) n_threads = 1;
    const std::ptrdiff_t b = std::ptrdiff_t(begin), e = std::ptrdiff_t(end);
    with_dual([&](const auto& dual) {
        using Dual = std::decay_t<decltype(dual)>;
        (void)n_threads;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
        for (std::ptrdiff_t q = b; q < e; ++q) {
            const Tile& t = tiles_[std::size_t(q)];
            if constexpr (std::is_same_v<Dual, MehlerSeries>) {
                if (layerwise_) run_tile_mehler<true>(t, nullptr);
                else run_tile_mehler<false>(t, nullptr);
            } else {
                if (layerwise_) run_tile<Dual, true>(dual, t, nullptr);
                else run_tile<Dual, false>(dual, t, nullptr);
            }
        }
    });
}

template <class T>
void InfiniteWidthKernel<T>::compute_tile(std::ptrdiff_t i0, std::ptrdiff_t i1, std::ptrdiff_t j0,
                                          std::ptrdiff_t j1, bool ntk, T* out,
                                          std::ptrdiff_t ld) const {
    const TileTarget target{out, ld, i0, j0, ntk};
    with_dual([&](const auto& dual) {
        using Dual = std::decay_t<decltype(dual)>;
        // Strips of at most kTileCols columns: the row buffers of run_tile hold that many.
        for (std::ptrdiff_t c0 = j0; c0 < j1; c0 += kTileCols) {
            const Tile t{i0, i1, c0, std::min(j1, c0 + kTileCols)};
            if constexpr (std::is_same_v<Dual, MehlerSeries>) run_tile_mehler<false>(t, &target);
            else run_tile<Dual, false>(dual, t, &target);
        }
    });
    if (!symmetric_) return;
    // What finish does for the whole Gram: the diagonal from the per-point recursion (ρ = 1
    // exactly), below it the mirror of the entries above.
    const std::ptrdiff_t n = p1_.n, last = (table_layers_ - 1) * n;
    const T* diagonal = ntk ? diag_.theta_diag + last : p1_.sigma_diag + last;
    for (std::ptrdiff_t i = std::max(i0, j0); i < std::min(i1, j1); ++i) {
        T* row = out + (i - i0) * ld - j0;
        row[i] = diagonal[i];
        for (std::ptrdiff_t j = j0; j < i; ++j) row[j] = out[(j - i0) * ld + i - j0];
    }
}

template <class T> void InfiniteWidthKernel<T>::finish(int n_threads) const {
    if (!symmetric_ || !final_) return;
    if (n_threads < 1) n_threads = 1;
    const std::ptrdiff_t n = p1_.n, TL = table_layers_, L = spec_.depth;
    const std::ptrdiff_t nn = n * n;
    // Diagonal: the per-point recursion with ρ = 1 exactly (not two rounded dot products).
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        const std::ptrdiff_t ii = i * n + i;
        if (out_.nngp) out_.nngp[ii] = p1_.sigma_diag[(TL - 1) * n + i];
        if (out_.ntk) out_.ntk[ii] = diag_.theta_diag[(TL - 1) * n + i];
        if (!layerwise_) continue;  // layerwise: a single pass, table layers = all layers
        for (std::ptrdiff_t l = 0; l < L; ++l) {
            if (out_.sigma) out_.sigma[l * nn + ii] = p1_.sigma_diag[l * n + i];
            if (out_.theta) out_.theta[l * nn + ii] = diag_.theta_diag[l * n + i];
            if (out_.sigma_dot && l + 1 < L)
                out_.sigma_dot[l * nn + ii] = diag_.sigma_dot_diag[l * n + i];
        }
    }
    std::vector<T*> mats;
    if (out_.nngp) mats.push_back(out_.nngp);
    if (out_.ntk) mats.push_back(out_.ntk);
    if (layerwise_) {
        for (std::ptrdiff_t l = 0; l < L; ++l) {
            if (out_.sigma) mats.push_back(out_.sigma + l * nn);
            if (out_.theta) mats.push_back(out_.theta + l * nn);
            if (out_.sigma_dot && l + 1 < L) mats.push_back(out_.sigma_dot + l * nn);
        }
    }
    // Mirror the upper triangle in bands of 64 rows: a band left of the diagonal is the transpose of
    // the columns above it (transpose.hpp), the diagonal's own 64×64 block a triangle.
    constexpr std::ptrdiff_t B = 64;
    const std::ptrdiff_t nb = (n + B - 1) / B;
    const std::ptrdiff_t n_jobs = std::ptrdiff_t(mats.size()) * nb;
    (void)n_threads;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
    for (std::ptrdiff_t job = 0; job < n_jobs; ++job) {
        T* m = mats[std::size_t(job / nb)];
        const std::ptrdiff_t ib = job % nb;
        const std::ptrdiff_t i0 = ib * B, i1 = std::min(n, i0 + B);
        transpose_strided(m + i0, i0, i1 - i0, n, m + i0 * n, n);  // left of the diagonal's block
        for (std::ptrdiff_t i = i0; i < i1; ++i)
            for (std::ptrdiff_t j = i0; j < i; ++j) m[i * n + j] = m[j * n + i];
    }
}

template class InfiniteWidthKernel<float>;
template class InfiniteWidthKernel<double>;

}  // namespace ntkfast
