// Forward and backward passes of a finite MLP (ntk-math.md §1, §3) over a block of input rows:
// the per-layer features a^(l) and sensitivities δ^(l) that the empirical NTK is built from.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "pointwise_activation.hpp"
#include "row_dots.hpp"

namespace ntkfast {

// Parameters of an L-layer network; arrays are row-major and owned by the caller.
template <class T>
struct MlpView {
    std::vector<std::size_t> widths;   // n_0 .. n_L
    std::vector<const T*> weights;     // W^(l): (n_{l+1}, n_l)
    std::vector<const T*> biases;      // b^(l): (n_{l+1},)
    std::vector<T> weight_scale;       // s_w per layer: σ_w/sqrt(n_l) (ntk) or 1 (standard)
    T bias_scale;                      // s_b: β (ntk) or 1 (standard)
    PointwiseSpec act;

    std::size_t depth() const { return weights.size(); }
    std::size_t n_out() const { return widths.back(); }
};

// Destinations for rows [0, rows) of one block; any pointer may be null when not wanted.
//   hidden[l-1] : a^(l), (rows, n_l) for l = 1 .. L-1
//   delta[l]    : δ^(l)_k, (rows, n_L, n_{l+1}) for l = 0 .. L-2 (δ^(L-1)_k = e_k is implicit)
//   output      : f = z^(L), (rows, n_L)
template <class T>
struct MlpFeatures {
    std::vector<T*> hidden;
    std::vector<T*> delta;
    T* output = nullptr;
};

// The passes of one network, its weights packed once for the dot-product kernel (row_dots.hpp):
// every product is computed per entry in a fixed order, so the features of a point are the same
// bits whatever the other rows of the call, its position among them or the thread count (the
// empirical NTK's blocks from row slices depend on this). Rows are processed in fixed chunks, each
// by one thread. run() takes rows [row_begin, row_end) of x (rows of width n_0); call it over
// consecutive ranges to interleave Ctrl-C checks (not concurrently: the threads' scratch is kept
// between calls). The view's arrays must outlive the object.
template <class T>
class MlpPasses {
public:
    MlpPasses(const MlpView<T>& net, bool backward);
    ~MlpPasses();
    void run(const T* x, std::size_t row_begin, std::size_t row_end, const MlpFeatures<T>& out,
             int n_threads) const;

private:
    MlpView<T> net_;
    std::vector<dots::Panels<T>> forward_;   // W^(l) with its rows as the columns of the product
    std::vector<dots::Panels<T>> backward_;  // W^(l) with its columns as them (δ W), l >= 1
    std::vector<std::vector<T>> offset_;     // s_b b^(l), padded to whole panels
    struct Scratch;
    mutable std::vector<std::unique_ptr<Scratch>> scratch_;  // one per thread, kept between runs
};

// Rows per chunk of MlpPasses::run (a multiple of it is a good range for callers).
constexpr std::size_t kMlpRowChunk = 128;

}  // namespace ntkfast
