// Learning-rate schedule and the batch-size scaling rules of the SimCLR paper.

import Foundation

/// Linear warmup to `peak`, then cosine decay to zero at `totalSteps` (SimCLR's schedule).
///
/// Step `t` (0-based) during warmup gets `peak * (t + 1) / warmupSteps`, so the first step
/// already moves the weights; after warmup, `peak * (1 + cos(pi * (t - warmup) / (total - warmup))) / 2`.
public struct LearningRateSchedule: Sendable, Codable, Equatable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(peak: Float, warmupSteps: Int, totalSteps: Int) {
        precondition(warmupSteps >= 0 && totalSteps > 0, "LearningRateSchedule: invalid step counts")
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let decaySteps = max(1, totalSteps - warmupSteps)
        let progress = min(1, Double(step - warmupSteps) / Double(decaySteps))
        return peak * Float(0.5 * (1 + cos(Double.pi * progress)))
    }
}

/// How the peak learning rate follows the batch size B (samples per global batch).
public enum LearningRateScaling: String, Sendable, Codable, CaseIterable {
    /// `base * B / 256`; the paper's LARS setting uses base 0.3.
    case linear
    /// `base * sqrt(B)`; the paper's alternative for small batches uses base 0.075.
    case squareRoot = "sqrt"
    /// `base` as given.
    case none

    /// The paper's base for this rule (0.3 and 0.075).
    public var paperBase: Float? {
        switch self {
        case .linear: 0.3
        case .squareRoot: 0.075
        case .none: nil
        }
    }

    public func peak(base: Float, batchSize: Int) -> Float {
        switch self {
        case .linear: base * Float(batchSize) / 256
        case .squareRoot: base * Float(batchSize).squareRoot()
        case .none: base
        }
    }
}
