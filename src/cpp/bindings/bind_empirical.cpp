// Bindings of the finite-network core: forward/backward features, the empirical NTK tiles and
// its per-point diagonal, and the fixed-order products of the numpy passes.
// Python (ntkfast/empirical.py) validates the network and inputs and allocates every array;
// arrays are taken with noconvert and their sizes are checked here, so a wrong call raises
// instead of reading out of bounds.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "../ntkfast/empirical_gram.hpp"
#include "../ntkfast/finite_mlp.hpp"
#include "../ntkfast/row_dots.hpp"
#include "chunked.hpp"
#include "mlp_arrays.hpp"

namespace py = pybind11;

namespace {

using ntkfast_bindings::Array;
using ntkfast_bindings::make_view;
using ntkfast_bindings::sized;
using ntkfast_bindings::sized_mut;

template <class T>
void mlp_features(const std::vector<Array<T>>& weights, const std::vector<Array<T>>& biases,
                  const std::vector<double>& weight_scale, double bias_scale,
                  const std::string& act_kind, double act_a, double act_b, const Array<T>& x,
                  std::vector<Array<T>> hidden, std::vector<Array<T>> delta,
                  std::optional<Array<T>> output, int n_threads) {
    const auto net = make_view(weights, biases, weight_scale, bias_scale, act_kind, act_a, act_b);
    const std::size_t L = net.depth(), n_out = net.n_out();
    if (x.ndim() != 2 || static_cast<std::size_t>(x.shape(1)) != net.widths[0])
        throw std::invalid_argument("x: wrong number of columns");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const std::size_t rows = static_cast<std::size_t>(x.shape(0));
    ntkfast::MlpFeatures<T> out;
    if (!hidden.empty()) {
        if (hidden.size() != L - 1) throw std::invalid_argument("hidden: one array per hidden layer");
        for (std::size_t l = 0; l + 1 < L; ++l)
            out.hidden.push_back(sized_mut(hidden[l], rows * net.widths[l + 1], "hidden"));
    }
    if (!delta.empty()) {
        if (delta.size() != L - 1) throw std::invalid_argument("delta: one array per hidden layer");
        for (std::size_t l = 0; l + 1 < L; ++l)
            out.delta.push_back(sized_mut(delta[l], rows * n_out * net.widths[l + 1], "delta"));
    }
    if (output) out.output = sized_mut(*output, rows * n_out, "output");
    std::optional<ntkfast::MlpPasses<T>> passes;
    {
        py::gil_scoped_release release;  // packing the weights reads all of them
        passes.emplace(net, !out.delta.empty());
    }
    const std::size_t chunk = ntkfast::kMlpRowChunk * 4 * static_cast<std::size_t>(n_threads);
    ntkfast_bindings::run_chunked(rows, chunk, [&](std::size_t b, std::size_t e) {
        passes->run(x.data(), b, e, out, n_threads);
    });
}

ntkfast::NtkOutput parse_mode(const std::string& mode) {
    if (mode == "trace") return ntkfast::NtkOutput::Trace;
    if (mode == "diagonal") return ntkfast::NtkOutput::Diagonal;
    if (mode == "full") return ntkfast::NtkOutput::Full;
    throw std::invalid_argument("unknown output mode '" + mode + "'");
}

template <class T>
ntkfast::FeatureSet<T> feature_set(const std::vector<std::size_t>& widths,
                                   const std::vector<Array<T>>& act,
                                   const std::vector<Array<T>>& delta, const char* name) {
    const std::size_t L = widths.size() - 1, n_out = widths.back();
    if (act.size() != L || delta.size() != L - 1)
        throw std::invalid_argument(std::string(name) + ": wrong number of feature arrays");
    ntkfast::FeatureSet<T> s;
    s.rows = act[0].ndim() >= 1 ? static_cast<std::size_t>(act[0].shape(0)) : 0;
    for (std::size_t l = 0; l < L; ++l)
        s.act.push_back(sized(act[l], s.rows * widths[l], name));
    for (std::size_t l = 0; l + 1 < L; ++l)
        s.delta.push_back(sized(delta[l], s.rows * n_out * widths[l + 1], name));
    return s;
}

template <class T>
void empirical_gram(const std::vector<std::size_t>& widths, const std::vector<double>& weight_scale,
                    double bias_scale, const std::string& mode, const std::vector<Array<T>>& act1,
                    const std::vector<Array<T>>& delta1, const std::vector<Array<T>>& act2,
                    const std::vector<Array<T>>& delta2, Array<T> out,
                    std::optional<Array<T>> layers, std::size_t i0, std::size_t j0,
                    bool same_rows, bool mirror, int n_threads) {
    if (widths.size() < 2 || weight_scale.size() != widths.size() - 1)
        throw std::invalid_argument("widths and weight_scale do not match");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const auto m = parse_mode(mode);
    const std::size_t L = widths.size() - 1, n_out = widths.back();
    const std::size_t kk = m == ntkfast::NtkOutput::Trace ? 1
                           : m == ntkfast::NtkOutput::Diagonal ? n_out : n_out * n_out;
    auto s1 = feature_set(widths, act1, delta1, "set 1");
    auto s2 = same_rows ? s1 : feature_set(widths, act2, delta2, "set 2");
    if (out.ndim() < 2) throw std::invalid_argument("out must be at least 2-D");
    ntkfast::GramTarget<T> target;
    target.n1 = static_cast<std::size_t>(out.shape(0));
    target.n2 = static_cast<std::size_t>(out.shape(1));
    target.out = sized_mut(out, target.n1 * target.n2 * kk, "out");
    if (layers) target.layers = sized_mut(*layers, L * target.n1 * target.n2 * kk, "layers");
    if (i0 + s1.rows > target.n1 || j0 + s2.rows > target.n2 ||
        (mirror && (target.n1 != target.n2 || j0 + s2.rows > target.n1 || i0 + s1.rows > target.n2)))
        throw std::invalid_argument("block does not fit in the output");
    if (same_rows && (!mirror || i0 != j0)) throw std::invalid_argument("same_rows needs mirror and i0 == j0");
    std::vector<T> ws(weight_scale.begin(), weight_scale.end());
    ntkfast::GramBlock block{i0, j0, same_rows, mirror};
    ntkfast::EmpiricalGram<T> gram(widths, ws, static_cast<T>(bias_scale), m, s1, s2, target, block);
    ntkfast_bindings::run_chunked(gram.n_tiles(), std::size_t(4 * n_threads),
                                  [&](std::size_t b, std::size_t e) { gram.run(b, e, n_threads); });
}

// K(x_i, x_i) of the points of one feature set, into rows [i0, i0 + rows) of out (n, kk) (and of
// layers (L, n, kk)): the diagonal entries of empirical_gram, computed by the same tile code.
template <class T>
void empirical_diag(const std::vector<std::size_t>& widths, const std::vector<double>& weight_scale,
                    double bias_scale, const std::string& mode, const std::vector<Array<T>>& act,
                    const std::vector<Array<T>>& delta, Array<T> out,
                    std::optional<Array<T>> layers, std::size_t i0, int n_threads) {
    if (widths.size() < 2 || weight_scale.size() != widths.size() - 1)
        throw std::invalid_argument("widths and weight_scale do not match");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const auto m = parse_mode(mode);
    const std::size_t L = widths.size() - 1, n_out = widths.back();
    const std::size_t kk = m == ntkfast::NtkOutput::Trace ? 1
                           : m == ntkfast::NtkOutput::Diagonal ? n_out : n_out * n_out;
    auto s = feature_set(widths, act, delta, "set");
    if (out.ndim() < 1) throw std::invalid_argument("out must be at least 1-D");
    ntkfast::GramTarget<T> target;
    target.n1 = static_cast<std::size_t>(out.shape(0));
    target.n2 = 1;
    target.out = sized_mut(out, target.n1 * kk, "out");
    if (layers) target.layers = sized_mut(*layers, L * target.n1 * kk, "layers");
    if (i0 + s.rows > target.n1) throw std::invalid_argument("block does not fit in the output");
    std::vector<T> ws(weight_scale.begin(), weight_scale.end());
    ntkfast::GramBlock block{i0, i0, true, false, true};
    ntkfast::EmpiricalGram<T> gram(widths, ws, static_cast<T>(bias_scale), m, s, s, target, block);
    ntkfast_bindings::run_chunked(gram.n_tiles(), std::size_t(64 * n_threads),
                                  [&](std::size_t b, std::size_t e) { gram.run(b, e, n_threads); });
}

// out (m, n) = alpha · a b^T (b_rows, b of shape (n, K)) or alpha · a b (b of shape (K, n)),
// plus offset (n,) when given: the products of the numpy passes of a network with a Python
// activation, each entry in a fixed order (row_dots.hpp).
template <class T>
void row_products(const Array<T>& a, const Array<T>& b, bool b_rows, double alpha,
                  std::optional<Array<T>> offset, Array<T> out, int n_threads) {
    if (a.ndim() != 2 || b.ndim() != 2 || out.ndim() != 2) throw std::invalid_argument("a, b, out must be 2-D");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const std::size_t m = static_cast<std::size_t>(a.shape(0)), K = static_cast<std::size_t>(a.shape(1));
    const std::size_t n = static_cast<std::size_t>(b.shape(b_rows ? 0 : 1));
    if (static_cast<std::size_t>(b.shape(b_rows ? 1 : 0)) != K) throw std::invalid_argument("a and b do not match");
    T* o = sized_mut(out, m * n, "out");
    if (static_cast<std::size_t>(out.shape(1)) != n) throw std::invalid_argument("out has the wrong shape");
    const T* off = offset ? sized(*offset, n, "offset") : nullptr;
    const std::size_t chunk = std::size_t(1024) * static_cast<std::size_t>(n_threads);
    const T* ap = a.data();
    const T* bp = b.data();
    const std::size_t ldb = static_cast<std::size_t>(b.shape(1));
    // B is packed per chunk of rows: cheap beside the chunk's products, and Ctrl-C stays prompt.
    ntkfast_bindings::run_chunked(m, chunk, [&](std::size_t r0, std::size_t r1) {
        ntkfast::dots::products<T>(r1 - r0, n, K, static_cast<T>(alpha), ap + r0 * K, K, bp, ldb,
                                   b_rows, off, o + r0 * n, n_threads);
    });
}

template <class T> void bind_for(py::module_& m) {
    m.def("mlp_features", &mlp_features<T>, py::arg("weights").noconvert(),
          py::arg("biases").noconvert(), py::arg("weight_scale"), py::arg("bias_scale"),
          py::arg("act_kind"), py::arg("act_a"), py::arg("act_b"), py::arg("x").noconvert(),
          py::arg("hidden").noconvert(), py::arg("delta").noconvert(),
          py::arg("output").noconvert().none(true), py::arg("n_threads"));
    m.def("empirical_gram", &empirical_gram<T>, py::arg("widths"), py::arg("weight_scale"),
          py::arg("bias_scale"), py::arg("mode"), py::arg("act1").noconvert(),
          py::arg("delta1").noconvert(), py::arg("act2").noconvert(),
          py::arg("delta2").noconvert(), py::arg("out").noconvert(),
          py::arg("layers").noconvert().none(true), py::arg("i0"), py::arg("j0"),
          py::arg("same_rows"), py::arg("mirror"), py::arg("n_threads"));
    m.def("empirical_diag", &empirical_diag<T>, py::arg("widths"), py::arg("weight_scale"),
          py::arg("bias_scale"), py::arg("mode"), py::arg("act").noconvert(),
          py::arg("delta").noconvert(), py::arg("out").noconvert(),
          py::arg("layers").noconvert().none(true), py::arg("i0"), py::arg("n_threads"));
    m.def("row_products", &row_products<T>, py::arg("a").noconvert(), py::arg("b").noconvert(),
          py::arg("b_rows"), py::arg("alpha"), py::arg("offset").noconvert().none(true),
          py::arg("out").noconvert(), py::arg("n_threads"));
}

}  // namespace

void bind_empirical(py::module_& m) {
    bind_for<double>(m);
    bind_for<float>(m);
}
