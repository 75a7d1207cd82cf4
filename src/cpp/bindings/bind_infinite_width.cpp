// Binding of the infinite-width kernels. Python (ntkfast/kernels.py) validates and prepares every
// argument (contiguous arrays of the working dtype, per-point diagonals, Mehler coefficients);
// arrays are taken with noconvert so a forgotten conversion fails loudly instead of copying.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "../ntkfast/infinite_width.hpp"
#include "chunked.hpp"

namespace py = pybind11;
using ntkfast::DualKind;

namespace {

template <class T> using Array = py::array_t<T, py::array::c_style>;

DualKind parse_kind(const std::string& kind) {
    if (kind == "relu_like") return DualKind::relu_like;
    if (kind == "erf") return DualKind::erf;
    if (kind == "identity") return DualKind::identity;
    if (kind == "sin") return DualKind::sin;
    if (kind == "elu") return DualKind::elu;
    if (kind == "mehler") return DualKind::mehler;
    throw std::invalid_argument("unknown dual kind '" + kind + "'");
}

template <class T> const T* data_or_null(const std::optional<Array<T>>& a) {
    return a ? a->data() : nullptr;
}

template <class T>
py::dict infinite_width(const std::string& kind, int depth, double weight_var, double bias_var,
                        double param_a, double param_b, Array<T> x1, Array<T> sigma_diag1,
                        std::optional<Array<T>> x2, std::optional<Array<T>> sigma_diag2,
                        Array<T> theta_diag1, std::optional<Array<T>> sigma_dot_diag1,
                        int mehler_offset, int mehler_step, std::vector<int> mehler_terms,
                        std::vector<double> mehler_rho_limits,
                        std::optional<Array<T>> coef1, std::optional<Array<T>> d0_1,
                        std::optional<Array<T>> coef2, std::optional<Array<T>> d0_2, bool want_nngp,
                        bool want_ntk, bool layerwise, int n_threads) {
    if (x1.ndim() != 2) throw std::invalid_argument("x1 must be 2-D");
    const bool symmetric = !x2.has_value();
    const std::ptrdiff_t n1 = x1.shape(0), d = x1.shape(1);
    const std::ptrdiff_t n2 = symmetric ? n1 : x2->shape(0);
    if (!symmetric && (x2->ndim() != 2 || x2->shape(1) != d))
        throw std::invalid_argument("x2 must be 2-D with as many columns as x1");
    if (!symmetric && !sigma_diag2) throw std::invalid_argument("sigma_diag2 is required with x2");
    if (sigma_diag1.size() != depth * n1) throw std::invalid_argument("sigma_diag1 has wrong size");
    if (theta_diag1.size() != depth * n1) throw std::invalid_argument("theta_diag1 has wrong size");

    ntkfast::RecursionSpec spec;
    spec.depth = depth;
    spec.weight_var = weight_var;
    spec.bias_var = bias_var;
    spec.kind = parse_kind(kind);
    spec.param_a = param_a;
    spec.param_b = param_b;
    spec.mehler_offset = mehler_offset;
    spec.mehler_step = mehler_step;
    spec.mehler_terms = mehler_terms;
    spec.mehler_rho_limits = mehler_rho_limits;

    ntkfast::PointSet<T> p1, p2;
    p1.x = x1.data();
    p1.n = n1;
    p1.sigma_diag = sigma_diag1.data();
    p1.mehler_coef = data_or_null(coef1);
    p1.mehler_d0 = data_or_null(d0_1);
    if (!symmetric) {
        p2.x = x2->data();
        p2.n = n2;
        p2.sigma_diag = sigma_diag2->data();
        p2.mehler_coef = data_or_null(coef2);
        p2.mehler_d0 = data_or_null(d0_2);
    }
    if (spec.kind == DualKind::mehler) {
        std::ptrdiff_t total = 0;
        for (int t : mehler_terms) total += t;
        if (!coef1 || !d0_1 || coef1->size() != total * n1 || d0_1->size() != (depth - 1) * n1)
            throw std::invalid_argument("Mehler coefficients for x1 have the wrong size");
        if (!symmetric && (!coef2 || !d0_2 || coef2->size() != total * n2 ||
                           d0_2->size() != (depth - 1) * n2))
            throw std::invalid_argument("Mehler coefficients for x2 have the wrong size");
    }
    ntkfast::SymmetricDiagonal<T> diag;
    diag.theta_diag = theta_diag1.data();
    diag.sigma_dot_diag = data_or_null(sigma_dot_diag1);
    if (symmetric && layerwise && depth > 1 && !sigma_dot_diag1)
        throw std::invalid_argument("sigma_dot_diag1 is required for layerwise symmetric output");

    py::dict result;
    ntkfast::KernelOutputs<T> out;
    if (want_nngp) {
        Array<T> a({n1, n2});
        out.nngp = a.mutable_data();
        result["nngp"] = a;
    }
    if (want_ntk) {
        Array<T> a({n1, n2});
        out.ntk = a.mutable_data();
        result["ntk"] = a;
    }
    if (layerwise) {
        Array<T> s({std::ptrdiff_t(depth), n1, n2}), t({std::ptrdiff_t(depth), n1, n2});
        Array<T> sd({std::ptrdiff_t(depth - 1), n1, n2});
        out.sigma = s.mutable_data();
        out.theta = t.mutable_data();
        out.sigma_dot = depth > 1 ? sd.mutable_data() : nullptr;
        result["sigma"] = s;
        result["theta"] = t;
        result["sigma_dot"] = sd;
    }

    ntkfast::InfiniteWidthKernel<T> kernel(spec, d, p1, p2, symmetric, diag, out);
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    ntkfast_bindings::run_chunked(kernel.n_tiles(), std::size_t(8 * n_threads),
                                  [&](std::size_t b, std::size_t e) {
                                      kernel.run_tiles(b, e, n_threads);
                                  });
    {
        py::gil_scoped_release release;
        kernel.finish(n_threads);
    }
    return result;
}

template <class T> void bind_for(py::module_& m) {
    m.def("infinite_width", &infinite_width<T>, py::arg("kind"), py::arg("depth"),
          py::arg("weight_var"), py::arg("bias_var"), py::arg("param_a"), py::arg("param_b"),
          py::arg("x1").noconvert(), py::arg("sigma_diag1").noconvert(),
          py::arg("x2").noconvert().none(true), py::arg("sigma_diag2").noconvert().none(true),
          py::arg("theta_diag1").noconvert(), py::arg("sigma_dot_diag1").noconvert().none(true),
          py::arg("mehler_offset"), py::arg("mehler_step"), py::arg("mehler_terms"),
          py::arg("mehler_rho_limits"),
          py::arg("coef1").noconvert().none(true), py::arg("d0_1").noconvert().none(true),
          py::arg("coef2").noconvert().none(true), py::arg("d0_2").noconvert().none(true),
          py::arg("want_nngp"), py::arg("want_ntk"), py::arg("layerwise"), py::arg("n_threads"));
}

}  // namespace

void bind_infinite_width(py::module_& m) {
    // Overloads are tried in order; noconvert makes the dtype pick the instantiation.
    bind_for<double>(m);
    bind_for<float>(m);
}
