// The one LAPACK routine the core calls, from the same OpenBLAS as blas.hpp (symbols prefixed
// scipy_, 32-bit integers; OpenBLAS implements dpotrf itself, and runs it single-threaded like
// every other call here: see blas.hpp).
#pragma once

#include <cblas.h>

#include <cstddef>
#include <stdexcept>

#include "blas.hpp"

extern "C" void scipy_dpotrf_(const char* uplo, const blasint* n, double* a, const blasint* lda,
                              blasint* info);

namespace ntkfast::lapack {

// Cholesky factor of the row-major symmetric A (n×n, lda), in place: its lower triangle is read
// and replaced by L with A = L Lᵀ; the strictly upper triangle is not touched. (Row-major lower is
// column-major upper, so this is LAPACK's uplo = 'U'.) Returns 0, or the 1-based index of the
// first pivot that is not positive (LAPACK's info; L is then only partly computed).
inline std::size_t potrf_lower(std::size_t n, double* a, std::size_t lda) {
    const char uplo = 'U';
    const blasint bn = blas::checked_int(n), blda = blas::checked_int(lda);
    blasint info = 0;
    scipy_dpotrf_(&uplo, &bn, a, &blda, &info);
    if (info < 0) throw std::invalid_argument("dpotrf: invalid argument");  // a bug here, not input
    return static_cast<std::size_t>(info);
}

}  // namespace ntkfast::lapack
