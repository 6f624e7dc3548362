// The single-process trainer end to end on a small synthetic dataset: a run stopped after a
// checkpoint and resumed ends with exactly the parameters of an uninterrupted run, metrics.jsonl
// reads as one run, resuming with a configuration that differs in a field that matters or on
// another dataset is refused by name, and a run that diverges stops without a checkpoint of it.

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

    /// Logged every third step, a resumed run's metrics hold the uninterrupted run's lines, with
    /// the same losses, plus the line of the step where the first leg stopped.
    @Test func resumedMetricsLogTheSameSteps() throws {
        let whole = try temporaryDirectory("log-whole")
        let split = try temporaryDirectory("log-split")
        defer {
            try? FileManager.default.removeItem(at: whole)
            try? FileManager.default.removeItem(at: split)
        }
        var sparse = configuration(steps: nil)
        sparse.logEvery = 3
        _ = try train(sparse, directory: whole, resume: false)
        var first = sparse
        first.steps = 4
        _ = try train(first, directory: split, resume: false)
        _ = try train(sparse, directory: split, resume: true)
        let steps = { (url: URL) in
            try String(contentsOf: url.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
                .split(separator: "\n").compactMap { line -> Int? in
                    (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int
                }
        }
        #expect(try steps(whole) == [1, 3, 6, 9, 10])
        #expect(try steps(split) == [1, 3, 4, 6, 9, 10])
    }

    @Test func resumeOnAnotherDatasetIsRefused() throws {
        let directory = try temporaryDirectory("other-data")
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try train(configuration(steps: 3), directory: directory, resume: false)
        let other = directory.appendingPathComponent("other.simclr")
        _ = try DatasetPreparer.prepare(
            source: .synthetic(count: 40), output: other.path, options: PrepareOptions(imageSize: 16, seed: 4))
        #expect {
            try Trainer(
                configuration: configuration(steps: nil),
                options: TrainerOptions(
                    data: other, runDirectory: directory, threads: 1, loaderThreads: 1, resume: true)
            ).run { _ in }
        } throws: { error in
            "\(error)".contains("same prepared file") && "\(error)".contains("was trained on dataset")
        }
    }

    /// A checkpoint that cannot be written (a folder holds its temporary file's path; a full disk
    /// cannot be made here) is reported and training goes on to the next one. When the last one
    /// fails, the run says so and names the newest good one.
    @Test func unwritableCheckpointIsReportedAndTrainingGoesOn() throws {
        let directory = try temporaryDirectory("unwritable")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent(".\(Checkpoint.fileName(step: 3)).\(getpid()).tmp"),
            withIntermediateDirectories: true)
        var failed: [Int] = []
        let trainer = try Trainer(
            configuration: configuration(steps: nil),
            options: TrainerOptions(data: TrainerTests.data, runDirectory: directory, threads: 2, loaderThreads: 2))
        try trainer.run { if case .checkpointFailed(let step, _) = $0 { failed.append(step) } }
        #expect(failed == [3])
        #expect(Checkpoint.list(in: directory).map(\.step) == [6, 9, 10])

        // The same run again, with its last checkpoint blocked instead.
        let again = try temporaryDirectory("unwritable-last")
        defer { try? FileManager.default.removeItem(at: again) }
        try FileManager.default.createDirectory(
            at: again.appendingPathComponent(".\(Checkpoint.fileName(step: 10)).\(getpid()).tmp"),
            withIntermediateDirectories: true)
        let blockedAtTheEnd = try Trainer(
            configuration: configuration(steps: nil),
            options: TrainerOptions(data: TrainerTests.data, runDirectory: again, threads: 2, loaderThreads: 2))
        #expect(throws: CheckpointError.self) { try blockedAtTheEnd.run { _ in } }
        #expect(Checkpoint.list(in: again).map(\.step) == [3, 6, 9])
    }

    /// A learning rate of 1e30 blows the model up within a few steps: the run stops with the
    /// step and the tensor, and every checkpoint it left holds finite values only.
    @Test func divergenceStopsWithoutACheckpointOfIt() throws {
        let directory = try temporaryDirectory("diverge")
        defer { try? FileManager.default.removeItem(at: directory) }
        var wild = configuration(steps: nil)
        wild.learningRate = 1e30
        wild.checkpointEvery = 1
        #expect {
            try train(wild, directory: directory, resume: false)
        } throws: { error in
            guard let error = error as? NonFiniteError else { return false }
            return error.step >= 1 && !error.tensor.isEmpty
        }
        for checkpoint in Checkpoint.list(in: directory) {
            let state = try Checkpoint.decode(Array(try Data(contentsOf: checkpoint.url)), path: checkpoint.url.path)
            let values = state.parameters + state.state + state.optimizerState
            #expect(values.allSatisfy { $0.isFinite })
        }
    }
}
