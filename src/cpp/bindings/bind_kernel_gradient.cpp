// Binding of the kernel-gradient core (kernel_gradient.hpp). ntkfast/_kernel_gradients.py builds
// the per-point tables and allocates every array; sizes are re-checked here so a wrong call
// raises instead of reading out of bounds. Rows run in chunks with the GIL released, Ctrl-C
// checked between chunks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../ntkfast/kernel_gradient.hpp"
#include "chunked.hpp"

namespace py = pybind11;

namespace {

using Array = py::array_t<double, py::array::c_style>;
using Sizes = py::array_t<std::int64_t, py::array::c_style>;

void expect(const Array& a, std::vector<py::ssize_t> shape, const char* what) {
    bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
    for (std::size_t d = 0; ok && d < shape.size(); ++d) ok = a.shape(d) == shape[d];
    if (!ok) throw std::invalid_argument(std::string("kernel_gradient: bad shape of ") + what);
}

ntkfast::GradientPoints points(const Array& sigma, const Array& d_sigma, const py::object& coef,
                               std::size_t depth, std::size_t stride, bool mehler) {
    if (sigma.ndim() != 2) throw std::invalid_argument("kernel_gradient: sigma must be (L, n)");
    const auto n = sigma.shape(1);
    expect(sigma, {static_cast<py::ssize_t>(depth), n}, "sigma");
    expect(d_sigma, {static_cast<py::ssize_t>(depth), 2, n}, "d_sigma");
    const double* c = nullptr;
    if (mehler && depth > 1) {
        auto arr = coef.cast<Array>();
        expect(arr, {static_cast<py::ssize_t>(depth - 1), 4, static_cast<py::ssize_t>(stride), n}, "coef");
        c = arr.data();  // kept alive by the caller's reference
    }
    return {sigma.data(), d_sigma.data(), c, static_cast<std::size_t>(n)};
}

void kernel_gradient(int dual, double slope_neg, double slope_pos, std::size_t depth,
                     double weight_var, double bias_var, bool ntk, const Array& dots,
                     const Array& sigma1, const Array& d_sigma1, const py::object& coef1,
                     const Array& sigma2, const Array& d_sigma2, const py::object& coef2,
                     const Sizes& terms, const Array& limits, bool odd, bool symmetric,
                     Array value, Array grad, int n_threads) {
    if (dual < 0 || dual > 4) throw std::invalid_argument("kernel_gradient: unknown dual");
    if (depth < 1) throw std::invalid_argument("kernel_gradient: depth must be >= 1");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const auto kind = static_cast<ntkfast::GradientDual>(dual);
    const bool mehler = kind == ntkfast::GradientDual::kMehler;
    std::size_t stride = 0;
    std::vector<std::size_t> used;
    if (mehler && depth > 1) {
        if (terms.ndim() != 1 || static_cast<std::size_t>(terms.shape(0)) != depth - 1)
            throw std::invalid_argument("kernel_gradient: terms must be (L-1,)");
        auto c = coef1.cast<Array>();
        if (c.ndim() != 4) throw std::invalid_argument("kernel_gradient: coef must be 4-D");
        stride = static_cast<std::size_t>(c.shape(2));
        for (py::ssize_t s = 0; s < terms.shape(0); ++s) {
            const auto t = terms.data()[s];
            if (t < 1 || static_cast<std::size_t>(t) >= stride)  // one order of padding
                throw std::invalid_argument("kernel_gradient: terms out of range");
            used.push_back(static_cast<std::size_t>(t));
        }
        expect(limits, {static_cast<py::ssize_t>(depth - 1), static_cast<py::ssize_t>(stride) + 1}, "limits");
    }
    const auto p1 = points(sigma1, d_sigma1, coef1, depth, stride, mehler);
    const auto p2 = points(sigma2, d_sigma2, coef2, depth, stride, mehler);
    const auto n1 = static_cast<py::ssize_t>(p1.n), n2 = static_cast<py::ssize_t>(p2.n);
    expect(dots, {n1, n2}, "dots");
    expect(value, {n1, n2}, "value");
    expect(grad, {n1, n2, 2}, "grad");
    if (symmetric && n1 != n2) throw std::invalid_argument("kernel_gradient: symmetric needs n1 == n2");
    const ntkfast::GradientProblem problem{kind, slope_neg, slope_pos, depth, weight_var, bias_var,
                                           ntk, used.empty() ? nullptr : used.data(), stride,
                                           used.empty() ? nullptr : limits.data(), odd};
    const double* d = dots.data();
    double* v = value.mutable_data();
    double* g = grad.mutable_data();
    // About a million entry-layers per chunk: Ctrl-C within a fraction of a second.
    const std::size_t per_row = static_cast<std::size_t>(n2) * depth * (mehler ? 16 : 1) + 1;
    const std::size_t chunk = std::max<std::size_t>(1, (std::size_t(1) << 21) / per_row);
    ntkfast_bindings::run_chunked(p1.n, chunk, [&](std::size_t begin, std::size_t end) {
        ntkfast::kernel_gradient_rows(problem, p1, p2, d, symmetric, begin, end, v, g, n_threads);
    });
    if (symmetric) {
        py::gil_scoped_release release;
        ntkfast::mirror_lower(p1.n, v, g, n_threads);
    }
}

}  // namespace

void bind_kernel_gradient(py::module_& m) {
    m.def("kernel_gradient", &kernel_gradient, py::arg("dual"), py::arg("slope_neg"),
          py::arg("slope_pos"), py::arg("depth"), py::arg("weight_var"), py::arg("bias_var"),
          py::arg("ntk"), py::arg("dots").noconvert(), py::arg("sigma1").noconvert(),
          py::arg("d_sigma1").noconvert(), py::arg("coef1"), py::arg("sigma2").noconvert(),
          py::arg("d_sigma2").noconvert(), py::arg("coef2"), py::arg("terms").noconvert(),
          py::arg("limits").noconvert(), py::arg("odd"),
          py::arg("symmetric"), py::arg("value").noconvert(), py::arg("grad").noconvert(),
          py::arg("n_threads"),
          "The kernel and its derivatives in (σ_w², β²) (a symmetric Gram: upper triangle computed, "
          "then mirrored), from per-point tables.");
}
