// Softmax cross-entropy for classifiers (linear probe, fine-tuning, supervised baseline), with
// its gradient with respect to the logits.

import Foundation

/// `L = (1 / N) sum_i -log softmax(logits_i)[label_i]`. Shapes: `logits: [N, classes]`.
public final class CrossEntropy {
    private var dLogits = ReusableBuffer()
    private var lastShape = Shape(0, 0)

    public init() {}

    /// Returns the mean loss and keeps `dL/dlogits = (softmax - onehot) / N` for `backward()`.
    public func forward(_ logits: Tensor, labels: [Int]) -> Double {
        let (n, classes) = (logits.shape.n, logits.shape.sampleCount)
        precondition(labels.count == n, "CrossEntropy: \(labels.count) labels for \(n) rows")
        let gradient = dLogits.tensor(logits.shape)
        lastShape = logits.shape
        var loss = 0.0
        for row in 0..<n {
            let values = logits.sample(row)
            let target = gradient.sample(row)
            precondition(labels[row] >= 0 && labels[row] < classes, "CrossEntropy: label \(labels[row]) out of range")
            var largest = -Float.infinity
            for c in 0..<classes { largest = max(largest, values[c]) }
            var sum = 0.0
            for c in 0..<classes { sum += exp(Double(values[c] - largest)) }
            let logSum = Double(largest) + log(sum)
            loss += logSum - Double(values[labels[row]])
            for c in 0..<classes {
                target[c] = (Float(exp(Double(values[c]) - logSum)) - (c == labels[row] ? 1 : 0)) / Float(n)
            }
        }
        return loss / Double(n)
    }

    /// `dL/dlogits` of the last forward: `[N, classes]`.
    public func backward() -> Tensor { dLogits.tensor(lastShape) }
}
