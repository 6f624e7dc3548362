// `simclr eval`: label-efficient evaluation of a checkpoint's encoder.

import Compute
import Evaluation
import Foundation
import Training

enum EvalCommand: Command {
    static let name = "eval"
    static let summary = "evaluate an encoder: kNN, linear probe, fine-tuning, supervised baseline"
    static let usage = """
        Usage: simclr eval --checkpoint PATH --train FILE --test FILE --protocol P [options]

          PATH                  a checkpoint file or a run directory (its newest good checkpoint)
          --protocol P          knn | linear | finetune | supervised; a comma-separated list runs several
          --untrained           the checkpoint's architecture with its initial random weights: the
                                baseline that shows what pretraining added
          --label-fraction F    fraction of each training class with labels, e.g. 0.01 or 0.1 (default 1)
          --seed N              draws the labeled fraction and the classifier's initial weights (default 0)
          --epochs N            classifier epochs: linear probe (default 100), fine-tuning and
                                supervised (default 100)
          --batch-size N        fine-tuning and supervised batch size (default 64)
          --learning-rate X     fine-tuning and supervised peak rate (default 0.05; linear probe 1e-3)
          --threads N           compute threads (default: all cores)
          --json                print the results as JSON on stdout
        """

    static func run(_ argv: [String]) throws {
        let arguments = try Arguments(argv, booleanFlags: ["json", "untrained"])
        let checkpoint = try arguments.require("checkpoint")
        let train = try arguments.require("train")
        let test = try arguments.require("test")
        let protocols = try arguments.require("protocol").split(separator: ",").map { name in
            guard let value = EvaluationProtocol(rawValue: String(name)) else {
                throw UsageError("--protocol: unknown protocol '\(name)' (knn, linear, finetune, supervised)")
            }
            return value
        }
        // Parsed as Double: 0.01 through Float would print as 0.0099999998.
        let fractionText = arguments.string("label-fraction", default: "1")
        let fraction = try Double(fractionText).orThrow(
            UsageError("--label-fraction: '\(fractionText)' is not a number"))
        let seed = UInt64(try arguments.int("seed") ?? 0)
        let epochs = try arguments.int("epochs")
        let batchSize = try arguments.int("batch-size")
        let learningRate = try arguments.float("learning-rate")
        let threads = try arguments.int("threads") ?? ProcessInfo.processInfo.activeProcessorCount
        let json = arguments.flag("json")
        let untrained = arguments.flag("untrained")
        try arguments.finish()
        guard fraction > 0 && fraction <= 1 else { throw UsageError("--label-fraction must be in (0, 1]") }

        var (state, path) = try loadCheckpoint(checkpoint)
        if untrained {
            let model = SimCLRModel(
                encoder: state.configuration.encoder, head: state.configuration.head, seed: state.configuration.seed)
            state.parameters = model.store.values.array
            state.state = model.store.state.array
            state.step = 0
            path += " (untrained: initial weights)"
        }
        var evaluator = try Evaluator(state: state, train: train, test: test)
        evaluator.threads = threads
        var classifierOptions = ClassifierTrainingOptions()
        var probeOptions = LinearProbeOptions()
        if let epochs {
            classifierOptions.epochs = epochs
            probeOptions.epochs = epochs
        }
        if let batchSize { classifierOptions.batchSize = batchSize }
        if let learningRate {
            classifierOptions.learningRate = learningRate
            probeOptions.learningRate = learningRate
        }
        classifierOptions.seed = seed
        probeOptions.seed = seed
        Log.info("eval", "checkpoint", ["path": path, "step": state.step, "fraction": fraction])

        var results: [EvaluationResult] = []
        for evaluation in protocols {
            var bar: (phase: String, bar: ProgressBar)?
            let result = try evaluator.run(
                evaluation, labelFraction: fraction, seed: seed, classifierOptions: classifierOptions,
                probeOptions: probeOptions
            ) { progress in
                if bar?.phase != progress.phase {
                    bar?.bar.finish()
                    bar = (progress.phase, ProgressBar(label: "\(evaluation.rawValue): \(progress.phase)"))
                }
                bar?.bar.update(done: progress.done, total: progress.total)
            }
            bar?.bar.finish()
            results.append(result)
        }

        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            print("protocol     fraction  labeled   test  accuracy  seconds")
            for result in results {
                // %@ takes no width on Linux: pad the name by hand.
                let name = result.protocolName.padding(toLength: 12, withPad: " ", startingAt: 0)
                print(
                    name
                        + String(
                            format: " %8.3f %8d %6d %8.2f%% %8.0f", result.labelFraction, result.labeledSamples,
                            result.testSamples, 100 * result.accuracy, result.seconds))
            }
        }
    }
}
