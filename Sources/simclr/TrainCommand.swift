// `simclr train`: pretraining in one process, configured from a JSON file and flags.

import Compute
import Foundation
import Optimization
import Training

enum TrainCommand: Command {
    static let name = "train"
    static let summary = "pretrain an encoder with SimCLR in this process"
    /// The options that make up a run's configuration, shared with `coordinator` and `launch`.
    static let configurationUsage = """
          --config FILE            JSON configuration (fields as in DIR/config.json); flags override it
          --arch NAME              resnet18 | resnet34 | resnet50            (default resnet18)
          --width N                channels of the first stage                (default 64)
          --head-layers N          projection head layers, 2 or 3             (default 2)
          --head-hidden N          hidden width of the head        (default: encoder features)
          --projection-dim N       output of the head                         (default 128)
          --batch-size N           samples per step; twice as many views      (default 256)
          --epochs N               length of the schedule                     (default 100)
          --steps N                stop after N steps
          --seed N                 run seed: initial weights, order, views    (default 0)
          --optimizer NAME         sgd | lars | adamw                         (default sgd)
          --learning-rate X        base rate before scaling                   (default 0.3)
          --lr-scaling RULE        linear (x B/256) | sqrt (x sqrt B) | none   (default linear)
          --warmup-epochs X        linear warmup before the cosine decay      (default 0)
          --weight-decay X                                                    (default 1e-6)
          --momentum X                                                        (default 0.9)
          --temperature X          NT-Xent temperature                        (default 0.5)
          --color-jitter X         jitter strength s                          (default 0.5)
          --blur on|off|auto       Gaussian blur (auto: on from 64 px)        (default auto)
          --sync-bn on|off         batch norm over the global batch           (default on)
          --log-every N            metrics and log line period in steps       (default 10)
          --checkpoint-every N     checkpoint period in steps                 (default 500)
          --keep-checkpoints N     newest checkpoints kept                    (default 3)
        """

    static let usage = """
        Usage: simclr train --data FILE --run-dir DIR [options]

          --resume                 continue DIR from its newest good checkpoint (--resume DIR also works)
        \(configurationUsage)
          --monitor-train FILE     labeled set for the kNN monitor's memory bank
          --monitor-test FILE      labeled set the kNN monitor classifies
          --monitor-every N        kNN period in steps (default: each epoch)
          --threads N              compute threads                            (default: all cores)
          --loader-threads N       augmentation threads                       (default: 1)
        """

    /// Reads `--config` (or starts from `base`) and applies the flags that are set on top of it.
    static func configuration(
        from arguments: Arguments, base: TrainingConfiguration = TrainingConfiguration()
    ) throws
        -> TrainingConfiguration
    {
        var configuration = base
        if let path = arguments.string("config") {
            do {
                configuration = try JSONDecoder().decode(
                    TrainingConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw UsageError("cannot read configuration \(path): \(error)")
            }
        }
        func choose<T: RawRepresentable>(_ name: String, _ type: T.Type) throws -> T? where T.RawValue == String {
            guard let text = arguments.string(name) else { return nil }
            guard let value = T(rawValue: text) else { throw UsageError("--\(name): unknown value '\(text)'") }
            return value
        }
        if let value = try choose("arch", ResNetDepth.self) { configuration.arch = value }
        if let value = try arguments.int("width") { configuration.width = value }
        if let value = try arguments.int("head-layers") { configuration.headLayers = value }
        if let value = try arguments.int("head-hidden") { configuration.headHidden = value }
        if let value = try arguments.int("projection-dim") { configuration.projectionDim = value }
        if let value = try arguments.int("batch-size") { configuration.batchSize = value }
        if let value = try arguments.int("epochs") { configuration.epochs = value }
        if let value = try arguments.int("steps") { configuration.steps = value }
        if let value = try arguments.int("seed") { configuration.seed = UInt64(value) }
        if let value = try choose("optimizer", OptimizerKind.self) { configuration.optimizer = value }
        if let value = try arguments.float("learning-rate") { configuration.learningRate = value }
        if let value = try choose("lr-scaling", LearningRateScaling.self) { configuration.learningRateScaling = value }
        if let value = try arguments.float("warmup-epochs") { configuration.warmupEpochs = Double(value) }
        if let value = try arguments.float("weight-decay") { configuration.weightDecay = value }
        if let value = try arguments.float("momentum") { configuration.momentum = value }
        if let value = try arguments.float("temperature") { configuration.temperature = value }
        if let value = try arguments.float("color-jitter") { configuration.colorJitterStrength = value }
        if let value = arguments.string("blur") {
            switch value {
            case "on": configuration.blur = true
            case "off": configuration.blur = false
            case "auto": configuration.blur = nil
            default: throw UsageError("--blur must be on, off or auto")
            }
        }
        if let value = arguments.string("sync-bn") {
            guard value == "on" || value == "off" else { throw UsageError("--sync-bn must be on or off") }
            configuration.synchronizeBatchNorm = value == "on"
        }
        if let value = try arguments.int("log-every") { configuration.logEvery = value }
        if let value = try arguments.int("checkpoint-every") { configuration.checkpointEvery = value }
        if let value = try arguments.int("keep-checkpoints") { configuration.keepCheckpoints = value }
        if let value = try arguments.int("monitor-every") { configuration.monitorEvery = value }
        do { try configuration.validate() } catch { throw UsageError("\(error)") }
        return configuration
    }

    /// The configuration a run directory was started with, for `--resume`.
    static func savedConfiguration(in runDirectory: URL) throws -> TrainingConfiguration {
        let saved = runDirectory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: saved.path) else {
            throw UsageError(
                "--resume: \(runDirectory.path) holds no config.json, so it is not a run directory; "
                    + "start a run there with --run-dir")
        }
        do {
            return try JSONDecoder().decode(TrainingConfiguration.self, from: Data(contentsOf: saved))
        } catch {
            throw UsageError("--resume: cannot read \(saved.path): \(error)")
        }
    }

    static func run(_ argv: [String]) throws {
        let arguments = try Arguments(argv, booleanFlags: ["resume"])
        let data = try arguments.require("data")
        let resume = arguments.flag("resume")
        let runDirectory = try arguments.runDirectory()
        // A resumed run starts from its own configuration; flags that change a field that matters
        // are then refused by name when the checkpoint is loaded.
        let base = resume ? try savedConfiguration(in: runDirectory) : TrainingConfiguration()
        let configuration = try configuration(from: arguments, base: base)
        let threads = try arguments.int("threads") ?? ProcessInfo.processInfo.activeProcessorCount
        let loaderThreads = try arguments.int("loader-threads") ?? 1
        let monitorTrain = arguments.string("monitor-train").map { URL(fileURLWithPath: $0) }
        let monitorTest = arguments.string("monitor-test").map { URL(fileURLWithPath: $0) }
        try arguments.finish(allowPositionals: resume && arguments.string("run-dir") == nil ? 1 : 0)
        guard (monitorTrain == nil) == (monitorTest == nil) else {
            throw UsageError("--monitor-train and --monitor-test go together")
        }
        guard threads > 0, loaderThreads > 0 else { throw UsageError("thread counts must be positive") }

        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        Log.tee(to: runDirectory.appendingPathComponent("train.log"))
        let trainer = try Trainer(
            configuration: configuration,
            options: TrainerOptions(
                data: URL(fileURLWithPath: data), runDirectory: runDirectory, threads: threads,
                loaderThreads: loaderThreads, resume: resume, monitorTrain: monitorTrain, monitorTest: monitorTest))
        Log.info(
            "train", "configuration",
            [
                "arch": configuration.arch.rawValue, "width": configuration.width, "batch": configuration.batchSize,
                "epochs": configuration.epochs, "optimizer": configuration.optimizer.rawValue,
                "peak_lr": trainer.engine.schedule.peak, "temperature": configuration.temperature,
                "samples": trainer.dataset.count, "threads": threads, "blas": OpenBLASCore.current,
            ])
        try trainer.run { event in
            switch event {
            case .started(let parameters, let stepsPerEpoch, let totalSteps, let firstStep):
                Log.info(
                    "train", "start",
                    [
                        "parameters": parameters, "steps_per_epoch": stepsPerEpoch, "steps": totalSteps,
                        "from_step": firstStep,
                    ])
            case .resumed(let path, let step, let skipped):
                for reason in skipped { Log.warn("train", "skipped damaged checkpoint", ["reason": reason]) }
                Log.info("train", "resumed", ["checkpoint": path, "step": step])
            case .step(let report):
                Log.info(
                    "train", "step",
                    [
                        "step": report.step, "epoch": report.epoch, "loss": report.loss, "lr": report.learningRate,
                        "img/s": report.imagesPerSecond, "ms": report.timings.total,
                        "data_ms": report.timings.data,
                    ])
            case .checkpoint(let path, let step):
                Log.info("train", "checkpoint", ["step": step, "path": path])
            case .checkpointFailed(let step, let reason):
                Log.error("train", "checkpoint failed", ["step": step, "reason": reason])
            case .monitor(let step, let accuracy):
                Log.info("train", "knn", ["step": step, "accuracy": accuracy])
            }
        }
        Log.info("train", "done", ["run_dir": runDirectory.path])
    }
}
