// The single-process trainer end to end on a small synthetic dataset: a run stopped after a
// checkpoint and resumed ends with exactly the parameters of an uninterrupted run, metrics.jsonl
// reads as one run, and resuming with a configuration that differs in a field that matters is
// refused by name.

import Compute
import Datasets
import Foundation
import Testing
import Training

@Suite("Trainer", .serialized)
struct TrainerTests {
    static let data: URL = {
        let directory = try! temporaryDirectory("trainer-data")
        let url = directory.appendingPathComponent("synthetic.simclr")
        _ = try! DatasetPreparer.prepare(
            source: .synthetic(count: 40), output: url.path, options: PrepareOptions(imageSize: 16, seed: 3))
        return url
    }()

    func configuration(steps: Int?) -> TrainingConfiguration {
        var configuration = TrainingConfiguration()
        configuration.width = 4
        configuration.batchSize = 8
        configuration.epochs = 2
        configuration.steps = steps
        configuration.learningRate = 0.05
        configuration.learningRateScaling = .none
        configuration.logEvery = 1
        configuration.checkpointEvery = 3
        configuration.headHidden = 16
        configuration.projectionDim = 8
        return configuration
    }

    func train(_ configuration: TrainingConfiguration, directory: URL, resume: Bool) throws -> Trainer {
        let trainer = try Trainer(
            configuration: configuration,
            options: TrainerOptions(
                data: TrainerTests.data, runDirectory: directory, threads: 2, loaderThreads: 2, resume: resume))
        try trainer.run { _ in }
        return trainer
    }

    // Bitwise: the same thread counts give the same summation order, and every random choice
    // (initial weights, batch order, views) is a function of the seed and the step.
    @Test func resumeIsExact() throws {
        let whole = try temporaryDirectory("whole")
        let split = try temporaryDirectory("split")
        defer {
            try? FileManager.default.removeItem(at: whole)
            try? FileManager.default.removeItem(at: split)
        }
        let uninterrupted = try train(configuration(steps: nil), directory: whole, resume: false)
        _ = try train(configuration(steps: 4), directory: split, resume: false)
        #expect(Checkpoint.list(in: split).map(\.step) == [3, 4])
        let resumed = try train(configuration(steps: nil), directory: split, resume: true)

        #expect(resumed.engine.model.store.values.array == uninterrupted.engine.model.store.values.array)
        #expect(resumed.engine.model.store.state.array == uninterrupted.engine.model.store.state.array)
        #expect(resumed.engine.optimizer.state.array == uninterrupted.engine.optimizer.state.array)

        let lines = { (url: URL) in
            try String(contentsOf: url.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
                .split(separator: "\n").compactMap { line -> Double? in
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    return object?["loss"] as? Double
                }
        }
        #expect(try lines(split) == lines(whole))
        #expect(try lines(whole).count == 10)
    }

    @Test func resumeWithAnotherConfigurationNamesTheField() throws {
        let directory = try temporaryDirectory("mismatch")
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try train(configuration(steps: 3), directory: directory, resume: false)
        var changed = configuration(steps: nil)
        changed.temperature = 0.1
        #expect {
            try train(changed, directory: directory, resume: true)
        } throws: { error in
            "\(error)".contains("temperature")
        }
    }

    @Test func freshRunRefusesADirectoryWithCheckpoints() throws {
        let directory = try temporaryDirectory("occupied")
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try train(configuration(steps: 3), directory: directory, resume: false)
        #expect(throws: ConfigurationError.self) {
            try train(configuration(steps: 3), directory: directory, resume: false)
        }
    }
}
