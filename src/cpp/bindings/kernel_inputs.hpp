// The inputs of an infinite-width kernel as Python marshals them (ntkfast/_kernel_passes.py,
// core_inputs): the recursion's parameters, the points and their per-point tables. Checked here
// and turned into the core's structs, once for every binding that drives InfiniteWidthKernel
// (bind_infinite_width.cpp, bind_kernel_operator.cpp); a wrong size would be read out of bounds.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "../ntkfast/infinite_width.hpp"

namespace ntkfast_bindings {

namespace py = pybind11;

template <class T> using Array = py::array_t<T, py::array::c_style>;
template <class T> using Optional = std::optional<Array<T>>;

inline void require(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(what);
}

template <class T> const T* data_or_null(const Optional<T>& a) { return a ? a->data() : nullptr; }

inline ntkfast::DualKind parse_kind(const std::string& kind) {
    using ntkfast::DualKind;
    if (kind == "relu_like") return DualKind::relu_like;
    if (kind == "erf") return DualKind::erf;
    if (kind == "identity") return DualKind::identity;
    if (kind == "sin") return DualKind::sin;
    if (kind == "elu") return DualKind::elu;
    if (kind == "mehler") return DualKind::mehler;
    throw std::invalid_argument("unknown dual kind '" + kind + "'");
}

template <class T> struct KernelInputs {
    ntkfast::RecursionSpec spec;
    ntkfast::PointSet<T> p1, p2;
    ntkfast::SymmetricDiagonal<T> diag;
    std::ptrdiff_t n1 = 0, n2 = 0, d = 0, table_layers = 0, steps = 0;
    bool symmetric = true;
};

// The pybind11 names of kernel_inputs' parameters, in order (arrays without conversion).
inline auto input_args() {
    auto opt = [](const char* name) { return py::arg(name).noconvert().none(true); };
    return std::make_tuple(
        py::arg("kind"), py::arg("depth"), py::arg("weight_var"), py::arg("bias_var"),
        py::arg("param_a"), py::arg("param_b"), py::arg("first_layer"), py::arg("last_layer"),
        py::arg("x1").noconvert(), py::arg("sigma_diag1").noconvert(), opt("x2"),
        opt("sigma_diag2"), opt("theta_diag1"), opt("sigma_dot_diag1"), py::arg("mehler_offset"),
        py::arg("mehler_step"), py::arg("mehler_terms"), py::arg("mehler_rho_limits"),
        opt("coef1"), opt("d0_1"), opt("coef2"), opt("d0_2"));
}

template <class T>
KernelInputs<T> kernel_inputs(const std::string& kind, int depth, double weight_var,
                              double bias_var, double param_a, double param_b, int first_layer,
                              int last_layer, const Array<T>& x1, const Array<T>& sigma_diag1,
                              const Optional<T>& x2, const Optional<T>& sigma_diag2,
                              const Optional<T>& theta_diag1, const Optional<T>& sigma_dot_diag1,
                              int mehler_offset, int mehler_step,
                              const std::vector<int>& mehler_terms,
                              const std::vector<double>& mehler_rho_limits,
                              const Optional<T>& coef1, const Optional<T>& d0_1,
                              const Optional<T>& coef2, const Optional<T>& d0_2) {
    require(depth >= 1 && first_layer >= 0 && last_layer > first_layer && last_layer <= depth,
            "need 0 <= first_layer < last_layer <= depth");
    require(x1.ndim() == 2, "x1 must be 2-D");
    KernelInputs<T> in;
    in.symmetric = !x2.has_value();
    in.n1 = x1.shape(0);
    in.d = x1.shape(1);
    in.n2 = in.symmetric ? in.n1 : x2->shape(0);
    require(in.symmetric || (x2->ndim() == 2 && x2->shape(1) == in.d),
            "x2 must be 2-D with as many columns as x1");
    require(in.symmetric || sigma_diag2.has_value(), "sigma_diag2 is required with x2");
    in.table_layers = last_layer - std::max(first_layer, 1) + 1;
    in.steps = in.table_layers - 1;
    require(sigma_diag1.size() == in.table_layers * in.n1, "sigma_diag1 has the wrong size");
    require(in.symmetric || sigma_diag2->size() == in.table_layers * in.n2,
            "sigma_diag2 has the wrong size");
    if (in.symmetric && last_layer == depth)
        require(theta_diag1.has_value() && theta_diag1->size() == in.table_layers * in.n1,
                "theta_diag1 has the wrong size");
    require(!sigma_dot_diag1 || sigma_dot_diag1->size() == in.steps * in.n1,
            "sigma_dot_diag1 has the wrong size");

    ntkfast::RecursionSpec& spec = in.spec;
    spec.depth = depth;
    spec.weight_var = weight_var;
    spec.bias_var = bias_var;
    spec.kind = parse_kind(kind);
    spec.param_a = param_a;
    spec.param_b = param_b;
    spec.first_layer = first_layer;
    spec.last_layer = last_layer;
    spec.mehler_offset = mehler_offset;
    spec.mehler_step = mehler_step;
    spec.mehler_terms = mehler_terms;
    spec.mehler_rho_limits = mehler_rho_limits;

    in.p1.x = x1.data();
    in.p1.n = in.n1;
    in.p1.sigma_diag = sigma_diag1.data();
    in.p1.mehler_coef = data_or_null(coef1);
    in.p1.mehler_d0 = data_or_null(d0_1);
    if (!in.symmetric) {
        in.p2.x = x2->data();
        in.p2.n = in.n2;
        in.p2.sigma_diag = sigma_diag2->data();
        in.p2.mehler_coef = data_or_null(coef2);
        in.p2.mehler_d0 = data_or_null(d0_2);
    }
    if (spec.kind == ntkfast::DualKind::mehler) {
        require(std::ptrdiff_t(mehler_terms.size()) == in.steps, "mehler_terms: one entry per step");
        std::ptrdiff_t total = 0;
        for (int t : mehler_terms) total += t;
        require(coef1 && d0_1 && coef1->size() == total * in.n1 && d0_1->size() == in.steps * in.n1,
                "Mehler coefficients for x1 have the wrong size");
        require(in.symmetric || (coef2 && d0_2 && coef2->size() == total * in.n2 &&
                                 d0_2->size() == in.steps * in.n2),
                "Mehler coefficients for x2 have the wrong size");
    }
    in.diag.theta_diag = data_or_null(theta_diag1);
    in.diag.sigma_dot_diag = data_or_null(sigma_dot_diag1);
    return in;
}

}  // namespace ntkfast_bindings
