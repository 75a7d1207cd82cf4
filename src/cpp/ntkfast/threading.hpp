// Thread-count helpers. Every parallel region passes num_threads explicitly; we never call
// omp_set_num_threads, which would change the whole process. The policy (defaults, caps,
// validation) lives in python/ntkfast/_threads.py; the core keeps only what Python cannot see.
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

#include <climits>

namespace ntkfast {

inline bool openmp_enabled() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

// What OpenMP would use by default (honours OMP_NUM_THREADS as the runtime parsed it); 1 without
// OpenMP. libgomp keeps OMP_NUM_THREADS as an unsigned long and omp_get_max_threads returns it
// cut to int: a huge value can come back <= 0, which here reads as "more than any machine has"
// (the caller caps it at the CPU count).
inline int default_threads() {
#ifdef _OPENMP
    const int n = omp_get_max_threads();
    return n > 0 ? n : INT_MAX;
#else
    return 1;
#endif
}

}  // namespace ntkfast
