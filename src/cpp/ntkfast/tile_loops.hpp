// The inner loops of the infinite-width tiles (infinite_width.cpp): one layer step over a strip of
// entries held in L1 (the recursion's update, the strip of a gap-carrying dual) and the Mehler
// series' Horner evaluation in register blocks. Each entry's result depends only on its own
// inputs, never on its position in the strip: tiles equal the full Gram bit for bit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

namespace ntkfast {
namespace strip {

// 32-byte vectors (GCC/Clang vector extensions: AVX2 where available, otherwise pairs of SSE2
// operations) for the two inner loops that the auto-vectoriser keeps in memory instead of registers.
template <class T> struct Vec32 {
    typedef T type __attribute__((vector_size(32)));
    static constexpr std::ptrdiff_t lanes = 32 / std::ptrdiff_t(sizeof(T));
};

// One step of the recursion from the dual values e = E[φφ], ed = E[φ'φ'] (ntk-math.md §2):
// Σ^(l+1) = σ_w² e + β², Σ̇^(l+1) = σ_w² ed, Θ^(l+1) = Θ^(l) Σ̇^(l+1) + Σ^(l+1).
template <class T> inline void advance(T e, T ed, T wv, T bv, T& k12, T& theta, T& sdot) {
    const T k_next = wv * e + bv;
    sdot = wv * ed;
    theta = theta * sdot + k_next;
    k12 = k_next;
}

// Every strip of entries is processed in whole multiples of this (the widest vector is 16 floats;
// the Mehler register blocks hold 32 floats): every entry then goes through the same vector
// instructions, wherever it sits in a row. A vectorised loop's epilogue may contract a*b+c into
// FMAs differently from its body, which made an entry depend on its position in the tile (1 ulp);
// tiles of any shape must equal the full Gram bit for bit.
constexpr std::ptrdiff_t kStripPad = 32;

inline std::ptrdiff_t padded(std::ptrdiff_t n) { return (n + kStripPad - 1) / kStripPad * kStripPad; }

// One layer step of a strip of entries for a dual that carries the gaps (n a multiple of
// kStripPad). A function of its own with __restrict pointers: ten streams need more runtime alias
// checks than GCC makes, and without the promise the loop was not vectorised (relu 2-3x slower).
template <class Dual, class T>
void gap_strip(const Dual& dual, std::ptrdiff_t n, T* __restrict k12, T* __restrict theta,
               T* __restrict sdot, T* __restrict gm, T* __restrict gp, T ri, T iri, T ai,
               const T* __restrict rj, const T* __restrict irj, const T* __restrict aj, T rni,
               T irni, const T* __restrict rnj, const T* __restrict irnj, T wv, T bv) {
#pragma omp simd
    for (std::ptrdiff_t jj = 0; jj < n; ++jj) {
        T e, ed;
        dual(k12[jj], gm[jj], gp[jj], ri, iri, ai, rj[jj], irj[jj], aj[jj], rni, irni, rnj[jj],
             irnj[jj], e, ed);
        advance(e, ed, wv, bv, k12[jj], theta[jj], sdot[jj]);
    }
}

// The Mehler Horner loop in register blocks of four 32-byte vectors: z, S and S' take 12 vector
// registers and the loop body is one load of b and three arithmetic operations per vector and term.
// Auto-vectorisation of the same loop spills to memory on every term.
template <class T> constexpr std::ptrdiff_t kBlock = 4 * Vec32<T>::lanes;

// Sums, for every lane u, the first q[u] terms (q_min <= q[u] <= q_max): f, g leave holding S(z),
// S'(z). A lane's terms above its own count are multiplied in as zeros, which leaves f = g = 0
// exactly until its top term, so each lane's sums are those of a Horner loop started at its own
// count: an entry's value depends on its own |ρ| only, never on its neighbours in the block.
template <class T>
inline void horner_block(const T* a, std::ptrdiff_t a_stride, const T* b, std::ptrdiff_t b_stride,
                         const T* q, std::ptrdiff_t q_min, std::ptrdiff_t q_max, const T* z_in,
                         T* f_out, T* g_out) {
    using V = typename Vec32<T>::type;
    constexpr std::ptrdiff_t W = Vec32<T>::lanes;
    V z[4], f[4], g[4], qv[4];
    for (int u = 0; u < 4; ++u) {
        std::memcpy(&z[u], z_in + u * W, sizeof(V));
        std::memcpy(&qv[u], q + u * W, sizeof(V));
        f[u] = V{};
        g[u] = V{};
    }
    // One update for both loops below, so that both compile to the same arithmetic.
    auto update = [&](int u, V am, V bv) {
        g[u] = g[u] * z[u] + f[u];
        f[u] = f[u] * z[u] + am * bv;
    };
    std::ptrdiff_t m = q_max - 1;
    for (; m >= q_min; --m) {  // some lanes have not reached their top term yet
        const V am = V{} + a[m * a_stride];
        const V mv = V{} + T(m);
        const T* bm = b + m * b_stride;
        for (int u = 0; u < 4; ++u) {
            V bv;
            std::memcpy(&bv, bm + u * W, sizeof(V));
            update(u, am, mv < qv[u] ? bv : V{});
        }
    }
    for (; m >= 0; --m) {
        const V am = V{} + a[m * a_stride];
        const T* bm = b + m * b_stride;
        for (int u = 0; u < 4; ++u) {
            V bv;
            std::memcpy(&bv, bm + u * W, sizeof(V));
            update(u, am, bv);
        }
    }
    for (int u = 0; u < 4; ++u) {
        std::memcpy(f_out + u * W, &f[u], sizeof(V));
        std::memcpy(g_out + u * W, &g[u], sizeof(V));
    }
}

// Fewest leading terms that an entry of correlation |ρ| = rho_max needs: rho_limit[q-1] is the
// largest |ρ| for which q terms keep the dropped part below the pair tolerance (non-decreasing,
// last entry >= 1; python/ntkfast/_mehler.py, rho_limits). Binary search.
inline std::ptrdiff_t terms_needed(const double* rho_limit, std::ptrdiff_t terms, double rho_max) {
    std::ptrdiff_t lo = 0, hi = terms - 1;
    while (lo < hi) {
        const std::ptrdiff_t mid = (lo + hi) / 2;
        if (rho_limit[mid] >= rho_max) hi = mid;
        else lo = mid + 1;
    }
    return lo + 1;
}

}  // namespace strip
}  // namespace ntkfast
