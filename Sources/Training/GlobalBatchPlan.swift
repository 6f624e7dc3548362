// The global batch plan: which samples each global step uses. Each epoch is a permutation of the
// dataset drawn from (run seed, epoch), cut into consecutive batches of B samples; the last batch
// of an epoch takes the remainder (a remainder of one sample joins the batch before it, since a
// lone sample has no negatives). Every epoch visits every sample exactly once, and the plan does
// not depend on how many processes compute it, nor on which.

import Compute

public struct GlobalBatchPlan: Sendable, Equatable {
    public let sampleCount: Int
    public let batchSize: Int
    public let seed: UInt64

    public init(sampleCount: Int, batchSize: Int, seed: UInt64) {
        precondition(batchSize >= 2, "GlobalBatchPlan: batch size must be at least 2")
        precondition(sampleCount >= 2, "GlobalBatchPlan: need at least 2 samples")
        self.sampleCount = sampleCount
        self.batchSize = min(batchSize, sampleCount)
        self.seed = seed
    }

    /// Steps in one epoch.
    public var stepsPerEpoch: Int {
        let full = sampleCount / batchSize
        let remainder = sampleCount % batchSize
        return remainder >= 2 ? full + 1 : full
    }

    /// The epoch of global step `step`.
    public func epoch(of step: Int) -> Int { step / stepsPerEpoch }

    /// The permutation of the dataset for `epoch` (Fisher-Yates on a stream named by seed and epoch).
    public func permutation(epoch: Int) -> [Int] {
        var order = Array(0..<sampleCount)
        var generator = SeededGenerator(seed: seed, 0x5045_524D, UInt64(epoch))
        for i in stride(from: sampleCount - 1, to: 0, by: -1) {
            let j = Int(generator.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return order
    }

    /// Positions `[start, end)` within the epoch's permutation that step `step` uses.
    public func positions(step: Int) -> Range<Int> {
        let local = step % stepsPerEpoch
        let start = local * batchSize
        let end = local == stepsPerEpoch - 1 ? sampleCount : start + batchSize
        return start..<end
    }

    /// The sample indices of global step `step`, given that epoch's permutation.
    public func indices(step: Int, permutation: [Int]) -> [Int] { Array(permutation[positions(step: step)]) }

    /// Splits `count` samples among `parts` processes as evenly as possible, in order: the first
    /// `count % parts` get one more.
    public static func evenSplit(count: Int, parts: Int) -> [Range<Int>] {
        precondition(parts > 0)
        return (0..<parts).map { part in
            let start = part * (count / parts) + min(part, count % parts)
            let size = count / parts + (part < count % parts ? 1 : 0)
            return start..<(start + size)
        }
    }
}
