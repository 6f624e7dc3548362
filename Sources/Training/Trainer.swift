// Single-process pretraining: the global batch plan, the prefetching loader, the SimCLR step, the
// run directory (resolved configuration, metrics.jsonl, checkpoints) and exact resumption. The
// cluster's workers run the same SimCLRStep; this is the cluster of one.

import Compute
import Datasets
import Foundation

/// Where a run reads and writes, and how fast it may go; nothing here changes the numbers.
public struct TrainerOptions: Sendable {
    public var data: URL
    public var runDirectory: URL
    public var threads: Int
    public var loaderThreads: Int
    /// Continue from the newest good checkpoint in `runDirectory`.
    public var resume: Bool
    /// Labeled sets for the kNN monitor (train = memory bank, test = queries).
    public var monitorTrain: URL?
    public var monitorTest: URL?

    public init(
        data: URL, runDirectory: URL, threads: Int, loaderThreads: Int, resume: Bool = false, monitorTrain: URL? = nil,
        monitorTest: URL? = nil
    ) {
        self.data = data
        self.runDirectory = runDirectory
        self.threads = threads
        self.loaderThreads = loaderThreads
        self.resume = resume
        self.monitorTrain = monitorTrain
        self.monitorTest = monitorTest
    }
}

/// What one logged step reports.
public struct StepReport: Sendable {
    public var step: Int
    public var epoch: Int
    public var loss: Double
    public var learningRate: Float
    public var imagesPerSecond: Double
    public var timings: StepTimings

    public init(
        step: Int, epoch: Int, loss: Double, learningRate: Float, imagesPerSecond: Double, timings: StepTimings
    ) {
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.learningRate = learningRate
        self.imagesPerSecond = imagesPerSecond
        self.timings = timings
    }
}

/// What a run tells its caller as it goes.
public enum TrainingEvent: Sendable {
    case started(parameters: Int, stepsPerEpoch: Int, totalSteps: Int, firstStep: Int)
    case resumed(from: String, step: Int, skipped: [String])
    case step(StepReport)
    case checkpoint(path: String, step: Int)
    /// The checkpoint after `step` steps could not be written; training goes on.
    case checkpointFailed(step: Int, reason: String)
    case monitor(step: Int, accuracy: Double)
}

/// Runs pretraining in this process.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let options: TrainerOptions
    public let dataset: PackedDataset
    public let plan: GlobalBatchPlan
    public let engine: SimCLRStep
    /// Global steps this run will end at.
    public let lastStep: Int

    public init(configuration: TrainingConfiguration, options: TrainerOptions) throws {
        try configuration.validate()
        self.configuration = configuration
        self.options = options
        dataset = try PackedDataset(path: options.data.path)
        plan = GlobalBatchPlan(sampleCount: dataset.count, batchSize: configuration.batchSize, seed: configuration.seed)
        engine = SimCLRStep(configuration: configuration, stepsPerEpoch: plan.stepsPerEpoch, threads: options.threads)
        let scheduled = configuration.epochs * plan.stepsPerEpoch
        lastStep = min(scheduled, configuration.steps ?? scheduled)
    }

    /// The augmentation a run's configuration implies for this dataset's images.
    public static func augmentation(_ configuration: TrainingConfiguration, imageSize: Int) -> AugmentationConfiguration
    {
        AugmentationConfiguration(
            mode: .simclr, imageSize: imageSize, strength: configuration.colorJitterStrength, blur: configuration.blur)
    }

    /// Trains from the start or the newest good checkpoint to `lastStep`, reporting as it goes.
    public func run(_ report: (TrainingEvent) -> Void) throws {
        let directory = options.runDirectory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var firstStep = 0

        // Resume, or start a fresh run directory.
        if options.resume {
            let (state, url, skipped) = try Checkpoint.latestGood(in: directory)
            try state.checkDataset(dataset, path: url.path)
            try engine.restore(state, path: url.path)
            firstStep = state.step
            report(.resumed(from: url.path, step: firstStep, skipped: skipped.map { "\($0)" }))
        } else if !Checkpoint.list(in: directory).isEmpty {
            throw ConfigurationError(
                "\(directory.path) already holds checkpoints; pass --resume to continue it or choose a new --run-dir")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(configuration).write(to: directory.appendingPathComponent("config.json"), options: .atomic)
        let metrics = try MetricsLog(
            url: directory.appendingPathComponent("metrics.jsonl"), truncateAfterStep: firstStep)
        report(
            .started(
                parameters: engine.model.store.count, stepsPerEpoch: plan.stepsPerEpoch, totalSteps: lastStep,
                firstStep: firstStep))
        if firstStep >= lastStep { return }

        let loader = BatchLoader(
            dataset: dataset, configuration: Trainer.augmentation(configuration, imageSize: dataset.height),
            seed: configuration.seed, threads: options.loaderThreads, maximumBatchSize: plan.batchSize + 1)
        defer { loader.close() }
        let monitor = try options.monitorTrain.flatMap { train in
            try options.monitorTest.map { try KNNMonitor(train: train, test: $0, imageSize: dataset.height) }
        }
        var permutations: [Int: [Int]] = [:]
        func indices(_ step: Int) -> (epoch: Int, indices: [Int]) {
            let epoch = plan.epoch(of: step)
            if permutations[epoch] == nil {
                permutations = permutations.filter { $0.key >= epoch - 1 }
                permutations[epoch] = plan.permutation(epoch: epoch)
            }
            return (epoch, plan.indices(step: step, permutation: permutations[epoch]!))
        }

        // Keep two batches in flight ahead of the step being computed.
        var submitted = firstStep
        func submitAhead(from step: Int) throws {
            while submitted < min(step + 3, lastStep) {
                let (epoch, batch) = indices(submitted)
                try loader.submit(indices: batch, epoch: epoch)
                submitted += 1
            }
        }

        var lastCheckpoint = firstStep
        for step in firstStep..<lastStep {
            try submitAhead(from: step)
            let started = DispatchTime.now().uptimeNanoseconds
            let batch = try loader.next()
            let dataMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            let exchange = LocalExchange()
            var (loss, timings) = try engine.run(
                views: batch.images, step: step, exchange: exchange, reduction: exchange)
            timings.data = dataMilliseconds
            let epoch = plan.epoch(of: step)
            let stepReport = StepReport(
                step: step + 1, epoch: epoch, loss: loss, learningRate: engine.schedule.rate(at: step),
                imagesPerSecond: Double(batch.images.shape.n) / (timings.total / 1000), timings: timings)
            // The same steps whether or not the run was resumed on the way: every logEvery-th, the
            // first and the last of the whole run.
            if (step + 1) % configuration.logEvery == 0 || step == 0 || step + 1 == lastStep {
                try metrics.append(stepReport)
                report(.step(stepReport))
            }

            let endOfEpoch = (step + 1) % plan.stepsPerEpoch == 0
            if let monitor, (configuration.monitorEvery > 0 ? (step + 1) % configuration.monitorEvery == 0 : endOfEpoch)
            {
                let accuracy = try monitor.accuracy(engine: engine, threads: options.loaderThreads)
                try metrics.appendMonitor(step: step + 1, accuracy: accuracy)
                report(.monitor(step: step + 1, accuracy: accuracy))
            }
            if (step + 1) % configuration.checkpointEvery == 0 || step + 1 == lastStep {
                if try writeCheckpoint(step: step + 1, report) { lastCheckpoint = step + 1 }
            }
        }
        guard lastCheckpoint == lastStep else {
            throw CheckpointError.write(
                path: options.runDirectory.appendingPathComponent(Checkpoint.fileName(step: lastStep)).path,
                reason: "the run reached its last step without it (see the log); the newest checkpoint is "
                    + (lastCheckpoint > 0 ? "at step \(lastCheckpoint)" : "none"))
        }
    }

    /// Writes the checkpoint after `step` steps; false, reported, when the file cannot be written
    /// (a full disk, say): training goes on with the older checkpoints, and the next is tried again.
    private func writeCheckpoint(step: Int, _ report: (TrainingEvent) -> Void) throws -> Bool {
        if let bad = engine.firstNonFiniteTensor() { throw NonFiniteError(step: step, tensor: bad) }
        var state = engine.snapshot(step: step)
        state.record(dataset)
        do {
            let url = try Checkpoint.write(state, to: options.runDirectory, keep: configuration.keepCheckpoints)
            report(.checkpoint(path: url.path, step: step))
            return true
        } catch {
            report(.checkpointFailed(step: step, reason: "\(error)"))
            return false
        }
    }
}

/// A JSON-lines record of a run, keyed by step: `metrics.jsonl` (one object per logged step and
/// per monitor evaluation) and the cluster's `ledger.jsonl`. Appended and flushed as it goes; on
/// resume, lines for steps after the checkpoint are dropped so that the file reads as one
/// uninterrupted run.
public final class MetricsLog {
    private let handle: FileHandle

    public init(url: URL, truncateAfterStep step: Int) throws {
        var kept = ""
        if let text = try? String(contentsOf: url, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let lineStep = object["step"] as? Int, lineStep <= step
                else { continue }
                kept += line + "\n"
            }
        }
        try Data(kept.utf8).write(to: url, options: .atomic)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    public func append(_ report: StepReport) throws {
        let object: [String: Any] = [
            "step": report.step, "epoch": report.epoch, "loss": report.loss, "lr": Double(report.learningRate),
            "images_per_second": report.imagesPerSecond,
            "ms": [
                "data": report.timings.data, "forward": report.timings.forward, "exchange": report.timings.exchange,
                "backward": report.timings.backward, "all_reduce": report.timings.allReduce,
                "optimizer": report.timings.optimizer, "total": report.timings.total,
            ],
        ]
        try write(object)
    }

    public func appendMonitor(step: Int, accuracy: Double) throws {
        try write(["step": step, "knn_accuracy": accuracy])
    }

    /// Appends one record; it must hold an integer "step".
    public func write(_ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        data.append(0x0A)
        try handle.write(contentsOf: data)
    }
}
