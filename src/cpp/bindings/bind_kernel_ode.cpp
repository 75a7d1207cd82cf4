// Bindings of the kernel-ODE core (ntkfast/dynamics.py validates everything and allocates every
// array; sizes are re-checked here so a wrong call raises instead of reading out of bounds).
// The integration runs with the GIL released; it is re-acquired before every step to check for
// Ctrl-C and around each call of a user's loss. A Python exception raised there travels out as
// py::error_already_set (which acquires the GIL itself when destroyed).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

#include "../ntkfast/blas.hpp"
#include "../ntkfast/kernel_ode.hpp"

namespace py = pybind11;

namespace {

using Array = py::array_t<double, py::array::c_style>;

void check_size(const Array& a, std::size_t expected, const char* what) {
    if (static_cast<std::size_t>(a.size()) != expected)
        throw std::invalid_argument(std::string(what) + ": expected " + std::to_string(expected) +
                                    " elements, got " + std::to_string(a.size()));
}

py::tuple kernel_ode(const Array& k, const Array& y, const Array& f0, const Array& times,
                     const std::string& loss, py::object callback, const std::string& method,
                     double rtol, double atol, double dt, std::size_t max_steps, Array f_out,
                     std::optional<Array> integral_out, int n_threads) {
    if (k.ndim() != 2 || k.shape(0) != k.shape(1)) throw std::invalid_argument("k must be square");
    if (y.ndim() != 2 || y.shape(0) != k.shape(0)) throw std::invalid_argument("y must be (N, O)");
    const std::size_t n = static_cast<std::size_t>(k.shape(0));
    const std::size_t n_out = static_cast<std::size_t>(y.shape(1));
    const std::size_t n_times = static_cast<std::size_t>(times.size());
    check_size(f0, n * n_out, "f0");
    check_size(f_out, n_times * n * n_out, "f_out");
    if (integral_out) check_size(*integral_out, n_times * n * n_out, "integral_out");

    ntkfast::KernelOdeProblem p;
    p.n = n;
    p.n_out = n_out;
    p.k = k.data();
    p.f0 = f0.data();
    p.n_threads = n_threads;
    const double* yp = y.data();
    if (loss == "mse") {
        p.derivative = [=](const double* f, double* d) { ntkfast::mse_derivative(n, n_out, yp, f, d); };
    } else if (loss == "cross_entropy") {
        p.derivative = [=](const double* f, double* d) {
            ntkfast::cross_entropy_derivative(n, n_out, yp, f, d);
        };
    } else if (loss == "callback") {
        if (!PyCallable_Check(callback.ptr())) throw std::invalid_argument("callback is not callable");
        p.derivative = [&callback, n, n_out](const double* f, double* d) {
            py::gil_scoped_acquire gil;
            Array fa({n, n_out});
            std::memcpy(fa.mutable_data(), f, n * n_out * sizeof(double));
            py::object r = callback(fa);
            if (!py::isinstance<Array>(r)) throw std::invalid_argument("loss callback: expected a float64 array");
            Array da = r.cast<Array>();
            check_size(da, n * n_out, "loss callback result");
            std::memcpy(d, da.data(), n * n_out * sizeof(double));
        };
    } else {
        throw std::invalid_argument("unknown loss '" + loss + "'");
    }
    p.between_steps = [] {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    };

    ntkfast::OdeOptions o;
    if (method == "dopri5") o.method = ntkfast::OdeMethod::Dopri5;
    else if (method == "rk4") o.method = ntkfast::OdeMethod::Rk4;
    else throw std::invalid_argument("unknown method '" + method + "'");
    o.rtol = rtol;
    o.atol = atol;
    o.dt = dt;
    o.max_steps = max_steps;

    ntkfast::OdeStats s;
    {
        py::gil_scoped_release release;
        s = ntkfast::integrate_kernel_ode(p, times.data(), n_times, o, f_out.mutable_data(),
                                          integral_out ? integral_out->mutable_data() : nullptr);
    }
    return py::make_tuple(s.n_rhs, s.n_steps, s.n_rejected);
}

// out[j] = f0_test − (1/N) · k_test · integral[j] for every requested time j.
void apply_test_kernel(const Array& k_test, const Array& integral, const Array& f0_test, Array out,
                       int n_threads) {
    if (k_test.ndim() != 2 || integral.ndim() != 3 || integral.shape(1) != k_test.shape(1))
        throw std::invalid_argument("k_test (M, N) and integral (T, N, O) do not match");
    const std::size_t m = static_cast<std::size_t>(k_test.shape(0));
    const std::size_t n = static_cast<std::size_t>(k_test.shape(1));
    const std::size_t n_times = static_cast<std::size_t>(integral.shape(0));
    const std::size_t n_out = static_cast<std::size_t>(integral.shape(2));
    check_size(f0_test, m * n_out, "f0_test");
    check_size(out, n_times * m * n_out, "out");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const double* kp = k_test.data();
    const double* ip = integral.data();
    const double* f0p = f0_test.data();
    double* op = out.mutable_data();
    for (std::size_t j = 0; j < n_times; ++j) {
        {
            py::gil_scoped_release release;
            std::memcpy(op + j * m * n_out, f0p, m * n_out * sizeof(double));
            ntkfast::kernel_product(m, n, n_out, -1.0 / static_cast<double>(n), kp, ip + j * n * n_out,
                                    1.0, op + j * m * n_out, n_threads);
        }
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    }
}

// out = k @ d: the right-hand side's product alone, for the benchmark.
void kernel_matvec(const Array& k, const Array& d, Array out, int n_threads) {
    if (k.ndim() != 2 || d.ndim() != 2 || d.shape(0) != k.shape(1))
        throw std::invalid_argument("k (M, N) and d (N, O) do not match");
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    const std::size_t m = static_cast<std::size_t>(k.shape(0));
    const std::size_t n = static_cast<std::size_t>(k.shape(1));
    const std::size_t n_out = static_cast<std::size_t>(d.shape(1));
    check_size(out, m * n_out, "out");
    py::gil_scoped_release release;
    ntkfast::kernel_product(m, n, n_out, 1.0, k.data(), d.data(), 0.0, out.mutable_data(), n_threads);
}

double read_bandwidth(std::size_t n_bytes, int n_threads, int repeats) {
    py::gil_scoped_release release;
    return ntkfast::read_bandwidth(n_bytes, n_threads, repeats);
}

}  // namespace

void bind_kernel_ode(py::module_& m) {
    ntkfast::blas::use_single_thread();  // our OpenMP tiles are the parallelism (see blas.hpp)
    m.def("kernel_ode", &kernel_ode, py::arg("k").noconvert(), py::arg("y").noconvert(),
          py::arg("f0").noconvert(), py::arg("times").noconvert(), py::arg("loss"),
          py::arg("callback").none(true), py::arg("method"), py::arg("rtol"), py::arg("atol"),
          py::arg("dt"), py::arg("max_steps"), py::arg("f_out").noconvert(),
          py::arg("integral_out").noconvert().none(true), py::arg("n_threads"),
          "Integrate kernel gradient descent; returns (n_rhs, n_steps, n_rejected).");
    m.def("apply_test_kernel", &apply_test_kernel, py::arg("k_test").noconvert(),
          py::arg("integral").noconvert(), py::arg("f0_test").noconvert(),
          py::arg("out").noconvert(), py::arg("n_threads"));
    m.def("kernel_matvec", &kernel_matvec, py::arg("k").noconvert(), py::arg("d").noconvert(),
          py::arg("out").noconvert(), py::arg("n_threads"), "out = k @ d (row tiles, GIL released).");
    m.def("read_bandwidth", &read_bandwidth, py::arg("n_bytes"), py::arg("n_threads"),
          py::arg("repeats") = 5,
          "Bytes per second of a streaming read-only pass over n_bytes (best of repeats).");
}
