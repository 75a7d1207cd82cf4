// Vectors of the width the build targets, and elementwise operations on arrays that are whole
// numbers of them. The empirical NTK's per-entry arithmetic runs through these so that every
// entry takes the same instructions: an auto-vectorised loop may peel or finish with scalar
// iterations, and GCC's FMA contraction (-ffp-contract=fast) of a scalar remainder need not match
// that of the vector body (see kStripPad in tile_loops.hpp for the 1-ulp difference it made).
#pragma once

#include <cstddef>
#include <cstring>
#include <utility>

namespace ntkfast {
namespace lanes {

#if defined(__AVX512F__)
constexpr std::size_t kBytes = 64;
#elif defined(__AVX__)
constexpr std::size_t kBytes = 32;
#else
constexpr std::size_t kBytes = 16;
#endif

template <class T> struct Vec {
    typedef T type __attribute__((vector_size(kBytes)));
    static constexpr std::size_t lanes = kBytes / sizeof(T);
};
template <class T> using V = typename Vec<T>::type;
template <class T> constexpr std::size_t W = Vec<T>::lanes;

template <class T> inline V<T> load(const T* p) {
    V<T> v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

template <class T> inline void store(T* p, V<T> v) { std::memcpy(p, &v, sizeof(v)); }

namespace detail {
template <class T, std::size_t... I> inline V<T> splat(T x, std::index_sequence<I...>) {
    return V<T>{((void)I, x)...};
}
}  // namespace detail

// A broadcast, written as an initializer of W copies: GCC makes it one vbroadcast. `V{} + x`
// costs an addition (and turns -0 into +0); a loop over the lanes or a shuffle of lane 0 became
// one or two masked loads per lane inside the dot kernel.
template <class T> inline V<T> splat(T x) { return detail::splat(x, std::make_index_sequence<W<T>>{}); }

// The loops below take n a multiple of W<T>.

// out = x·a + b (one contraction: an FMA where the target has one, for every entry).
template <class T> inline void affine(std::size_t n, const T* x, T a, T b, T* out) {
    const V<T> av = splat(a), bv = splat(b);
    for (std::size_t e = 0; e < n; e += W<T>) store(out + e, load(x + e) * av + bv);
}

// out = h·(g·s)
template <class T> inline void scaled_product(std::size_t n, const T* h, const T* g, T s, T* out) {
    const V<T> sv = splat(s);
    for (std::size_t e = 0; e < n; e += W<T>) store(out + e, load(h + e) * (load(g + e) * sv));
}

// out = h·g
template <class T> inline void product(std::size_t n, const T* h, const T* g, T* out) {
    for (std::size_t e = 0; e < n; e += W<T>) store(out + e, load(h + e) * load(g + e));
}

// acc += x
template <class T> inline void add(std::size_t n, T* acc, const T* x) {
    for (std::size_t e = 0; e < n; e += W<T>) store(acc + e, load(acc + e) + load(x + e));
}

}  // namespace lanes
}  // namespace ntkfast
