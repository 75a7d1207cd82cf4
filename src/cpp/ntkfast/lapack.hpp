// The one LAPACK routine the core calls, from the same OpenBLAS as blas.hpp (symbols prefixed
// scipy_, 32-bit integers; OpenBLAS implements dpotrf itself, and runs it single-threaded like
// every other call here: see blas.hpp).
#pragma once

#include <cblas.h>

#include <cstddef>

#include "blas.hpp"

extern "C" void scipy_dpotrf_(const char* uplo, const blasint* n, double* a, const blasint* lda,
                              blasint* info);

namespace ntkfast::lapack {

// Cholesky factor of the row-major symmetric A (n×n, lda), in place: its lower triangle is read
// and replaced by L with A = L Lᵀ; the strictly upper triangle is not touched. (Row-major lower is
// column-major upper, so this is LAPACK's uplo = 'U'.) Returns LAPACK's info: 0, the 1-based index
// of the first pivot that is not positive (L is then only partly computed), or −i for a bad i-th
// argument. Throws nothing (it runs inside OpenMP tasks): n and lda must fit in blasint, which the
// caller checks beforehand (blas::checked_int).
inline long potrf_lower(std::size_t n, double* a, std::size_t lda) noexcept {
    const char uplo = 'U';
    const blasint bn = static_cast<blasint>(n), blda = static_cast<blasint>(lda);
    blasint info = 0;
    scipy_dpotrf_(&uplo, &bn, a, &blda, &info);
    return static_cast<long>(info);
}

}  // namespace ntkfast::lapack
