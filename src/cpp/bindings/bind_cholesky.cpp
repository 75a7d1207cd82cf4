// Bindings of the Cholesky core (kernel regression at t = ∞; ntkfast/_cholesky.py validates and
// allocates every array, sizes are re-checked here so a wrong call raises instead of reading out
// of bounds). The factorization and solves run with the GIL released; it is taken back between
// blocks to check for Ctrl-C. The test outputs are computed by chunks of rows for the same reason.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "../ntkfast/blas.hpp"
#include "../ntkfast/cholesky.hpp"
#include "../ntkfast/kernel_matrix.hpp"
#include "chunked.hpp"

namespace py = pybind11;

namespace {

using Array = py::array_t<double, py::array::c_style>;

void check_shape(const Array& a, std::size_t rows, std::size_t cols, const char* what) {
    if (a.ndim() != 2 || static_cast<std::size_t>(a.shape(0)) != rows ||
        static_cast<std::size_t>(a.shape(1)) != cols)
        throw std::invalid_argument(std::string(what) + ": expected shape (" + std::to_string(rows) +
                                    ", " + std::to_string(cols) + ")");
}

// Ctrl-C between blocks: the GIL is taken back only for the check.
void check_signals() {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

// factor's lower triangle = L with L Lᵀ = k + ridge·I; returns 0, or the 1-based index of the first
// pivot that is not positive.
std::size_t cholesky_factor(const Array& k, double ridge, Array factor, int n_threads) {
    if (k.ndim() != 2 || k.shape(0) != k.shape(1)) throw std::invalid_argument("k must be square");
    const std::size_t n = static_cast<std::size_t>(k.shape(0));
    check_shape(factor, n, n, "factor");
    if (k.data() == factor.data()) throw std::invalid_argument("factor must not be k");
    py::gil_scoped_release release;
    return ntkfast::cholesky_factor(k.data(), ridge, factor.mutable_data(), n, n_threads,
                                    check_signals);
}

// b ← (L Lᵀ)⁻¹ b, in place.
void cholesky_solve(const Array& factor, Array b, int n_threads) {
    if (factor.ndim() != 2 || factor.shape(0) != factor.shape(1))
        throw std::invalid_argument("factor must be square");
    const std::size_t n = static_cast<std::size_t>(factor.shape(0));
    if (b.ndim() != 2 || static_cast<std::size_t>(b.shape(0)) != n)
        throw std::invalid_argument("b must be (N, O)");
    const std::size_t m = static_cast<std::size_t>(b.shape(1));
    py::gil_scoped_release release;
    ntkfast::cholesky_solve(factor.data(), n, b.mutable_data(), m, n_threads, check_signals);
}

// out = f0_test + k_test @ alpha, by chunks of rows (fixed: the row tiles inside, and so the
// results, do not depend on the thread count).
void add_test_product(const Array& k_test, const Array& alpha, const Array& f0_test, Array out,
                      int n_threads) {
    if (k_test.ndim() != 2 || alpha.ndim() != 2 || alpha.shape(0) != k_test.shape(1))
        throw std::invalid_argument("k_test (M, N) and alpha (N, O) do not match");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const std::size_t m = static_cast<std::size_t>(k_test.shape(0));
    const std::size_t n = static_cast<std::size_t>(k_test.shape(1));
    const std::size_t n_out = static_cast<std::size_t>(alpha.shape(1));
    check_shape(f0_test, m, n_out, "f0_test");
    check_shape(out, m, n_out, "out");
    const double* kp = k_test.data();
    const double* ap = alpha.data();
    const double* f0p = f0_test.data();
    double* op = out.mutable_data();
    constexpr std::size_t kRowChunk = 8192;
    ntkfast_bindings::run_chunked(m, kRowChunk, [&](std::size_t begin, std::size_t end) {
        std::memcpy(op + begin * n_out, f0p + begin * n_out, (end - begin) * n_out * sizeof(double));
        ntkfast::kernel_product(end - begin, n, n_out, 1.0, kp + begin * n, ap, 1.0,
                                op + begin * n_out, n_threads);
    });
}

}  // namespace

void bind_cholesky(py::module_& m) {
    ntkfast::blas::use_single_thread();  // our OpenMP tiles are the parallelism (see blas.hpp)
    m.def("cholesky_factor", &cholesky_factor, py::arg("k").noconvert(), py::arg("ridge"),
          py::arg("factor").noconvert(), py::arg("n_threads"),
          "Lower triangle of factor = L with L L^T = k + ridge*I (blocked, GIL released, Ctrl-C "
          "between blocks); returns 0 or the 1-based index of the first non-positive pivot.");
    m.def("cholesky_solve", &cholesky_solve, py::arg("factor").noconvert(), py::arg("b").noconvert(),
          py::arg("n_threads"), "b <- (L L^T)^-1 b in place, L the lower triangle of factor.");
    m.def("add_test_product", &add_test_product, py::arg("k_test").noconvert(),
          py::arg("alpha").noconvert(), py::arg("f0_test").noconvert(), py::arg("out").noconvert(),
          py::arg("n_threads"), "out = f0_test + k_test @ alpha (row tiles, GIL released).");
}
