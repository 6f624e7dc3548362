// All trainable parameters of a model in one flat contiguous buffer, with a gradient buffer that
// mirrors it and a third buffer for non-trainable state (batch-norm running statistics). Layers
// declare their tensors while the model is built and keep only offsets; the optimizer, the
// all-reduce, checkpoints and state transfer each move whole buffers.

/// What a parameter tensor is, for rules that treat kinds differently (LARS and weight decay skip
/// biases and batch-norm parameters).
public enum ParameterKind: String, Sendable, Codable {
    case weight
    case bias
    case normScale
    case normShift

    /// Whether SimCLR's LARS and the default weight-decay policy exclude this kind.
    public var isBiasOrNorm: Bool { self != .weight }
}

/// How a declared tensor starts.
public enum ParameterInitializer: Sendable {
    case constant(Float)
    /// Normal with mean 0 and this standard deviation.
    case normal(std: Float)
    /// Uniform in `[-bound, bound]`.
    case uniform(bound: Float)
}

/// One named tensor inside a flat buffer.
public struct ParameterSegment: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let kind: ParameterKind
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// The model's parameters, their gradients and its non-trainable state.
public final class ParameterStore {
    public private(set) var segments: [ParameterSegment] = []
    public private(set) var stateSegments: [ParameterSegment] = []
    public private(set) var values = FloatBuffer(count: 0)
    public private(set) var gradients = FloatBuffer(count: 0)
    public private(set) var state = FloatBuffer(count: 0)
    public private(set) var isFinalized = false

    private var initializers: [ParameterInitializer] = []
    private var stateInitializers: [Float] = []
    private var parameterCount = 0
    private var stateCount = 0
    private let seed: UInt64

    /// - Parameter seed: initial values are drawn from a generator seeded with this and the
    ///   tensor's index, so two stores built the same way hold the same values.
    public init(seed: UInt64 = 0) { self.seed = seed }

    /// Declares a trainable tensor; returns its offset into `values` and `gradients`.
    public func declare(_ name: String, shape: [Int], kind: ParameterKind, initializer: ParameterInitializer) -> Int {
        precondition(!isFinalized, "ParameterStore: declare after finalize")
        let segment = ParameterSegment(name: name, shape: shape, kind: kind, offset: parameterCount)
        segments.append(segment)
        initializers.append(initializer)
        parameterCount += segment.count
        return segment.offset
    }

    /// Declares a non-trainable tensor filled with `value`; returns its offset into `state`.
    public func declareState(_ name: String, shape: [Int], value: Float) -> Int {
        precondition(!isFinalized, "ParameterStore: declareState after finalize")
        let segment = ParameterSegment(name: name, shape: shape, kind: .weight, offset: stateCount)
        stateSegments.append(segment)
        stateInitializers.append(value)
        stateCount += segment.count
        return segment.offset
    }

    /// Allocates the three buffers and draws initial values. Called once, after the last layer.
    public func finalize() {
        precondition(!isFinalized, "ParameterStore: finalize called twice")
        isFinalized = true
        values = FloatBuffer(count: parameterCount)
        gradients = FloatBuffer(count: parameterCount)
        state = FloatBuffer(count: stateCount)
        for (index, segment) in segments.enumerated() {
            var generator = SeededGenerator(seed: seed, UInt64(index))
            let target = values.base + segment.offset
            for i in 0..<segment.count {
                switch initializers[index] {
                case .constant(let value): target[i] = value
                case .normal(let std): target[i] = std * generator.normal()
                case .uniform(let bound): target[i] = bound * (2 * generator.uniform() - 1)
                }
            }
        }
        for (index, segment) in stateSegments.enumerated() {
            (state.base + segment.offset).update(repeating: stateInitializers[index], count: segment.count)
        }
    }

    /// Number of trainable scalars.
    public var count: Int { parameterCount }

    /// Sets every gradient to zero; gradients accumulate across backward calls until then.
    public func zeroGradients() { gradients.fill(0) }

    /// The segment called `name`, if any.
    public func segment(named name: String) -> ParameterSegment? { segments.first { $0.name == name } }
}
