// SimCLR's NT-Xent loss and the row normalisation in front of it. The loss is written for a
// process that owns some rows of a larger gathered batch: it computes those rows' terms against
// every column, and the gradient it returns covers every row of the gathered batch, so that summing
// the returned gradients over processes gives the exact gradient of the global loss.

import Foundation

/// `u = z / max(||z||, 1e-12)` per row, as `torch.nn.functional.normalize`.
/// Shapes: `z, u: [M, D]`.
public final class L2Normalize: Layer {
    private var output = ReusableBuffer()
    private var dInput = ReusableBuffer()
    private var norms: [Float] = []

    public init() {}

    public func outputShape(for input: Shape) -> Shape { input }

    public func forward(_ z: Tensor, context: ComputeContext) -> Tensor {
        let u = output.tensor(z.shape)
        let (rows, width) = (z.shape.n, z.shape.sampleCount)
        if norms.count < rows { norms = Array(repeating: 0, count: rows) }
        for row in 0..<rows {
            let source = z.sample(row)
            var squares: Float = 0
            for j in 0..<width { squares += source[j] * source[j] }
            let norm = max(squares.squareRoot(), 1e-12)
            norms[row] = norm
            let target = u.sample(row)
            for j in 0..<width { target[j] = source[j] / norm }
        }
        return u
    }

    /// `dz = (du - u (u . du)) / ||z||`.
    public func backward(_ du: Tensor, context: ComputeContext) -> Tensor {
        let u = output.tensor(du.shape)
        let dz = dInput.tensor(du.shape)
        let (rows, width) = (du.shape.n, du.shape.sampleCount)
        for row in 0..<rows {
            let (unit, gradient, target) = (u.sample(row), du.sample(row), dz.sample(row))
            var dot: Float = 0
            for j in 0..<width { dot += unit[j] * gradient[j] }
            for j in 0..<width { target[j] = (gradient[j] - unit[j] * dot) / norms[row] }
        }
        return dz
    }
}

/// NT-Xent (normalised temperature-scaled cross entropy) over `M = 2B` unit embeddings where rows
/// `2i` and `2i + 1` are the two views of sample `i`:
///
///     s[r, c] = u_r . u_c / tau,   l_r = -s[r, p(r)] + log sum_{c != r} exp(s[r, c]),
///     L = (1 / M) sum_r l_r,        p(r) = r xor 1.
///
/// A process owning rows `R` computes `sum_{r in R} l_r / M`; the sum over processes is `L`.
public final class ContrastiveLoss {
    public let temperature: Float

    /// `[rows, M]`: similarities, then in place the coefficients `(softmax - onehot) / (M tau)`.
    private var coefficients = ReusableBuffer()
    private var dEmbeddings = ReusableBuffer()
    private var lastRows: Range<Int> = 0..<0
    private var lastEmbeddings: Tensor?

    public init(temperature: Float) {
        precondition(temperature > 0, "ContrastiveLoss: temperature must be positive, got \(temperature)")
        self.temperature = temperature
    }

    /// Loss terms of `rows` against all of `u`.
    ///
    /// - Parameters:
    ///   - u: the gathered unit embeddings `[M, D]`, `M` even, views of one sample adjacent.
    ///   - rows: the rows whose terms this process computes, a range of even bounds.
    /// - Returns: `sum_{r in rows} l_r / M`, in Double.
    public func forward(_ u: Tensor, rows: Range<Int>) -> Double {
        let (total, width) = (u.shape.n, u.shape.sampleCount)
        precondition(total % 2 == 0 && total >= 2, "ContrastiveLoss: need an even number of rows, got \(total)")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= total, "ContrastiveLoss: rows \(rows) outside \(total)")
        let local = rows.count
        let s = coefficients.tensor(Shape(local, total))
        lastRows = rows
        lastEmbeddings = u

        // s = u[rows] [local, D] x u^T [D, M] / tau.
        BLAS.gemm(
            transposeA: false, transposeB: true, m: local, n: total, k: width,
            alpha: 1 / temperature, a: u.sample(rows.lowerBound), lda: width, b: u.pointer, ldb: width,
            beta: 0, c: s.pointer, ldc: total)

        // Per row: mask self, log-sum-exp, loss term; keep (softmax - onehot) / (M tau) for backward.
        var loss = 0.0
        let scale = 1 / (Float(total) * temperature)
        for i in 0..<local {
            let r = rows.lowerBound + i
            let positive = r ^ 1
            let row = s.pointer + i * total
            var largest = -Float.infinity
            for c in 0..<total where c != r { largest = max(largest, row[c]) }
            var sum = 0.0
            for c in 0..<total where c != r { sum += Double(expf(row[c] - largest)) }
            let logSum = Double(largest) + log(sum)
            loss += logSum - Double(row[positive])
            for c in 0..<total {
                let probability = c == r ? 0 : Float(exp(Double(row[c]) - logSum))
                row[c] = (probability - (c == positive ? 1 : 0)) * scale
            }
        }
        return loss / Double(total)
    }

    /// Gradient of the last `forward`'s value with respect to every row of `u`: `[M, D]`. Rows
    /// outside the owned range are nonzero too (they appear as columns of the owned rows).
    public func backward() -> Tensor {
        guard let u = lastEmbeddings else { preconditionFailure("ContrastiveLoss: backward before forward") }
        let (total, width, local) = (u.shape.n, u.shape.sampleCount, lastRows.count)
        let g = coefficients.tensor(Shape(local, total))
        let du = dEmbeddings.tensor(u.shape)

        // (1) As columns: du = g^T [M, local] x u[rows] [local, D].
        BLAS.gemm(
            transposeA: true, transposeB: false, m: total, n: width, k: local,
            alpha: 1, a: g.pointer, lda: total, b: u.sample(lastRows.lowerBound), ldb: width,
            beta: 0, c: du.pointer, ldc: width)

        // (2) As rows: du[rows] += g [local, M] x u [M, D].
        BLAS.gemm(
            transposeA: false, transposeB: false, m: local, n: width, k: total,
            alpha: 1, a: g.pointer, lda: total, b: u.pointer, ldb: width,
            beta: 1, c: du.sample(lastRows.lowerBound), ldc: width)
        return du
    }
}
