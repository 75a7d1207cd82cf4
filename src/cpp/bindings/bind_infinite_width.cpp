// Binding of the infinite-width kernels. Python (ntkfast/_kernel_passes.py) validates and
// prepares every argument (contiguous arrays of the working dtype, per-point diagonals, Mehler
// coefficients) and allocates the outputs; arrays are taken with noconvert so a forgotten
// conversion fails loudly instead of copying. One call is one pass (a range of layers, a block of
// rows or columns); the shapes are checked here again because a wrong size would be read or
// written out of bounds.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <vector>

#include "../ntkfast/infinite_width.hpp"
#include "chunked.hpp"
#include "kernel_inputs.hpp"

namespace py = pybind11;
using namespace ntkfast_bindings;

namespace {

template <class T> T* mutable_or_null(Optional<T>& a) { return a ? a->mutable_data() : nullptr; }

template <class T>
void infinite_width(const std::string& kind, int depth, double weight_var, double bias_var,
                    double param_a, double param_b, int first_layer, int last_layer, Array<T> x1,
                    Array<T> sigma_diag1, Optional<T> x2, Optional<T> sigma_diag2,
                    Optional<T> theta_diag1, Optional<T> sigma_dot_diag1, int mehler_offset,
                    int mehler_step, std::vector<int> mehler_terms,
                    std::vector<double> mehler_rho_limits, Optional<T> coef1, Optional<T> d0_1,
                    Optional<T> coef2, Optional<T> d0_2, Optional<T> nngp, Optional<T> ntk,
                    Optional<T> sigma, Optional<T> sigma_dot, Optional<T> theta,
                    Optional<T> state_k12, Optional<T> state_theta, Optional<T> state_gap_minus,
                    Optional<T> state_gap_plus, std::ptrdiff_t row_offset, std::ptrdiff_t col_offset,
                    int n_threads) {
    require(n_threads >= 1, "n_threads must be >= 1");
    const KernelInputs<T> in = kernel_inputs<T>(
        kind, depth, weight_var, bias_var, param_a, param_b, first_layer, last_layer, x1,
        sigma_diag1, x2, sigma_diag2, theta_diag1, sigma_dot_diag1, mehler_offset, mehler_step,
        mehler_terms, mehler_rho_limits, coef1, d0_1, coef2, d0_2);
    const std::ptrdiff_t n1 = in.n1, n2 = in.n2;

    // Outputs (final pass) or state (otherwise): (rows, ld) arrays holding this block.
    const Optional<T>* first_out = nngp ? &nngp : (ntk ? &ntk : &state_k12);
    require(first_out->has_value(), "no output or state array");
    const Array<T>& ref = **first_out;
    require(ref.ndim() == 2, "outputs must be 2-D");
    const std::ptrdiff_t rows = ref.shape(0), ld = ref.shape(1);
    require(row_offset >= 0 && col_offset >= 0 && row_offset + n1 <= rows && col_offset + n2 <= ld,
            "the block does not fit in the outputs");
    for (const Optional<T>* a : {&nngp, &ntk, &state_k12, &state_theta, &state_gap_minus, &state_gap_plus})
        require(!a->has_value() || ((*a)->ndim() == 2 && (*a)->shape(0) == rows && (*a)->shape(1) == ld),
                "outputs and state must all have the same shape");
    const bool layerwise = sigma || sigma_dot || theta;
    if (layerwise) {
        require(sigma && theta && (depth == 1 || sigma_dot), "layerwise needs sigma, theta, sigma_dot");
        require(sigma->size() == depth * n1 * n2 && theta->size() == depth * n1 * n2 &&
                    (depth == 1 || sigma_dot->size() == (depth - 1) * n1 * n2),
                "layerwise arrays have the wrong size");
        require(row_offset == 0 && col_offset == 0 && rows == n1 && ld == n2,
                "layerwise output is computed whole");
        if (in.symmetric && depth > 1)
            require(sigma_dot_diag1.has_value(),
                    "sigma_dot_diag1 is required for layerwise symmetric output");
    }

    ntkfast::KernelOutputs<T> out;
    out.nngp = mutable_or_null(nngp);
    out.ntk = mutable_or_null(ntk);
    out.sigma = mutable_or_null(sigma);
    out.sigma_dot = depth > 1 ? mutable_or_null(sigma_dot) : nullptr;
    out.theta = mutable_or_null(theta);
    out.ld = ld;
    out.row_offset = row_offset;
    out.col_offset = col_offset;
    ntkfast::PairState<T> state;
    state.k12 = mutable_or_null(state_k12);
    state.theta = mutable_or_null(state_theta);
    state.gap_minus = mutable_or_null(state_gap_minus);
    state.gap_plus = mutable_or_null(state_gap_plus);

    ntkfast::InfiniteWidthKernel<T> kernel(in.spec, in.d, in.p1, in.p2, in.symmetric, in.diag, out,
                                           state);
    run_chunked(kernel.n_tiles(), std::size_t(8 * n_threads),
                [&](std::size_t b, std::size_t e) { kernel.run_tiles(b, e, n_threads); });
    {
        py::gil_scoped_release release;
        kernel.finish(n_threads);
    }
}

template <class T> void bind_for(py::module_& m) {
    auto opt = [](const char* name) { return py::arg(name).noconvert().none(true); };
    std::apply(
        [&](auto... inputs) {
            m.def("infinite_width", &infinite_width<T>, inputs..., opt("nngp"), opt("ntk"),
                  opt("sigma"), opt("sigma_dot"), opt("theta"), opt("state_k12"),
                  opt("state_theta"), opt("state_gap_minus"), opt("state_gap_plus"),
                  py::arg("row_offset"), py::arg("col_offset"), py::arg("n_threads"));
        },
        input_args());
}

}  // namespace

void bind_infinite_width(py::module_& m) {
    // Overloads are tried in order; noconvert makes the dtype pick the instantiation.
    bind_for<double>(m);
    bind_for<float>(m);
}
