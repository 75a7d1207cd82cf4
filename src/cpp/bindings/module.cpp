// The private extension module ntkfast._core. One bind_* function per feature; no maths here.
#include <pybind11/pybind11.h>

#include "../ntkfast/threading.hpp"

namespace py = pybind11;

void bind_infinite_width(py::module_& m);
void bind_kernel_operator(py::module_& m);
void bind_row_projection(py::module_& m);
void bind_empirical(py::module_& m);
void bind_kernel_ode(py::module_& m);
void bind_training(py::module_& m);
void bind_cholesky(py::module_& m);
void bind_kernel_gradient(py::module_& m);
void bind_transpose(py::module_& m);

PYBIND11_MODULE(_core, m) {
    m.doc() = "ntkfast compiled core (private; use the ntkfast package)";
    m.def("openmp_enabled", &ntkfast::openmp_enabled, "Whether the core was built with OpenMP.");
    m.def("default_threads", &ntkfast::default_threads,
          "OpenMP's default thread count (honours OMP_NUM_THREADS; INT_MAX for a value too big "
          "for int); 1 without OpenMP.");
    // Installed before any region can run, so every fork of this process is seen.
    ntkfast::install_fork_handler();
    m.def("claim_threads", &ntkfast::claim_threads, py::arg("n"),
          "The thread count a call may use for n requested: 1 in a process forked after a "
          "multi-threaded OpenMP region (libgomp's pool does not survive fork), else n.");
    m.def("threads_lost_to_fork", &ntkfast::threads_lost_to_fork,
          "Whether this process was forked after a multi-threaded OpenMP region had run.");
    bind_infinite_width(m);
    bind_kernel_operator(m);
    bind_row_projection(m);
    bind_empirical(m);
    bind_kernel_ode(m);
    bind_training(m);
    bind_cholesky(m);
    bind_kernel_gradient(m);
    bind_transpose(m);
}
