// Placeholder: filled in by the kernel_ode work (issue 4).
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_kernel_ode(py::module_& m) { (void)m; }
