// Run a long, tiled computation in chunks with the GIL released, checking for Ctrl-C between
// chunks (PyErr_CheckSignals needs the GIL). A chunk is a few tiles per thread, so an interrupt is
// honoured within a fraction of a second while the per-chunk overhead stays negligible.
#pragma once

#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstddef>

namespace ntkfast_bindings {

template <class RunRange>
void run_chunked(std::size_t n_items, std::size_t chunk, RunRange&& run_range) {
    namespace py = pybind11;
    chunk = std::max<std::size_t>(chunk, 1);
    for (std::size_t begin = 0; begin < n_items; begin += chunk) {
        const std::size_t end = std::min(n_items, begin + chunk);
        {
            py::gil_scoped_release release;
            run_range(begin, end);
        }
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    }
}

// The same for work that stops on its own after a time slice: step() returns whether all is done.
template <class Step> void run_sliced(Step&& step) {
    namespace py = pybind11;
    for (;;) {
        bool done;
        {
            py::gil_scoped_release release;
            done = step();
        }
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (done) return;
    }
}

}  // namespace ntkfast_bindings
