// Binding of the blocked transpose (src/cpp/ntkfast/transpose.hpp), float32 and float64.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>

#include "../ntkfast/transpose.hpp"

namespace py = pybind11;

namespace {

template <class T>
py::array_t<T> transposed(py::array_t<T, py::array::c_style> block, int n_threads) {
    if (block.ndim() != 2) throw std::invalid_argument("transposed: expected a 2-D block");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const std::ptrdiff_t n = block.shape(0), m = block.shape(1);
    py::array_t<T> out({m, n});
    T* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        ntkfast::transpose(block.data(), n, m, o, n_threads);
    }
    return out;
}

}  // namespace

void bind_transpose(py::module_& m) {
    m.def("transposed", &transposed<float>, py::arg("block").noconvert(), py::arg("n_threads"),
          "A C-contiguous copy of block.T (blocked; float32).");
    m.def("transposed", &transposed<double>, py::arg("block").noconvert(), py::arg("n_threads"),
          "A C-contiguous copy of block.T (blocked; float64).");
}
