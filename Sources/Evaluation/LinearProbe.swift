// The linear probe: a softmax classifier trained on frozen encoder features. Features are
// extracted once in inference mode and standardised with the labeled subset's per-dimension mean
// and deviation; only the classifier's weights change, never the encoder's.

import Compute
import Foundation
import Optimization

public struct LinearProbeOptions: Sendable {
    public var epochs: Int = 100
    public var batchSize: Int = 256
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 1e-4
    public var seed: UInt64 = 0

    public init() {}
}

public enum LinearProbe {
    /// Trains a linear classifier on `train` features (`[n, width]`) with Adam and returns the
    /// top-1 accuracy on `test` features, both standardised with the training statistics.
    public static func accuracy(
        train: [Float], trainLabels: [Int], test: [Float], testLabels: [Int], width: Int, classes: Int,
        options: LinearProbeOptions, progress: (_ epochsDone: Int) -> Void = { _ in }
    ) -> Double {
        let n = trainLabels.count
        let m = testLabels.count

        // Standardise with the training mean and deviation.
        var mean = [Float](repeating: 0, count: width)
        var deviation = [Float](repeating: 0, count: width)
        for row in 0..<n { for j in 0..<width { mean[j] += train[row * width + j] / Float(n) } }
        for row in 0..<n {
            for j in 0..<width {
                let d = train[row * width + j] - mean[j]
                deviation[j] += d * d / Float(n)
            }
        }
        deviation = deviation.map { max($0.squareRoot(), 1e-6) }
        func standardised(_ features: [Float], rows: Int) -> [Float] {
            var out = features
            for row in 0..<rows {
                for j in 0..<width { out[row * width + j] = (out[row * width + j] - mean[j]) / deviation[j] }
            }
            return out
        }
        let trainX = standardised(train, rows: n)
        let testX = standardised(test, rows: m)

        // Classifier, loss and optimizer.
        let store = ParameterStore(seed: options.seed)
        let classifier = Linear("fc", store: store, inFeatures: width, outFeatures: classes)
        store.finalize()
        let adam = AdamW(store: store, weightDecay: options.weightDecay)
        let loss = CrossEntropy()
        let context = ComputeContext(threads: 1)
        let schedule = LearningRateSchedule(
            peak: options.learningRate, warmupSteps: 0,
            totalSteps: options.epochs * ((n + options.batchSize - 1) / options.batchSize))

        // Mini-batch epochs over a seeded shuffle.
        var generator = SeededGenerator(seed: options.seed, 0x50524F42)
        var order = Array(0..<n)
        var step = 0
        let batch = Tensor(zeros: Shape(options.batchSize, width))
        for epoch in 0..<options.epochs {
            defer { progress(epoch + 1) }
            order.shuffle(using: &generator)
            for start in stride(from: 0, to: n, by: options.batchSize) {
                let rows = Array(order[start..<min(start + options.batchSize, n)])
                for (i, row) in rows.enumerated() {
                    trainX.withUnsafeBufferPointer {
                        (batch.pointer + i * width).update(from: $0.baseAddress! + row * width, count: width)
                    }
                }
                let x = Tensor(storage: batch.storage, shape: Shape(rows.count, width))
                store.zeroGradients()
                _ = loss.forward(classifier.forward(x, context: context), labels: rows.map { trainLabels[$0] })
                _ = classifier.backward(loss.backward(), context: context)
                adam.step(learningRate: schedule.rate(at: step))
                step += 1
            }
        }

        // Top-1 on the test features.
        let logits = classifier.forward(Tensor(testX, shape: Shape(m, width)), context: context)
        var correct = 0
        for row in 0..<m {
            let values = logits.sample(row)
            var best = 0
            for c in 1..<classes where values[c] > values[best] { best = c }
            if best == testLabels[row] { correct += 1 }
        }
        return Double(correct) / Double(m)
    }
}
