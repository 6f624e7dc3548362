// Checkpoints round-trip exactly, and damage of any kind is detected and named, so that a resumed
// run falls back to the previous good checkpoint instead of loading garbage.

import Compute
import Foundation
import Testing
import Training

func temporaryDirectory(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "simclr-tests-\(name)-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func sampleState(step: Int) -> TrainingState {
    var configuration = TrainingConfiguration()
    configuration.width = 8
    return TrainingState(
        configuration: configuration, step: step, optimizerSteps: step, parameters: (0..<1000).map { Float($0) * 0.5 },
        state: [1, 2, 3], optimizerState: (0..<1000).map { -Float($0) })
}

@Suite("Checkpoints")
struct CheckpointTests {
    @Test func roundTripIsExact() throws {
        let state = sampleState(step: 42)
        let decoded = try Checkpoint.decode(try Checkpoint.encode(state), path: "memory")
        #expect(decoded.step == 42)
        #expect(decoded.parameters == state.parameters)
        #expect(decoded.state == state.state)
        #expect(decoded.optimizerState == state.optimizerState)
        #expect(decoded.configuration == state.configuration)
    }

    @Test func truncationAndBitFlipsAreDetected() throws {
        let bytes = try Checkpoint.encode(sampleState(step: 1))
        for length in [0, 7, 100, bytes.count / 2, bytes.count - 1] {
            #expect(throws: CheckpointError.self) { try Checkpoint.decode(Array(bytes.prefix(length)), path: "t") }
        }
        for position in [0, 9, 40, bytes.count / 2, bytes.count - 3] {
            var damaged = bytes
            damaged[position] ^= 0x10
            #expect(throws: CheckpointError.self) { try Checkpoint.decode(damaged, path: "t") }
        }
    }

    // The newest checkpoint is damaged: the previous good one is used and the damaged one named.
    @Test func latestGoodSkipsDamagedCheckpoints() throws {
        let directory = try temporaryDirectory("latest")
        defer { try? FileManager.default.removeItem(at: directory) }
        try Checkpoint.write(sampleState(step: 10), to: directory, keep: 5)
        let newest = try Checkpoint.write(sampleState(step: 20), to: directory, keep: 5)
        let bytes = try Data(contentsOf: newest)
        try bytes.prefix(bytes.count - 100).write(to: newest)

        let (state, url, skipped) = try Checkpoint.latestGood(in: directory)
        #expect(state.step == 10)
        #expect(url.lastPathComponent == Checkpoint.fileName(step: 10))
        #expect(skipped.count == 1)
        #expect("\(skipped[0])".contains(Checkpoint.fileName(step: 20)))
    }

    @Test func onlyTheNewestAreKeptAndNoTemporaryFilesRemain() throws {
        let directory = try temporaryDirectory("keep")
        defer { try? FileManager.default.removeItem(at: directory) }
        for step in [1, 2, 3, 4, 5] { try Checkpoint.write(sampleState(step: step), to: directory, keep: 2) }
        #expect(Checkpoint.list(in: directory).map(\.step) == [4, 5])
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(names.allSatisfy { !$0.hasSuffix(".tmp") })
    }

    // A directory that cannot be written: a typed error, and the earlier checkpoint untouched.
    @Test func unwritableDirectoryIsATypedError() throws {
        let directory = try temporaryDirectory("unwritable")
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("does-not-exist")
        #expect(throws: CheckpointError.self) { try Checkpoint.write(sampleState(step: 1), to: missing, keep: 2) }
        #expect(throws: CheckpointError.self) { try Checkpoint.latestGood(in: directory) }
    }

    @Test func configurationDifferencesAreNamed() {
        var a = TrainingConfiguration()
        var b = a
        b.temperature = 0.2
        b.batchSize = 512
        let differences = a.differences(from: b)
        #expect(differences.count == 2)
        #expect(differences.contains { $0.hasPrefix("batchSize") })
        #expect(differences.contains { $0.hasPrefix("temperature") })
        a.logEvery = 99  // bookkeeping only
        #expect(a.hash == TrainingConfiguration().hash)
    }
}

@Suite("Global batch plan")
struct GlobalBatchPlanTests {
    @Test(arguments: [(1000, 256), (1001, 256), (513, 256), (10, 3), (7, 7)])
    func everyEpochVisitsEverySampleOnce(samples: Int, batch: Int) {
        let plan = GlobalBatchPlan(sampleCount: samples, batchSize: batch, seed: 9)
        for epoch in 0..<3 {
            let permutation = plan.permutation(epoch: epoch)
            var seen: [Int] = []
            for step in (epoch * plan.stepsPerEpoch)..<((epoch + 1) * plan.stepsPerEpoch) {
                let indices = plan.indices(step: step, permutation: permutation)
                #expect(indices.count >= 2)
                #expect(indices.count <= batch + 1)
                seen += indices
            }
            #expect(seen.sorted() == Array(0..<samples))
        }
    }

    @Test func epochsDifferAndSeedsDiffer() {
        let plan = GlobalBatchPlan(sampleCount: 100, batchSize: 10, seed: 1)
        #expect(plan.permutation(epoch: 0) != plan.permutation(epoch: 1))
        #expect(plan.permutation(epoch: 0) == plan.permutation(epoch: 0))
        #expect(
            GlobalBatchPlan(sampleCount: 100, batchSize: 10, seed: 2).permutation(epoch: 0)
                != plan.permutation(epoch: 0))
    }

    @Test func evenSplitCoversTheBatchInOrder() {
        for parts in 1...5 {
            let ranges = GlobalBatchPlan.evenSplit(count: 13, parts: parts)
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == 13)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(ranges.map(\.count).max()! - ranges.map(\.count).min()! <= 1)
        }
    }
}
