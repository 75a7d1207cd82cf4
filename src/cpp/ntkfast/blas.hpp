// The BLAS routine that gradient descent and the kernel ODE need (through tiled_gemm.hpp), from
// the OpenBLAS that the scipy-openblas32 wheel ships (symbols prefixed scipy_; 32-bit integers).
// The Python package imports scipy_openblas32 before the extension, which loads the library into
// the process. The empirical NTK does not use it (row_dots.hpp says why).
//
// OpenBLAS is used single-threaded (set once in the module init): parallelism comes from our own
// OpenMP tiles, so every output entry is computed by the same calls whatever the thread count.
#pragma once

#include <cblas.h>

#include <climits>
#include <cstddef>
#include <stdexcept>

namespace ntkfast::blas {

inline blasint checked_int(std::size_t v) {
    if (v > static_cast<std::size_t>(INT_MAX)) throw std::length_error("dimension exceeds 32-bit BLAS");
    return static_cast<blasint>(v);
}

// Row-major C (m×n, ldc) = alpha · A (m×k, lda) · op(B) + beta · C, op(B) = Bᵀ (B is n×k, ldb)
// when b_transposed, else B (k×n, ldb).
inline void gemm(bool b_transposed, std::size_t m, std::size_t n, std::size_t k, float alpha,
                 const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
                 float* c, std::size_t ldc) {
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, b_transposed ? CblasTrans : CblasNoTrans,
                      checked_int(m), checked_int(n), checked_int(k), alpha, a, checked_int(lda),
                      b, checked_int(ldb), beta, c, checked_int(ldc));
}

inline void gemm(bool b_transposed, std::size_t m, std::size_t n, std::size_t k, double alpha,
                 const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta,
                 double* c, std::size_t ldc) {
    scipy_cblas_dgemm(CblasRowMajor, CblasNoTrans, b_transposed ? CblasTrans : CblasNoTrans,
                      checked_int(m), checked_int(n), checked_int(k), alpha, a, checked_int(lda),
                      b, checked_int(ldb), beta, c, checked_int(ldc));
}

// Row-major C (m×n, ldc) = alpha · op(A) · op(B) + beta · C with op(A) = Aᵀ (A is k×m, lda)
// when a_transposed, else A (m×k, lda); op(B) = Bᵀ (B is n×k, ldb) when b_transposed, else B
// (k×n, ldb).
inline void gemm2(bool a_transposed, bool b_transposed, std::size_t m, std::size_t n,
                  std::size_t k, float alpha, const float* a, std::size_t lda, const float* b,
                  std::size_t ldb, float beta, float* c, std::size_t ldc) {
    scipy_cblas_sgemm(CblasRowMajor, a_transposed ? CblasTrans : CblasNoTrans,
                      b_transposed ? CblasTrans : CblasNoTrans, checked_int(m), checked_int(n),
                      checked_int(k), alpha, a, checked_int(lda), b, checked_int(ldb), beta, c,
                      checked_int(ldc));
}

inline void gemm2(bool a_transposed, bool b_transposed, std::size_t m, std::size_t n,
                  std::size_t k, double alpha, const double* a, std::size_t lda, const double* b,
                  std::size_t ldb, double beta, double* c, std::size_t ldc) {
    scipy_cblas_dgemm(CblasRowMajor, a_transposed ? CblasTrans : CblasNoTrans,
                      b_transposed ? CblasTrans : CblasNoTrans, checked_int(m), checked_int(n),
                      checked_int(k), alpha, a, checked_int(lda), b, checked_int(ldb), beta, c,
                      checked_int(ldc));
}

// Upper triangle of the row-major C (n×n) = alpha · A Aᵀ + beta · C, A n×k. The strictly lower
// triangle of C is left as it was.
inline void syrk_upper(std::size_t n, std::size_t k, float alpha, const float* a, std::size_t lda,
                       float beta, float* c, std::size_t ldc) {
    scipy_cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, checked_int(n), checked_int(k),
                      alpha, a, checked_int(lda), beta, c, checked_int(ldc));
}

inline void syrk_upper(std::size_t n, std::size_t k, double alpha, const double* a,
                       std::size_t lda, double beta, double* c, std::size_t ldc) {
    scipy_cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, checked_int(n), checked_int(k),
                      alpha, a, checked_int(lda), beta, c, checked_int(ldc));
}

// Row-major triangular solves with a lower-triangular L (n_l×n_l, ldl), in place on B (rows×cols,
// ldb): side_right: B ← B · op(L)⁻¹ (n_l = cols), else B ← op(L)⁻¹ · B (n_l = rows); op(L) = Lᵀ
// when transposed, else L.
inline void trsm_lower(bool side_right, bool transposed, std::size_t rows, std::size_t cols,
                       const double* l, std::size_t ldl, double* b, std::size_t ldb) {
    scipy_cblas_dtrsm(CblasRowMajor, side_right ? CblasRight : CblasLeft, CblasLower,
                      transposed ? CblasTrans : CblasNoTrans, CblasNonUnit, checked_int(rows),
                      checked_int(cols), 1.0, l, checked_int(ldl), b, checked_int(ldb));
}

// Lower triangle of the row-major C (n×n) = alpha · A Aᵀ + beta · C, A n×k. The strictly upper
// triangle of C is left as it was.
inline void syrk_lower(std::size_t n, std::size_t k, double alpha, const double* a,
                       std::size_t lda, double beta, double* c, std::size_t ldc) {
    scipy_cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, checked_int(n), checked_int(k),
                      alpha, a, checked_int(lda), beta, c, checked_int(ldc));
}

inline void use_single_thread() { scipy_openblas_set_num_threads(1); }

}  // namespace ntkfast::blas
