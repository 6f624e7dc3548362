// Everything that fixes a pretraining run's result, as one Codable value: it is written to the
// run directory, hashed into checkpoints, and compared field by field when a run is resumed or a
// worker joins. Settings that change only speed (threads, prefetch depth) are deliberately absent.

import Compute
import Foundation
import Optimization

/// Which update rule a run uses.
public enum OptimizerKind: String, Sendable, Codable, CaseIterable {
    case sgd
    case lars
    case adamw
}

public struct TrainingConfiguration: Sendable, Codable, Equatable {
    // Model.
    public var arch: ResNetDepth = .resnet18
    public var width: Int = 64
    public var stem: ResNetStem = .cifar
    public var headLayers: Int = 2
    /// Hidden width of the head; `nil` means the encoder's feature count (the paper's choice).
    public var headHidden: Int?
    public var projectionDim: Int = 128
    public var headOutputBatchNorm: Bool = false

    // Data and schedule.
    /// Samples per global batch; each contributes two views.
    public var batchSize: Int = 256
    public var epochs: Int = 100
    /// Stop after this many steps (the schedule still spans `epochs`).
    public var steps: Int?
    public var seed: UInt64 = 0
    /// Colour-jitter strength s (0.5 for CIFAR in the paper, 1.0 for ImageNet).
    public var colorJitterStrength: Float = 0.5
    /// Gaussian blur; `nil` means on for images of 64 pixels and more, as in the paper.
    public var blur: Bool?

    // Optimization.
    public var optimizer: OptimizerKind = .sgd
    /// Base learning rate, scaled by `learningRateScaling` with the batch size.
    public var learningRate: Float = 0.3
    public var learningRateScaling: LearningRateScaling = .linear
    public var warmupEpochs: Double = 0
    public var weightDecay: Float = 1e-6
    public var momentum: Float = 0.9
    public var nesterov: Bool = false
    public var temperature: Float = 0.5
    /// Batch-norm statistics over the whole global batch when several workers share it (the
    /// paper's global BN); off, each worker normalises with its own share.
    public var synchronizeBatchNorm: Bool = true

    // Bookkeeping that changes no number.
    public var logEvery: Int = 10
    public var checkpointEvery: Int = 500
    public var keepCheckpoints: Int = 3
    /// kNN monitor period in steps (0 = once per epoch) when labeled evaluation data is given.
    public var monitorEvery: Int = 0

    public init() {}

    /// Reads the fields present and keeps the defaults of the others, so that a `--config` file
    /// may name only what it changes. A field this build does not know (a typo, or a newer
    /// build's) is an error rather than silently ignored.
    public init(from decoder: Decoder) throws {
        self.init()
        let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).filter {
            CodingKeys(stringValue: $0) == nil
        }
        guard unknown.isEmpty else {
            throw ConfigurationError(
                "unknown configuration field(s) " + unknown.sorted().map { "'\($0)'" }.joined(separator: ", ")
                    + "; the fields are those of a run's config.json")
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func read<Value: Decodable>(_ key: CodingKeys, into value: inout Value) throws {
            if let decoded = try container.decodeIfPresent(Value.self, forKey: key) { value = decoded }
        }
        try read(.arch, into: &arch)
        try read(.width, into: &width)
        try read(.stem, into: &stem)
        try read(.headLayers, into: &headLayers)
        try read(.headHidden, into: &headHidden)
        try read(.projectionDim, into: &projectionDim)
        try read(.headOutputBatchNorm, into: &headOutputBatchNorm)
        try read(.batchSize, into: &batchSize)
        try read(.epochs, into: &epochs)
        try read(.steps, into: &steps)
        try read(.seed, into: &seed)
        try read(.colorJitterStrength, into: &colorJitterStrength)
        try read(.blur, into: &blur)
        try read(.optimizer, into: &optimizer)
        try read(.learningRate, into: &learningRate)
        try read(.learningRateScaling, into: &learningRateScaling)
        try read(.warmupEpochs, into: &warmupEpochs)
        try read(.weightDecay, into: &weightDecay)
        try read(.momentum, into: &momentum)
        try read(.nesterov, into: &nesterov)
        try read(.temperature, into: &temperature)
        try read(.synchronizeBatchNorm, into: &synchronizeBatchNorm)
        try read(.logEvery, into: &logEvery)
        try read(.checkpointEvery, into: &checkpointEvery)
        try read(.keepCheckpoints, into: &keepCheckpoints)
        try read(.monitorEvery, into: &monitorEvery)
    }

    public var encoder: ResNetConfiguration { ResNetConfiguration(depth: arch, stem: stem, width: width) }

    public var head: ProjectionHeadConfiguration {
        ProjectionHeadConfiguration(
            layers: headLayers, hiddenFeatures: headHidden ?? encoder.featureCount, outFeatures: projectionDim,
            outputBatchNorm: headOutputBatchNorm)
    }

    /// Fields whose values decide the numbers a run computes, by name. Resuming or joining with
    /// a configuration that differs in one of these is refused.
    public var fingerprintFields: [(String, String)] {
        [
            ("arch", arch.rawValue), ("width", "\(width)"), ("stem", stem.rawValue), ("headLayers", "\(headLayers)"),
            ("headHidden", "\(head.hiddenFeatures)"), ("projectionDim", "\(projectionDim)"),
            ("headOutputBatchNorm", "\(headOutputBatchNorm)"), ("batchSize", "\(batchSize)"), ("epochs", "\(epochs)"),
            ("seed", "\(seed)"), ("colorJitterStrength", "\(colorJitterStrength)"),
            ("blur", "\(blur.map { "\($0)" } ?? "auto")"),
            ("optimizer", optimizer.rawValue), ("learningRate", "\(learningRate)"),
            ("learningRateScaling", learningRateScaling.rawValue), ("warmupEpochs", "\(warmupEpochs)"),
            ("weightDecay", "\(weightDecay)"), ("momentum", "\(momentum)"), ("nesterov", "\(nesterov)"),
            ("temperature", "\(temperature)"),
        ] + (synchronizeBatchNorm ? [] : [("synchronizeBatchNorm", "false")])
        // Fields added after the first checkpoints were written join only when they differ from
        // their default, so those checkpoints keep their hash.
    }

    /// A short hex digest of `fingerprintFields`.
    public var hash: String {
        let text = fingerprintFields.map { "\($0.0)=\($0.1)" }.joined(separator: ";")
        return String(format: "%016llx", Checksum.fnv1a64(Array(text.utf8)))
    }

    /// Names of the fields that differ from `other`, for messages that say what to change.
    public func differences(from other: TrainingConfiguration) -> [String] {
        let fields = { (configuration: TrainingConfiguration) in
            configuration.fingerprintFields.filter { $0.0 != "synchronizeBatchNorm" }
                + [("synchronizeBatchNorm", "\(configuration.synchronizeBatchNorm)")]
        }
        return zip(fields(self), fields(other)).compactMap { mine, theirs in
            mine.1 == theirs.1 ? nil : "\(mine.0) (\(mine.1) here, \(theirs.1) there)"
        }
    }

    /// Checks ranges and combinations; the message names the option to fix.
    public func validate() throws {
        func check(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConfigurationError(message) }
        }
        try check(width > 0, "width must be positive")
        try check(headLayers >= 1, "head-layers must be at least 1")
        try check(projectionDim > 0, "projection-dim must be positive")
        try check(batchSize >= 2, "batch-size must be at least 2 (negatives come from the batch)")
        try check(epochs > 0, "epochs must be positive")
        try check(steps.map { $0 > 0 } ?? true, "steps must be positive")
        try check(learningRate.isFinite && learningRate > 0, "learning-rate must be positive")
        try check(warmupEpochs >= 0, "warmup-epochs cannot be negative")
        try check(weightDecay >= 0, "weight-decay cannot be negative")
        try check(temperature > 0, "temperature must be positive")
        try check(colorJitterStrength >= 0, "color-jitter must be non-negative")
        try check(logEvery > 0 && checkpointEvery > 0 && keepCheckpoints > 0, "log/checkpoint periods must be positive")
    }
}

/// A configuration that cannot run; the message names the option.
/// Any key of a JSON object, to find the ones `CodingKeys` does not name.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Non-cryptographic checksums for files and fingerprints.
public enum Checksum {
    /// FNV-1a, 64 bits.
    public static func fnv1a64<C: Collection>(_ bytes: C, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64
    where C.Element == UInt8 {
        var hash = seed
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
