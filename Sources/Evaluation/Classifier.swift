// The classifier of the fine-tuning and supervised protocols: the ResNet encoder, the first layer
// of the projection head (linear, batch norm, ReLU; SimCLR fine-tunes from there), and a new
// linear layer over the classes. Fine-tuning copies encoder and head layer from a checkpoint by
// parameter name; the supervised baseline starts from the same architecture's random weights.

import Compute
import Datasets
import Foundation
import Optimization
import Training

public final class Classifier {
    public let store: ParameterStore
    public let encoder: ResNet
    public let hidden: Sequential
    public let fc: Linear
    public let classes: Int

    /// - Parameter configuration: the pretraining run's configuration (architecture and head).
    public init(configuration: TrainingConfiguration, classes: Int, seed: UInt64) {
        store = ParameterStore(seed: seed)
        encoder = ResNet(configuration.encoder, store: store)
        let features = configuration.encoder.featureCount
        let width = configuration.head.hiddenFeatures
        hidden = Sequential([
            Linear("head.0", store: store, inFeatures: features, outFeatures: width, bias: false),
            BatchNorm("head.1", store: store, channels: width), ReLU(),
        ])
        fc = Linear("fc", store: store, inFeatures: width, outFeatures: classes)
        self.classes = classes
        store.finalize()
    }

    /// Copies every parameter and batch-norm statistic whose name the checkpoint also has (all but
    /// `fc`). Returns how many tensors were copied.
    @discardableResult
    public func load(_ state: TrainingState) -> Int {
        let source = SimCLRModel(encoder: state.configuration.encoder, head: state.configuration.head, seed: 0)
        source.store.values.base.update(from: state.parameters, count: state.parameters.count)
        source.store.state.base.update(from: state.state, count: state.state.count)
        var copied = 0
        for segment in store.segments {
            guard let match = source.store.segment(named: segment.name), match.count == segment.count else { continue }
            (store.values.base + segment.offset).update(
                from: source.store.values.base + match.offset, count: segment.count)
            copied += 1
        }
        for segment in store.stateSegments {
            guard let match = source.store.stateSegments.first(where: { $0.name == segment.name }) else { continue }
            (store.state.base + segment.offset).update(
                from: source.store.state.base + match.offset, count: segment.count)
            copied += 1
        }
        return copied
    }

    public func forward(_ x: Tensor, context: ComputeContext) -> Tensor {
        fc.forward(hidden.forward(encoder.forward(x, context: context), context: context), context: context)
    }

    public func backward(_ dLogits: Tensor, context: ComputeContext) {
        _ = encoder.backward(
            hidden.backward(fc.backward(dLogits, context: context), context: context), context: context)
    }
}

public struct ClassifierTrainingOptions: Sendable {
    public var epochs: Int = 100
    public var batchSize: Int = 64
    public var learningRate: Float = 0.05
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    public var seed: UInt64 = 0
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    public var loaderThreads: Int = 1

    public init() {}
}

public enum ClassifierTraining {
    /// Trains every parameter of `classifier` on `indices` of `dataset` with crop-and-flip
    /// augmentation, Nesterov SGD and a cosine schedule; `progress(epoch, mean loss)` after each epoch.
    public static func train(
        _ classifier: Classifier, dataset: PackedDataset, indices: [Int], options: ClassifierTrainingOptions,
        progress: (Int, Double) -> Void = { _, _ in }
    ) throws {
        precondition(indices.count >= 2, "ClassifierTraining: need at least two labeled samples")
        let context = ComputeContext(threads: options.threads)
        let loader = BatchLoader(
            dataset: dataset, configuration: .cropAndFlip(imageSize: dataset.height), seed: options.seed,
            threads: options.loaderThreads, maximumBatchSize: options.batchSize, viewsPerSample: 1)
        defer { loader.close() }
        let sgd = SGD(
            store: classifier.store, momentum: options.momentum, nesterov: true, weightDecay: options.weightDecay)
        let loss = CrossEntropy()

        // The plan: a seeded shuffle per epoch, batches of batchSize; a last batch of one sample
        // (batch norm needs two) joins the previous one's epoch order but is skipped.
        var plan: [(epoch: Int, indices: [Int])] = []
        for epoch in 0..<options.epochs {
            var generator = SeededGenerator(seed: options.seed, 0x4649_4E45, UInt64(epoch))
            let order = indices.shuffled(using: &generator)
            for start in stride(from: 0, to: order.count, by: options.batchSize) {
                let batch = Array(order[start..<min(start + options.batchSize, order.count)])
                if batch.count >= 2 { plan.append((epoch, batch)) }
            }
        }
        let schedule = LearningRateSchedule(peak: options.learningRate, warmupSteps: 0, totalSteps: plan.count)

        var submitted = 0
        var epochLoss = 0.0
        var epochBatches = 0
        context.mode = .training
        for (step, item) in plan.enumerated() {
            while submitted < min(step + 3, plan.count) {
                try loader.submit(indices: plan[submitted].indices, epoch: plan[submitted].epoch)
                submitted += 1
            }
            let batch = try loader.next()
            classifier.store.zeroGradients()
            let value = loss.forward(
                classifier.forward(batch.images, context: context), labels: batch.labels.map(Int.init))
            guard value.isFinite else { throw NonFiniteError(step: step, tensor: "classification loss") }
            classifier.backward(loss.backward(), context: context)
            sgd.step(learningRate: schedule.rate(at: step))
            epochLoss += value
            epochBatches += 1
            if step + 1 == plan.count || plan[step + 1].epoch != item.epoch {
                progress(item.epoch, epochLoss / Double(epochBatches))
                epochLoss = 0
                epochBatches = 0
            }
        }
    }

    /// Top-1 accuracy of `classifier` on every sample of `dataset`, without augmentation and with
    /// batch norm's running statistics.
    public static func accuracy(
        _ classifier: Classifier, dataset: PackedDataset, threads: Int, loaderThreads: Int
    )
        throws -> Double
    {
        let context = ComputeContext(threads: threads)
        context.mode = .inference
        let batchSize = 256
        let loader = BatchLoader(
            dataset: dataset, configuration: .evaluation(imageSize: dataset.height), seed: 0, threads: loaderThreads,
            maximumBatchSize: batchSize, viewsPerSample: 1)
        defer { loader.close() }
        let batches = stride(from: 0, to: dataset.count, by: batchSize).map {
            Array($0..<min($0 + batchSize, dataset.count))
        }
        var correct = 0
        var submitted = 0
        for index in batches.indices {
            while submitted < min(index + 3, batches.count) {
                try loader.submit(indices: batches[submitted], epoch: 0)
                submitted += 1
            }
            let batch = try loader.next()
            let logits = classifier.forward(batch.images, context: context)
            for row in 0..<logits.shape.n {
                let values = logits.sample(row)
                var best = 0
                for c in 1..<classifier.classes where values[c] > values[best] { best = c }
                if best == Int(batch.labels[row]) { correct += 1 }
            }
        }
        return Double(correct) / Double(dataset.count)
    }
}
