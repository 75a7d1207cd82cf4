// Binding of the matrix-free kernel products (kernel_operator.hpp). kernel_tiles(...) takes the
// inputs of one pass from the inputs to the last layer (kernel_inputs.hpp; marshalled by
// ntkfast/_kernel_passes.py, core_inputs) and returns an object that keeps them and the tile
// kernel built from them, so that an iterative solver pays for the per-point preparation once;
// its apply_symmetric / apply_cross allocate Y, then run the product in time slices with the GIL
// released, polling Ctrl-C between slices.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "../ntkfast/infinite_width.hpp"
#include "../ntkfast/kernel_operator.hpp"
#include "chunked.hpp"
#include "kernel_inputs.hpp"

namespace py = pybind11;
using namespace ntkfast_bindings;

namespace {

template <class T> class KernelTiles {
  public:
    // arrays: those the inputs point into, kept alive (the kernel reads them after construction).
    KernelTiles(const KernelInputs<T>& in, std::vector<std::optional<Array<T>>> arrays)
        : arrays_(std::move(arrays)),
          kernel_(std::make_unique<ntkfast::InfiniteWidthKernel<T>>(in.spec, in.d, in.p1, in.p2,
                                                                    in.symmetric, in.diag)) {}

    // Y = (K + ridge·I) V, V of shape (n, k).
    Array<T> apply_symmetric(const Array<T>& v, bool ntk, double ridge, int n_threads) {
        require(kernel_->symmetric(), "apply_symmetric needs the tiles of a symmetric kernel");
        Array<T> y = output(v, kernel_->rows(), kernel_->cols(), n_threads);
        ntkfast::SymmetricProduct<T> product(*kernel_, ntk, ridge, v.data(), v.shape(1),
                                             y.mutable_data(), n_threads);
        run(product);
        return y;
    }

    // Y = K(x1, x2) V, V of shape (n2, k).
    Array<T> apply_cross(const Array<T>& v, bool ntk, int n_threads) {
        require(!kernel_->symmetric(), "apply_cross needs the tiles of a cross kernel");
        Array<T> y = output(v, kernel_->rows(), kernel_->cols(), n_threads);
        ntkfast::CrossProduct<T> product(*kernel_, ntk, v.data(), v.shape(1), y.mutable_data(),
                                         n_threads);
        run(product);
        return y;
    }

  private:
    // Zeros (rows, k) for V of shape (cols, k), checked.
    static Array<T> output(const Array<T>& v, std::ptrdiff_t rows, std::ptrdiff_t cols,
                           int n_threads) {
        require(n_threads >= 1, "n_threads must be >= 1");
        require(v.ndim() == 2 && v.shape(0) == cols && v.shape(1) >= 1,
                "v must have shape (n, k) with n the kernel's columns and k >= 1");
        Array<T> y(std::vector<py::ssize_t>{rows, py::ssize_t(v.shape(1))});
        std::fill(y.mutable_data(), y.mutable_data() + y.size(), T(0));
        return y;
    }

    // Slices of a tenth of a second: Ctrl-C is seen that soon, and the wait for the slowest
    // thread at a slice's end (half a tile on average: 0.4 ms for relu at depth 3) stays small.
    template <class Product> static void run(Product& product) {
        run_sliced([&] { return product.run_for(0.1); });
    }

    std::vector<std::optional<Array<T>>> arrays_;
    std::unique_ptr<ntkfast::InfiniteWidthKernel<T>> kernel_;
};

template <class T>
std::unique_ptr<KernelTiles<T>> kernel_tiles(
    const std::string& kind, int depth, double weight_var, double bias_var, double param_a,
    double param_b, int first_layer, int last_layer, Array<T> x1, Array<T> sigma_diag1,
    Optional<T> x2, Optional<T> sigma_diag2, Optional<T> theta_diag1, Optional<T> sigma_dot_diag1,
    int mehler_offset, int mehler_step, std::vector<int> mehler_terms,
    std::vector<double> mehler_rho_limits, Optional<T> coef1, Optional<T> d0_1, Optional<T> coef2,
    Optional<T> d0_2) {
    require(first_layer == 0 && last_layer == depth,
            "tiles are computed in one pass from the inputs to the last layer");
    const KernelInputs<T> in = kernel_inputs<T>(
        kind, depth, weight_var, bias_var, param_a, param_b, first_layer, last_layer, x1,
        sigma_diag1, x2, sigma_diag2, theta_diag1, sigma_dot_diag1, mehler_offset, mehler_step,
        mehler_terms, mehler_rho_limits, coef1, d0_1, coef2, d0_2);
    return std::make_unique<KernelTiles<T>>(
        in, std::vector<std::optional<Array<T>>>{x1, sigma_diag1, x2, sigma_diag2, theta_diag1,
                                                  sigma_dot_diag1, coef1, d0_1, coef2, d0_2});
}

template <class T> void bind_for(py::module_& m, const char* class_name) {
    py::class_<KernelTiles<T>>(m, class_name)
        .def("apply_symmetric", &KernelTiles<T>::apply_symmetric, py::arg("v").noconvert(),
             py::arg("ntk"), py::arg("ridge"), py::arg("n_threads"))
        .def("apply_cross", &KernelTiles<T>::apply_cross, py::arg("v").noconvert(),
             py::arg("ntk"), py::arg("n_threads"));
    std::apply(
        [&](auto... inputs) {
            m.def("kernel_tiles", &kernel_tiles<T>, inputs...);
        },
        input_args());
}

}  // namespace

void bind_kernel_operator(py::module_& m) {
    // Overloads are tried in order; noconvert makes the dtype pick the instantiation.
    bind_for<double>(m, "KernelTiles64");
    bind_for<float>(m, "KernelTiles32");
}
