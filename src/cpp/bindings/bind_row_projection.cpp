// Binding of the row projection used for the Mehler coefficients (python/ntkfast/_mehler.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>

#include "../ntkfast/row_projection.hpp"

namespace py = pybind11;

namespace {

using Array = py::array_t<double, py::array::c_style>;

Array project_rows(Array values, Array table, int n_threads) {
    if (values.ndim() != 2 || table.ndim() != 2 || values.shape(1) != table.shape(1))
        throw std::invalid_argument("project_rows: expected values (n, p) and table (m, p)");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const std::ptrdiff_t n = values.shape(0), m = table.shape(0), p = values.shape(1);
    Array out({n, m});
    double* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        ntkfast::project_rows(values.data(), n, table.data(), m, p, o, n_threads);
    }
    return out;
}

}  // namespace

void bind_row_projection(py::module_& m) {
    m.def("project_rows", &project_rows, py::arg("values").noconvert(),
          py::arg("table").noconvert(), py::arg("n_threads"),
          "values @ table.T, one thread and one summation order per output entry.");
}
