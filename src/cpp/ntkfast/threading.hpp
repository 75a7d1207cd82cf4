// Thread-count helpers. Every parallel region passes num_threads explicitly; we never call
// omp_set_num_threads, which would change the whole process.
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ntkfast {

inline bool openmp_enabled() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

// What OpenMP would use by default (honours OMP_NUM_THREADS); 1 without OpenMP.
inline int default_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace ntkfast
