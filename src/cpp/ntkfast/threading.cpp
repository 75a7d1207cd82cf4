// Fork state of the OpenMP runtime (see threading.hpp). Conservative on purpose: a claim of more
// than one thread counts as a started pool even if the region then ran serially (tiny inputs) or
// on another OS thread than the one that forks (libgomp's pools are per thread); the cost of a
// false positive is a serial child, of a false negative a hang.
#include "threading.hpp"

#include <atomic>

#if defined(_OPENMP) && __has_include(<pthread.h>)
#include <pthread.h>
#define NTKFAST_HAVE_ATFORK 1
#endif

namespace ntkfast {

namespace {

std::atomic<bool> g_pool_started{false};
std::atomic<bool> g_threads_lost{false};

#ifdef NTKFAST_HAVE_ATFORK
// Runs in the child right after fork: only async-signal-safe work (lock-free atomics).
void on_fork_child() {
    if (g_pool_started.load())
        g_threads_lost.store(true);
}
#endif

}  // namespace

int claim_threads(int n) {
    if (n <= 1) return n;
    if (g_threads_lost.load()) return 1;
    g_pool_started.store(true);
    return n;
}

bool threads_lost_to_fork() { return g_threads_lost.load(); }

void install_fork_handler() {
#ifdef NTKFAST_HAVE_ATFORK
    static const bool installed = [] {
        pthread_atfork(nullptr, nullptr, &on_fork_child);
        return true;
    }();
    (void)installed;
#endif
}

}  // namespace ntkfast
