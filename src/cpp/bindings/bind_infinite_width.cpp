// Binding of the infinite-width kernels. Python (ntkfast/_kernel_passes.py) validates and
// prepares every argument (contiguous arrays of the working dtype, per-point diagonals, Mehler
// coefficients) and allocates the outputs; arrays are taken with noconvert so a forgotten
// conversion fails loudly instead of copying. One call is one pass (a range of layers, a block of
// rows or columns); the shapes are checked here again because a wrong size would be read or
// written out of bounds.
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
template <class T> using Optional = std::optional<Array<T>>;

DualKind parse_kind(const std::string& kind) {
    if (kind == "relu_like") return DualKind::relu_like;
    if (kind == "erf") return DualKind::erf;
    if (kind == "identity") return DualKind::identity;
    if (kind == "sin") return DualKind::sin;
    if (kind == "elu") return DualKind::elu;
    if (kind == "mehler") return DualKind::mehler;
    throw std::invalid_argument("unknown dual kind '" + kind + "'");
}

template <class T> const T* data_or_null(const Optional<T>& a) { return a ? a->data() : nullptr; }
template <class T> T* mutable_or_null(Optional<T>& a) { return a ? a->mutable_data() : nullptr; }

void require(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(what);
}

template <class T> void require_size(const Optional<T>& a, std::ptrdiff_t size, const char* what) {
    require(!a || a->size() == size, what);
}

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
    require(depth >= 1 && first_layer >= 0 && last_layer > first_layer && last_layer <= depth,
            "need 0 <= first_layer < last_layer <= depth");
    require(x1.ndim() == 2, "x1 must be 2-D");
    const bool symmetric = !x2.has_value();
    const std::ptrdiff_t n1 = x1.shape(0), d = x1.shape(1);
    const std::ptrdiff_t n2 = symmetric ? n1 : x2->shape(0);
    require(symmetric || (x2->ndim() == 2 && x2->shape(1) == d),
            "x2 must be 2-D with as many columns as x1");
    require(symmetric || sigma_diag2.has_value(), "sigma_diag2 is required with x2");
    const std::ptrdiff_t table_layers = last_layer - std::max(first_layer, 1) + 1;
    const std::ptrdiff_t steps = table_layers - 1;
    require(sigma_diag1.size() == table_layers * n1, "sigma_diag1 has the wrong size");
    require(symmetric || sigma_diag2->size() == table_layers * n2, "sigma_diag2 has the wrong size");

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
    }
    if (symmetric && last_layer == depth) {
        require(theta_diag1.has_value() && theta_diag1->size() == table_layers * n1,
                "theta_diag1 has the wrong size");
        if (layerwise && depth > 1)
            require(sigma_dot_diag1.has_value() && sigma_dot_diag1->size() == steps * n1,
                    "sigma_dot_diag1 is required for layerwise symmetric output");
    }

    ntkfast::RecursionSpec spec;
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
        require(std::ptrdiff_t(mehler_terms.size()) == steps, "mehler_terms: one entry per step");
        std::ptrdiff_t total = 0;
        for (int t : mehler_terms) total += t;
        require(coef1 && d0_1 && coef1->size() == total * n1 && d0_1->size() == steps * n1,
                "Mehler coefficients for x1 have the wrong size");
        require(symmetric || (coef2 && d0_2 && coef2->size() == total * n2 && d0_2->size() == steps * n2),
                "Mehler coefficients for x2 have the wrong size");
    }
    ntkfast::SymmetricDiagonal<T> diag;
    diag.theta_diag = data_or_null(theta_diag1);
    diag.sigma_dot_diag = data_or_null(sigma_dot_diag1);

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

    ntkfast::InfiniteWidthKernel<T> kernel(spec, d, p1, p2, symmetric, diag, out, state);
    ntkfast_bindings::run_chunked(kernel.n_tiles(), std::size_t(8 * n_threads),
                                  [&](std::size_t b, std::size_t e) {
                                      kernel.run_tiles(b, e, n_threads);
                                  });
    {
        py::gil_scoped_release release;
        kernel.finish(n_threads);
    }
}

template <class T> void bind_for(py::module_& m) {
    auto opt = [](const char* name) { return py::arg(name).noconvert().none(true); };
    m.def("infinite_width", &infinite_width<T>, py::arg("kind"), py::arg("depth"),
          py::arg("weight_var"), py::arg("bias_var"), py::arg("param_a"), py::arg("param_b"),
          py::arg("first_layer"), py::arg("last_layer"), py::arg("x1").noconvert(),
          py::arg("sigma_diag1").noconvert(), opt("x2"), opt("sigma_diag2"), opt("theta_diag1"),
          opt("sigma_dot_diag1"), py::arg("mehler_offset"), py::arg("mehler_step"),
          py::arg("mehler_terms"), py::arg("mehler_rho_limits"), opt("coef1"), opt("d0_1"),
          opt("coef2"), opt("d0_2"), opt("nngp"), opt("ntk"), opt("sigma"), opt("sigma_dot"),
          opt("theta"), opt("state_k12"), opt("state_theta"), opt("state_gap_minus"),
          opt("state_gap_plus"), py::arg("row_offset"), py::arg("col_offset"),
          py::arg("n_threads"));
}

}  // namespace

void bind_infinite_width(py::module_& m) {
    // Overloads are tried in order; noconvert makes the dtype pick the instantiation.
    bind_for<double>(m);
    bind_for<float>(m);
}
