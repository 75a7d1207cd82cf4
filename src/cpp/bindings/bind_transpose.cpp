// Binding of the blocked transpose (src/cpp/ntkfast/transpose.hpp), float32 and float64.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>

#include "../ntkfast/transpose.hpp"

namespace py = pybind11;

namespace {

template <class T>
void transpose_into(py::array_t<T, py::array::c_style> block, py::array_t<T, py::array::c_style> out,
                    int n_threads) {
    if (block.ndim() != 2 || out.ndim() != 2)
        throw std::invalid_argument("transpose_into: expected a 2-D block and a 2-D out");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const std::ptrdiff_t n = block.shape(0), m = block.shape(1);
    if (out.shape(0) != m || out.shape(1) != n)
        throw std::invalid_argument("transpose_into: out must have the shape of block.T");
    const T* b = block.data();
    T* o = out.mutable_data();
    if (n * m > 0 && b < o + n * m && o < b + n * m)
        throw std::invalid_argument("transpose_into: out overlaps block");
    py::gil_scoped_release release;
    ntkfast::transpose(b, n, m, o, n_threads);
}

template <class T>
py::array_t<T> transposed(py::array_t<T, py::array::c_style> block, int n_threads) {
    if (block.ndim() != 2) throw std::invalid_argument("transposed: expected a 2-D block");
    py::array_t<T> out({block.shape(1), block.shape(0)});
    transpose_into<T>(block, out, n_threads);
    return out;
}

}  // namespace

void bind_transpose(py::module_& m) {
    m.def("transposed", &transposed<float>, py::arg("block").noconvert(), py::arg("n_threads"),
          "A C-contiguous copy of block.T (blocked; float32).");
    m.def("transposed", &transposed<double>, py::arg("block").noconvert(), py::arg("n_threads"),
          "A C-contiguous copy of block.T (blocked; float64).");
    // Into a given array: tests place out at every offset from a 32-byte boundary.
    m.def("transpose_into", &transpose_into<float>, py::arg("block").noconvert(),
          py::arg("out").noconvert(), py::arg("n_threads"), "out[...] = block.T (float32).");
    m.def("transpose_into", &transpose_into<double>, py::arg("block").noconvert(),
          py::arg("out").noconvert(), py::arg("n_threads"), "out[...] = block.T (float64).");
}
