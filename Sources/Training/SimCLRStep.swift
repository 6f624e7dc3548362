// One SimCLR training step on a process's share of the global batch: forward through encoder and
// head, NT-Xent on the gathered embeddings, backward, gradient reduction, optimizer update. The
// exchange with other processes goes through two hooks, so the same code is the single-process
// trainer (hooks that do nothing) and a cluster worker (hooks that talk to the other workers).

import Compute
import Foundation
import Optimization

/// How the unit embeddings of one process meet those of the others for the global-batch loss.
public protocol EmbeddingExchange: AnyObject {
    /// Gathers every process's `[2b_k, D]` embeddings into the global `[2B, D]`, in global row
    /// order, and returns them with the rows that are this process's.
    func gather(_ local: Tensor) throws -> (global: Tensor, rows: Range<Int>)
    /// Sums the `[2B, D]` gradients of every process's loss terms and returns this process's rows
    /// of the sum: the exact gradient of the global loss with respect to its own embeddings.
    func reduceGradient(_ global: Tensor, rows: Range<Int>) throws -> Tensor
    /// Sums the processes' partial losses.
    func reduceLoss(_ partial: Double) throws -> Double
}

/// How the parameter gradients of the processes are combined (summed) before the update.
public protocol GradientReduction: AnyObject {
    func allReduce(_ gradients: FloatBuffer) throws
}

/// The single-process exchange: the local batch is the global batch.
public final class LocalExchange: EmbeddingExchange, GradientReduction {
    public init() {}
    public func gather(_ local: Tensor) -> (global: Tensor, rows: Range<Int>) { (local, 0..<local.shape.n) }
    public func reduceGradient(_ global: Tensor, rows: Range<Int>) -> Tensor { global }
    public func reduceLoss(_ partial: Double) -> Double { partial }
    public func allReduce(_ gradients: FloatBuffer) {}
}

/// Milliseconds spent in each phase of a step.
public struct StepTimings: Sendable, Codable, Equatable {
    public var data: Double = 0
    public var forward: Double = 0
    public var exchange: Double = 0
    public var backward: Double = 0
    public var allReduce: Double = 0
    public var optimizer: Double = 0

    public init() {}

    public var total: Double { data + forward + exchange + backward + allReduce + optimizer }
}

/// A non-finite value met during a step, with where it was seen.
public struct NonFiniteError: Error, CustomStringConvertible {
    /// The step, counted from 1 as in the logs and metrics.
    public var step: Int
    public var tensor: String

    public init(step: Int, tensor: String) {
        self.step = step
        self.tensor = tensor
    }

    public var description: String {
        "step \(step): non-finite values in \(tensor); the update was not applied and no checkpoint holds them"
            + " (lower the learning rate or check the input data)"
    }
}

/// Model, loss and optimizer of one process, and the step that drives them.
public final class SimCLRStep {
    public let configuration: TrainingConfiguration
    public let model: SimCLRModel
    public let context: ComputeContext
    public let optimizer: Optimizer
    public let schedule: LearningRateSchedule
    private let normalize = L2Normalize()
    private let loss: ContrastiveLoss

    /// - Parameters:
    ///   - stepsPerEpoch: global steps in one epoch, for warmup and the cosine schedule.
    public init(configuration: TrainingConfiguration, stepsPerEpoch: Int, threads: Int) {
        self.configuration = configuration
        model = SimCLRModel(encoder: configuration.encoder, head: configuration.head, seed: configuration.seed)
        context = ComputeContext(threads: threads)
        loss = ContrastiveLoss(temperature: configuration.temperature)
        let store = model.store
        switch configuration.optimizer {
        case .sgd:
            optimizer = SGD(
                store: store, momentum: configuration.momentum, nesterov: configuration.nesterov,
                weightDecay: configuration.weightDecay)
        case .lars:
            optimizer = LARS(
                store: store, momentum: configuration.momentum, weightDecay: configuration.weightDecay,
                nesterov: configuration.nesterov)
        case .adamw:
            optimizer = AdamW(store: store, weightDecay: configuration.weightDecay)
        }
        let peak = configuration.learningRateScaling.peak(
            base: configuration.learningRate, batchSize: configuration.batchSize)
        schedule = LearningRateSchedule(
            peak: peak, warmupSteps: Int((configuration.warmupEpochs * Double(stepsPerEpoch)).rounded()),
            totalSteps: configuration.epochs * stepsPerEpoch)
    }

    /// Runs forward, loss and backward on `views` (`[2b, C, H, W]`, rows 2i and 2i+1 the views of
    /// one sample), reduces gradients, and applies the update for global step `step`.
    ///
    /// - Returns: the global loss and the phases' timings. Throws `NonFiniteError` before
    ///   touching the parameters when the loss or a gradient is not finite.
    public func run(
        views: Tensor, step: Int, exchange: EmbeddingExchange, reduction: GradientReduction
    ) throws -> (loss: Double, timings: StepTimings) {
        var timings = StepTimings()
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap() -> Double {
            let now = DispatchTime.now().uptimeNanoseconds
            defer { clock = now }
            return Double(now - clock) / 1e6
        }
        context.mode = .training

        // Forward to unit embeddings.
        let z = model.forward(views, context: context)
        let u = normalize.forward(z, context: context)
        timings.forward = lap()

        // The global batch's loss terms for our rows.
        let (global, rows) = try exchange.gather(u)
        let partial = loss.forward(global, rows: rows)
        let dGlobal = loss.backward()
        let dLocal = try exchange.reduceGradient(dGlobal, rows: rows)
        let totalLoss = try exchange.reduceLoss(partial)
        timings.exchange = lap()
        guard totalLoss.isFinite else { throw NonFiniteError(step: step + 1, tensor: "loss") }

        // Backward into the parameter gradients.
        model.store.zeroGradients()
        model.backward(normalize.backward(dLocal, context: context), context: context)
        timings.backward = lap()

        // Sum over processes, check, update.
        try reduction.allReduce(model.store.gradients)
        timings.allReduce = lap()
        if let bad = Self.firstNonFinite(model.store.gradients, segments: model.store.segments) {
            throw NonFiniteError(step: step + 1, tensor: "gradient of \(bad)")
        }
        optimizer.step(learningRate: schedule.rate(at: step))
        timings.optimizer = lap()
        return (totalLoss, timings)
    }

    /// What of the state a checkpoint would hold is not finite: a parameter, a batch-norm
    /// statistic or the optimizer state, named; nil when all of it is finite.
    public func firstNonFiniteTensor() -> String? {
        let store = model.store
        if let bad = Self.firstNonFinite(store.values, segments: store.segments) { return "parameter \(bad)" }
        if let bad = Self.firstNonFinite(store.state, segments: store.stateSegments) {
            return "batch-norm statistic \(bad)"
        }
        return Self.isFinite(optimizer.state, 0..<optimizer.state.count) ? nil : "optimizer state"
    }

    /// The name of the first segment whose values in `buffer` are not all finite.
    static func firstNonFinite(_ buffer: FloatBuffer, segments: [ParameterSegment]) -> String? {
        for segment in segments where !isFinite(buffer, segment.range) { return segment.name }
        return nil
    }

    static func isFinite(_ buffer: FloatBuffer, _ range: Range<Int>) -> Bool {
        // x * 0 is 0 for finite x and NaN for infinities and NaNs.
        var sum: Float = 0
        for i in range { sum += buffer.base[i] * 0 }
        return sum.isFinite
    }
}
