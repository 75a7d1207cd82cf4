// Placeholder: filled in by the training work (issue 4).
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_training(py::module_& m) { (void)m; }
