// The few BLAS calls the compute core makes, with their dimensions checked before every call.
// Row-major throughout; `C = alpha * op(A) * op(B) + beta * C`.

import CBLAS

public enum BLAS {
    /// Single-precision GEMM on row-major matrices.
    ///
    /// - Parameters:
    ///   - transposeA: use `A^T`; `A` is stored `[k, m]` with leading dimension `lda` when true,
    ///     `[m, k]` otherwise.
    ///   - transposeB: use `B^T`; `B` is stored `[n, k]` when true, `[k, n]` otherwise.
    @inlinable
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative dimension m=\(m) n=\(n) k=\(k)")
        precondition(lda >= max(1, transposeA ? m : k), "gemm: lda \(lda) too small")
        precondition(ldb >= max(1, transposeB ? k : n), "gemm: ldb \(ldb) too small")
        precondition(ldc >= max(1, n), "gemm: ldc \(ldc) too small")
        precondition(
            m < Int(Int32.max) && n < Int(Int32.max) && k < Int(Int32.max), "gemm: dimension overflows blasint")
        if m == 0 || n == 0 { return }
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}
