// NT-Xent: a value worked out by hand, its gradient against finite differences, and the property
// the cluster relies on: row blocks computed separately add up to the whole loss and gradient.

import Compute
import Foundation
import Testing

@Suite("NT-Xent loss")
struct ContrastiveLossTests {
    // Four unit vectors at right angles in the plane, samples {0, 1} and {2, 3}. Row 0 sees its
    // positive (row 1) at similarity 0, row 2 at -1 and row 3 at 0, so with tau = 1
    // l_0 = -0 + log(e^0 + e^-1 + e^0) = log(2 + 1/e); by symmetry every row has the same term.
    @Test func squareConfigurationHasClosedForm() {
        let u = Tensor([1, 0, 0, 1, -1, 0, 0, -1], shape: Shape(4, 2))
        let loss = ContrastiveLoss(temperature: 1).forward(u, rows: 0..<4)
        #expect(abs(loss - log(2 + exp(-1.0))) < 1e-6)
    }

    // Two samples in 3-D with tau = 0.5, computed here term by term in Double, including the
    // normalisation of non-unit embeddings.
    @Test func smallBatchMatchesDirectComputation() {
        let z: [[Double]] = [[1, 2, 0], [2, 1, 1], [0, -1, 3], [-1, 0, 2]]
        let tau = 0.5
        let unit = z.map { row in row.map { $0 / (row.map { $0 * $0 }.reduce(0, +)).squareRoot() } }
        func similarity(_ a: Int, _ b: Int) -> Double { zip(unit[a], unit[b]).map(*).reduce(0, +) / tau }
        var expected = 0.0
        for r in 0..<4 {
            let denominator = (0..<4).filter { $0 != r }.map { exp(similarity(r, $0)) }.reduce(0, +)
            expected += -similarity(r, r ^ 1) + log(denominator)
        }
        expected /= 4

        let context = ComputeContext(threads: 1)
        let normalized = L2Normalize().forward(
            Tensor(z.flatMap { $0.map(Float.init) }, shape: Shape(4, 3)), context: context)
        let loss = ContrastiveLoss(temperature: Float(tau)).forward(normalized, rows: 0..<4)
        #expect(abs(loss - expected) < 1e-6)
    }

    // The loss is smooth in the embeddings: central differences with h = 1e-3 have truncation
    // error ~1e-6 and Float32 rounding of f (~2) over 2h of ~2e-4 against gradients of ~0.1-1.
    // Tolerance 5e-3 of the largest gradient. Several batch sizes, widths and temperatures.
    @Test(arguments: [(2, 3, Float(0.5)), (4, 8, 0.1), (6, 5, 1.0), (1, 4, 0.2)])
    func gradientMatchesFiniteDifferences(samples: Int, width: Int, temperature: Float) {
        let context = ComputeContext(threads: 1)
        let z = randomTensor(Shape(2 * samples, width), seed: UInt64(samples * 31 + width))
        let normalize = L2Normalize()
        let loss = ContrastiveLoss(temperature: temperature)
        func objective() -> Double {
            loss.forward(normalize.forward(z, context: context), rows: 0..<(2 * samples))
        }
        let center = objective()
        let dz = normalize.backward(loss.backward(), context: context).array

        var report = GradientReport()
        let h: Float = 1e-3
        for i in 0..<z.shape.count {
            let saved = z.pointer[i]
            z.pointer[i] = saved + h
            let plus = objective()
            z.pointer[i] = saved - h
            let minus = objective()
            z.pointer[i] = saved
            report.record(name: "z[\(i)]", analytic: Double(dz[i]), plus: plus, center: center, minus: minus, step: h)
        }
        #expect(report.passes(tolerance: 5e-3), "\(report)")
        #expect(report.kinks(tolerance: 5e-3).isEmpty)
    }

    // What a worker of the cluster computes: the terms of its own rows against all columns. The
    // blocks' losses add up to the full loss and their gradients to the full gradient, including
    // the column terms that reach rows a block does not own. Only summation order differs, so
    // 1e-6 relative.
    @Test(arguments: [[0, 4, 8], [0, 2, 6, 8], [0, 8]])
    func rowBlocksAddUpToWholeLoss(boundaries: [Int]) {
        let u = L2Normalize().forward(randomTensor(Shape(8, 6), seed: 3), context: ComputeContext(threads: 1))
        let whole = ContrastiveLoss(temperature: 0.3)
        let wholeLoss = whole.forward(u, rows: 0..<8)
        let wholeGradient = whole.backward().array

        var blockLoss = 0.0
        var blockGradient = [Float](repeating: 0, count: u.shape.count)
        for (start, end) in zip(boundaries, boundaries.dropFirst()) {
            let block = ContrastiveLoss(temperature: 0.3)
            blockLoss += block.forward(u, rows: start..<end)
            for (i, value) in block.backward().array.enumerated() { blockGradient[i] += value }
        }
        #expect(abs(blockLoss - wholeLoss) < 1e-6 * abs(wholeLoss))
        let scale = wholeGradient.map { abs($0) }.max()!
        for i in 0..<wholeGradient.count {
            #expect(abs(blockGradient[i] - wholeGradient[i]) < 1e-6 * scale + 1e-7)
        }
    }

    // Perfectly aligned positives and orthogonal negatives give a loss that falls as the
    // temperature falls, towards zero: the direction SimCLR pushes embeddings.
    @Test func alignedPositivesGiveSmallLoss() {
        var values = [Float](repeating: 0, count: 8 * 4)
        for sample in 0..<4 {
            values[(2 * sample) * 4 + sample] = 1
            values[(2 * sample + 1) * 4 + sample] = 1
        }
        let u = Tensor(values, shape: Shape(8, 4))
        let warm = ContrastiveLoss(temperature: 1).forward(u, rows: 0..<8)
        let cold = ContrastiveLoss(temperature: 0.1).forward(u, rows: 0..<8)
        #expect(cold < warm)
        #expect(cold < 1e-3)
    }
}

@Suite("Cross entropy")
struct CrossEntropyTests {
    // Two rows over three classes, computed here in Double: -log softmax at the label, averaged.
    @Test func valueMatchesDirectComputation() {
        let logits: [[Double]] = [[1, 2, 3], [0.5, -1, 0]]
        let labels = [2, 0]
        var expected = 0.0
        for (row, label) in zip(logits, labels) {
            expected += -row[label] + log(row.map { exp($0) }.reduce(0, +))
        }
        expected /= 2
        let loss = CrossEntropy().forward(
            Tensor(logits.flatMap { $0.map(Float.init) }, shape: Shape(2, 3)), labels: labels)
        #expect(abs(loss - expected) < 1e-6)
    }

    // Smooth in the logits, but curved enough that with h = 1e-2 one-sided differences drift
    // apart by h f'' ~ 3e-4; h = 1e-3 keeps that below the tolerance, and rounding of f (~1)
    // over 2h adds ~1e-4 absolute against gradients of ~0.2: tolerance 3e-3 of the largest.
    @Test(arguments: [(4, 3), (7, 10)])
    func gradientMatchesFiniteDifferences(rows: Int, classes: Int) {
        let logits = randomTensor(Shape(rows, classes), seed: UInt64(rows * classes))
        let labels = (0..<rows).map { $0 % classes }
        let loss = CrossEntropy()
        let center = loss.forward(logits, labels: labels)
        let analytic = loss.backward().array
        var report = GradientReport()
        let h: Float = 1e-3
        for i in 0..<logits.shape.count {
            let saved = logits.pointer[i]
            logits.pointer[i] = saved + h
            let plus = loss.forward(logits, labels: labels)
            logits.pointer[i] = saved - h
            let minus = loss.forward(logits, labels: labels)
            logits.pointer[i] = saved
            report.record(
                name: "logits[\(i)]", analytic: Double(analytic[i]), plus: plus, center: center, minus: minus, step: h)
        }
        #expect(report.passes(tolerance: 3e-3), "\(report)")
    }
}
