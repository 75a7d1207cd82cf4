// numpy arrays → the C++ view of an MLP, shared by the empirical-NTK and training bindings.
// Python validates the network; the sizes are re-checked here so that a wrong call raises
// instead of reading out of bounds.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "../ntkfast/finite_mlp.hpp"

namespace ntkfast_bindings {

template <class T> using Array = pybind11::array_t<T, pybind11::array::c_style>;

template <class T>
const T* sized(const Array<T>& a, std::size_t expected, const std::string& what) {
    if (static_cast<std::size_t>(a.size()) != expected)
        throw std::invalid_argument(what + ": expected " + std::to_string(expected) +
                                    " elements, got " + std::to_string(a.size()));
    return a.data();
}

template <class T>
T* sized_mut(Array<T>& a, std::size_t expected, const std::string& what) {
    sized(a, expected, what);
    return a.mutable_data();
}

template <class T>
ntkfast::MlpView<T> make_view(const std::vector<Array<T>>& weights,
                              const std::vector<Array<T>>& biases,
                              const std::vector<double>& weight_scale, double bias_scale,
                              const std::string& act_kind, double act_a, double act_b) {
    const std::size_t L = weights.size();
    if (L == 0 || biases.size() != L || weight_scale.size() != L)
        throw std::invalid_argument("weights, biases and weight_scale must have one entry per layer");
    ntkfast::MlpView<T> v;
    v.widths.push_back(static_cast<std::size_t>(weights[0].shape(1)));
    for (std::size_t l = 0; l < L; ++l) {
        if (weights[l].ndim() != 2 || static_cast<std::size_t>(weights[l].shape(1)) != v.widths[l])
            throw std::invalid_argument("weights[" + std::to_string(l) + "] has the wrong shape");
        const std::size_t n_next = static_cast<std::size_t>(weights[l].shape(0));
        v.widths.push_back(n_next);
        v.weights.push_back(weights[l].data());
        v.biases.push_back(sized(biases[l], n_next, "biases[" + std::to_string(l) + "]"));
        v.weight_scale.push_back(static_cast<T>(weight_scale[l]));
    }
    v.bias_scale = static_cast<T>(bias_scale);
    v.act = ntkfast::pointwise_from_name(act_kind, act_a, act_b);
    return v;
}

}  // namespace ntkfast_bindings
