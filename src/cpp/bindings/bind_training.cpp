// Bindings of the gradient-descent core (ntkfast/training.py drives it). Python validates the
// network and data and allocates every array; this object keeps references to them (the weights
// and biases are the trained network's own arrays, updated in place) and re-checks their sizes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "../ntkfast/blas.hpp"
#include "../ntkfast/mlp_training.hpp"
#include "chunked.hpp"
#include "mlp_arrays.hpp"

namespace py = pybind11;

namespace {

using ntkfast_bindings::Array;
using ntkfast_bindings::sized;
using ntkfast_bindings::sized_mut;

ntkfast::TrainingLoss parse_loss(const std::string& name) {
    if (name == "mse") return ntkfast::TrainingLoss::Mse;
    if (name == "cross_entropy") return ntkfast::TrainingLoss::CrossEntropy;
    if (name == "external") return ntkfast::TrainingLoss::External;
    throw std::invalid_argument("loss: unknown compiled loss '" + name + "'");
}

template <class T>
class Trainer {
public:
    Trainer(std::vector<Array<T>> weights, std::vector<Array<T>> biases,
            const std::vector<double>& weight_scale, double bias_scale, const std::string& act_kind,
            double act_a, double act_b, Array<T> x, std::optional<Array<T>> y,
            const std::string& loss, double lr, std::size_t tile_rows, int n_threads)
        : weights_(std::move(weights)), biases_(std::move(biases)), x_(std::move(x)), y_(std::move(y)) {
        const auto view = ntkfast_bindings::make_view(weights_, biases_, weight_scale, bias_scale,
                                                      act_kind, act_a, act_b);
        if (x_.ndim() != 2 || static_cast<std::size_t>(x_.shape(1)) != view.widths[0])
            throw std::invalid_argument("x: wrong number of columns");
        const std::size_t rows = static_cast<std::size_t>(x_.shape(0));
        const auto kind = parse_loss(loss);
        const T* y_data = nullptr;
        if (kind != ntkfast::TrainingLoss::External) {
            if (!y_) throw std::invalid_argument("y: needed by the compiled loss");
            y_data = sized(*y_, rows * view.n_out(), "y");
        }
        std::vector<T*> w, b;
        for (std::size_t l = 0; l < view.depth(); ++l) {
            w.push_back(weights_[l].mutable_data());
            b.push_back(biases_[l].mutable_data());
        }
        core_ = std::make_unique<ntkfast::MlpTraining<T>>(view, w, b, x_.data(), y_data, rows, kind,
                                                         lr, tile_rows, n_threads);
    }

    // f at the current parameters, computed if needed; a new (n_rows, n_out) array.
    Array<T> forward() {
        {
            py::gil_scoped_release release;
            core_->forward();
        }
        return output_copy();
    }

    // C at the current parameters (forward pass if needed).
    double evaluate() {
        py::gil_scoped_release release;
        core_->forward();
        return core_->builtin_loss();
    }

    void backward_update(std::optional<Array<double>> d) {
        if (d) {
            const double* dd = sized(*d, core_->n_rows() * core_->n_out(), "d");
            py::gil_scoped_release release;
            core_->set_output_gradient(dd);
            core_->backward_update();
        } else {
            py::gil_scoped_release release;
            core_->backward_update();
        }
    }

    // Up to n_steps steps of gradient descent with the compiled loss; losses[s] = C before step
    // s's update. Stops before the update of a step whose loss is not <= limit (NaN included)
    // and returns the number of completed updates. GIL released per step, Ctrl-C checked between.
    std::size_t run(std::size_t n_steps, Array<double> losses, double limit) {
        double* out = sized_mut(losses, n_steps, "losses");
        std::size_t done = 0;
        bool stopped = false;
        ntkfast_bindings::run_chunked(n_steps, 1, [&](std::size_t s, std::size_t) {
            if (stopped) return;
            core_->forward();
            out[s] = core_->builtin_loss();
            if (!(out[s] <= limit)) {
                stopped = true;
                return;
            }
            core_->backward_update();
            ++done;
        });
        return done;
    }

private:
    Array<T> output_copy() const {
        Array<T> f({core_->n_rows(), core_->n_out()});
        std::copy(core_->output(), core_->output() + core_->n_rows() * core_->n_out(), f.mutable_data());
        return f;
    }

    std::vector<Array<T>> weights_, biases_;
    Array<T> x_;
    std::optional<Array<T>> y_;
    std::unique_ptr<ntkfast::MlpTraining<T>> core_;
};

template <class T> void bind_for(py::module_& m, const char* name) {
    py::class_<Trainer<T>>(m, name)
        .def(py::init<std::vector<Array<T>>, std::vector<Array<T>>, const std::vector<double>&,
                      double, const std::string&, double, double, Array<T>, std::optional<Array<T>>,
                      const std::string&, double, std::size_t, int>(),
             py::arg("weights").noconvert(), py::arg("biases").noconvert(), py::arg("weight_scale"),
             py::arg("bias_scale"), py::arg("act_kind"), py::arg("act_a"), py::arg("act_b"),
             py::arg("x").noconvert(), py::arg("y").noconvert().none(true), py::arg("loss"),
             py::arg("lr"), py::arg("tile_rows"), py::arg("n_threads"))
        .def("forward", &Trainer<T>::forward)
        .def("evaluate", &Trainer<T>::evaluate)
        .def("backward_update", &Trainer<T>::backward_update, py::arg("d").noconvert().none(true))
        .def("run", &Trainer<T>::run, py::arg("n_steps"), py::arg("losses").noconvert(),
             py::arg("limit"));
}

}  // namespace

void bind_training(py::module_& m) {
    ntkfast::blas::use_single_thread();  // our OpenMP tiles are the parallelism (see blas.hpp)
    bind_for<float>(m, "MlpTrainerFloat32");
    bind_for<double>(m, "MlpTrainerFloat64");
}
