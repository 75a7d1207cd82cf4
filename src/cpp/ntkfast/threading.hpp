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

// This thread's number in the current parallel region (0 outside one, or without OpenMP): an
// index into per-thread scratch that outlives the region.
inline int thread_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Fork safety. GCC's libgomp keeps the threads of a multi-threaded region in a per-thread pool,
// docked at a barrier between regions, and installs no fork handler: in a child forked after such
// a region the pool's bookkeeping is copied but its threads are not, and the next multi-threaded
// region waits at that barrier forever. A one-thread region never touches the pool, so a child
// that runs every region on one thread works. The core remembers whether this process may have
// started pool threads; a pthread_atfork child handler (installed with the module, so it covers
// forks that bypass Python too) turns that into "threads lost" for the child and its descendants.

// The thread count a compiled call may use when n were requested: 1 in a process that lost its
// OpenMP threads to fork, else n. A result above 1 marks this process as having pool threads.
int claim_threads(int n);

// Whether this process was forked after a multi-threaded region had run (in it or an ancestor).
bool threads_lost_to_fork();

// Registers the child handler once; later calls do nothing.
void install_fork_handler();

}  // namespace ntkfast
