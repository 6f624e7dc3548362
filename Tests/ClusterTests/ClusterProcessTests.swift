// The cluster as users run it: `simclr launch`, `simclr coordinator` and `simclr worker` as real
// processes over loopback, against `simclr train` in one process. The simclr executable is the
// one built next to this test bundle (`swift build` builds it; scripts/test.sh does so first).

import Collectives
import Compute
import ControlProtocol
import Datasets
import Foundation
import Testing
import Training

@Suite("Cluster processes", .serialized)
struct ClusterProcessTests {
    static let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "simclr-cluster-\(getpid())-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// 56 samples in batches of 14 (see TrainingRun in RingExchangeTests for why it divides).
    static let data: String = {
        let path = directory.appendingPathComponent("train.simclr").path
        _ = try! DatasetPreparer.prepare(
            source: .synthetic(count: 56), output: path, options: PrepareOptions(imageSize: 16, seed: 5))
        return path
    }()

    static let options = [
        "--width", "4", "--batch-size", "14", "--epochs", "2", "--steps", "5", "--learning-rate", "0.1",
        "--lr-scaling", "none", "--head-hidden", "16", "--projection-dim", "8", "--seed", "9", "--log-every", "1",
        "--checkpoint-every", "3",
    ]

    func runDirectory(_ name: String) -> String {
        Self.directory.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(6))").path
    }

    /// One worker process is `simclr train`, bit for bit: the same losses at every step, the same
    /// parameters after five, and a ledger that names every sample once in the epoch.
    @Test func oneWorkerIsTrain() throws {
        let single = runDirectory("train")
        try simclr(["train", "--data", Self.data, "--run-dir", single, "--threads", "1"] + Self.options)
        let cluster = runDirectory("launch1")
        try simclr(
            ["launch", "--workers", "1", "--threads-per-worker", "1", "--data", Self.data, "--run-dir", cluster]
                + Self.options)

        let expected = try losses(in: single)
        #expect(expected.count == 5)
        #expect(try losses(in: cluster) == expected)
        let a = try finalState(in: single)
        let b = try finalState(in: cluster)
        #expect(b.step == 5)
        #expect(b.parameters == a.parameters)

        let ledger = try records(in: cluster, file: "ledger.jsonl")
        #expect(ledger.map { $0["step"] as? Int } == [1, 2, 3, 4, 5])
        let firstEpoch = ledger.prefix(4).flatMap { ($0["samples"] as? [[Int]] ?? []).joined() }
        #expect(firstEpoch.sorted() == Array(0..<56))
    }

    /// The kNN monitor of a cluster run evaluates each checkpoint's state in the coordinator, while
    /// training goes on, and finds what `simclr train`'s monitor finds at the same step: with one
    /// worker the states are bitwise equal and both monitors run on one thread, so exactly.
    @Test func clusterMonitorMatchesTrain() throws {
        let monitor = ["--monitor-train", Self.data, "--monitor-test", Self.data]
        let single = runDirectory("train-monitor")
        try simclr(
            ["train", "--data", Self.data, "--run-dir", single, "--threads", "1", "--loader-threads", "1"]
                + Self.options + monitor + ["--monitor-every", "1"])
        let cluster = runDirectory("launch-monitor")
        try simclr(
            ["launch", "--workers", "1", "--threads-per-worker", "1", "--data", Self.data, "--run-dir", cluster]
                + Self.options + monitor)

        func accuracies(in run: String) throws -> [Int: Double] {
            var found: [Int: Double] = [:]
            for record in try records(in: run, file: "metrics.jsonl") {
                if let step = record["step"] as? Int, let accuracy = record["knn_accuracy"] as? Double {
                    found[step] = accuracy
                }
            }
            return found
        }
        let trained = try accuracies(in: single)
        let clustered = try accuracies(in: cluster)
        #expect(trained.keys.sorted() == [1, 2, 3, 4, 5])
        // Checkpoints at steps 3 and 5; a checkpoint that arrives while the monitor is busy may be
        // skipped, the last one never is.
        #expect(clustered[5] != nil && Set(clustered.keys).isSubset(of: [3, 5]))
        for (step, accuracy) in clustered { #expect(accuracy == trained[step], "step \(step)") }
    }

    /// 2 and 3 worker processes run each of five steps as `simclr train` does: the cluster is
    /// launched fresh for step 1 and resumed from train's own checkpoint for steps 2 to 5, and it
    /// logs train's loss (relative 1e-6) and makes train's update of the parameters (relative
    /// 1e-5 of the update). Tolerances, and why each step starts from train's state rather than
    /// the cluster's own: RingExchangeTests.ranksTrainLikeOneProcess.
    @Test(arguments: [2, 3])
    func launchStepsMatchTrain(workers: Int) throws {
        let single = runDirectory("train")
        let everyStep = ["--checkpoint-every", "1", "--keep-checkpoints", "5"]
        try simclr(["train", "--data", Self.data, "--run-dir", single, "--threads", "1"] + Self.options + everyStep)
        let trainLosses = try losses(in: single)
        func trainState(after step: Int) throws -> TrainingState {
            let url = URL(fileURLWithPath: single).appendingPathComponent(Checkpoint.fileName(step: step))
            return try Checkpoint.decode(Array(try Data(contentsOf: url)), path: url.path)
        }
        let launch = ["launch", "--workers", "\(workers)", "--threads-per-worker", "1", "--data", Self.data]
        var before = try SimCLRStep(configuration: trainState(after: 1).configuration, stepsPerEpoch: 4, threads: 1)
            .snapshot(step: 0)
        for step in 1...5 {
            let cluster = runDirectory("launch\(workers)-step\(step)")
            if step == 1 {
                try simclr(launch + ["--run-dir", cluster] + Self.options + everyStep + ["--steps", "1"])
            } else {
                try FileManager.default.createDirectory(atPath: cluster, withIntermediateDirectories: true)
                for file in ["config.json", Checkpoint.fileName(step: step - 1)] {
                    try FileManager.default.copyItem(atPath: single + "/" + file, toPath: cluster + "/" + file)
                }
                try simclr(launch + ["--resume", cluster, "--steps", "\(step)"])
            }

            let loss = try #require(try losses(in: cluster).last)
            let expected = trainLosses[step - 1]
            #expect(abs(loss - expected) <= 1e-6 * abs(expected), "step \(step): train \(expected), launch \(loss)")
            let after = try finalState(in: cluster)
            let reference = try trainState(after: step)
            #expect(after.step == step)
            let difference = relativeDifference(
                update(after.parameters, from: before.parameters), update(reference.parameters, from: before.parameters)
            )
            #expect(difference <= 1e-5, "step \(step): the update differs by \(difference) relative")
            before = reference
        }
    }

    @Test func unsynchronisedBatchNormDiffers() throws {
        let single = runDirectory("train")
        try simclr(["train", "--data", Self.data, "--run-dir", single, "--threads", "1"] + Self.options)
        let cluster = runDirectory("nosync")
        try simclr(
            [
                "launch", "--workers", "2", "--threads-per-worker", "1", "--data", Self.data, "--run-dir", cluster,
                "--sync-bn", "off",
            ] + Self.options)
        let worst = zip(try losses(in: single), try losses(in: cluster)).map { abs($0 - $1) / abs($0) }.max() ?? 0
        #expect(worst > 1e-3)
    }

    /// A run stopped after its step-3 checkpoint and resumed ends bitwise where an uninterrupted
    /// run does (same ranks, same threads: the same sums in the same order), with the same ledger.
    @Test func resumeIsExact() throws {
        let whole = runDirectory("whole")
        try simclr(
            ["launch", "--workers", "2", "--threads-per-worker", "1", "--data", Self.data, "--run-dir", whole]
                + Self.options)
        let split = runDirectory("split")
        var first = Self.options
        first[first.firstIndex(of: "--steps")! + 1] = "3"
        try simclr(
            ["launch", "--workers", "2", "--threads-per-worker", "1", "--data", Self.data, "--run-dir", split] + first)
        try simclr(
            [
                "launch", "--workers", "2", "--threads-per-worker", "1", "--data", Self.data, "--run-dir", split,
                "--resume", "--steps", "5",
            ])

        let a = try finalState(in: whole)
        let b = try finalState(in: split)
        #expect(b.step == 5 && a.step == 5)
        #expect(b.parameters == a.parameters)
        #expect(b.optimizerState == a.optimizerState)
        #expect(try ledgerText(whole) == (try ledgerText(split)))
        #expect(try losses(in: whole) == (try losses(in: split)))
    }

    /// A worker killed mid-run (`kill -9` after ten or more committed steps) costs the run no step
    /// and no sample: a ring neighbour gives the step up within its ring timeout, every survivor
    /// puts back the state before it and registers again, and the coordinator welcomes them as
    /// the next generation, which runs the same step again and finishes the run. The ledger names
    /// every step once and every sample once per epoch, and the new generation's first step makes
    /// `simclr train`'s update from the committed state (the tolerances of launchStepsMatchTrain),
    /// so what the survivors put back is that state.
    @Test(arguments: [2, 3])
    func survivorsOfAKilledWorkerFinishTheRun(workers count: Int) throws {
        let long = Self.longRun(epochs: 25)
        let run = runDirectory("killed\(count)")
        defer { try? FileManager.default.removeItem(atPath: run) }  // a checkpoint per step
        let coordinator = try startCoordinator(workers: count, run: run, long)
        defer { coordinator.stop() }
        let endpoint = try waitForEndpoint(run)
        let workers = try (0..<count).map { try worker($0, of: endpoint) }
        defer { workers.forEach { $0.stop() } }
        waitForCommittedSteps(10, in: run)
        workers[1].stop()
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        for (rank, worker) in workers.enumerated() where rank != 1 {
            #expect(worker.wait() == 0, "\(worker.output)")
            #expect(worker.output.contains("state=\"put back\""), "\(worker.output)")
        }
        #expect(coordinator.output.contains("lost=worker-1"), "\(coordinator.output)")

        try expectRegroupedRun(run, epochs: 25, sharesBefore: count, sharesAfter: count - 1)
    }

    /// `simclr launch` goes on when one of its workers dies after training started: the same
    /// regroup as above, with the worker processes launch started.
    @Test func launchGoesOnWithoutAKilledWorker() throws {
        let run = runDirectory("launch-killed")
        defer { try? FileManager.default.removeItem(atPath: run) }  // a checkpoint per step
        let launch = try Spawned(
            [
                "launch", "--workers", "3", "--threads-per-worker", "1", "--data", Self.data, "--run-dir", run,
                "--ring-timeout", "2", "--regroup-timeout", "10",
            ] + Self.longRun(epochs: 25))
        defer { launch.stop() }
        let endpoint = try waitForEndpoint(run)
        waitForCommittedSteps(10, in: run)
        // Worker 1 of this launch: the process whose arguments name this coordinator and worker-1.
        let worker = try #require(
            try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).first { pid in
                let arguments =
                    (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")))
                    .map { $0.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } } ?? []
                return arguments.contains(endpoint) && arguments.contains("worker-1")
            })
        kill(worker, SIGKILL)
        #expect(launch.wait() == 0, "\(launch.output)")
        #expect(launch.output.contains("the coordinator goes on without it"), "\(launch.output)")
        try expectRegroupedRun(run, epochs: 25, sharesBefore: 3, sharesAfter: 2)
    }

    /// A worker started while a run trains joins it at a step boundary: the coordinator pauses
    /// planning, checkpoints rank 0's state there, and welcomes every worker as the next
    /// generation, the new one with that state. Checked as for a killed worker.
    @Test func workerJoinsARunningCluster() throws {
        // Long enough that the new worker, started after ten steps, surely finds the run going.
        let long = Self.longRun(epochs: 100)
        let run = runDirectory("joined")
        defer { try? FileManager.default.removeItem(atPath: run) }  // a checkpoint per step
        let coordinator = try startCoordinator(workers: 2, run: run, long)
        defer { coordinator.stop() }
        let endpoint = try waitForEndpoint(run)
        var workers = try (0..<2).map { try worker($0, of: endpoint) }
        defer { workers.forEach { $0.stop() } }
        waitForCommittedSteps(10, in: run)
        workers.append(try worker(2, of: endpoint))
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        for worker in workers { #expect(worker.wait() == 0, "\(worker.output)") }
        #expect(coordinator.output.contains("joined worker=worker-2 rank=2"), "\(coordinator.output)")
        try expectRegroupedRun(run, epochs: 100, sharesBefore: 2, sharesAfter: 3)
    }

    /// A checkpoint that cannot be written is logged and the run goes on to its end and its last
    /// checkpoint. The failure is made by a folder at the checkpoint's temporary path, which even
    /// root cannot open as a file (a full disk would do the same, but cannot be made here).
    @Test func unwritableCheckpointDoesNotStopTheRun() throws {
        let run = runDirectory("unwritable")
        let coordinator = try Spawned(
            ["coordinator", "--bind", "tcp://127.0.0.1:*", "--workers", "2", "--data", Self.data, "--run-dir", run]
                + Self.options)
        defer { coordinator.stop() }
        let endpoint = try waitForEndpoint(run)
        let blocked = "\(run)/.\(Checkpoint.fileName(step: 3)).\(coordinator.process.processIdentifier).tmp"
        try FileManager.default.createDirectory(atPath: blocked, withIntermediateDirectories: true)
        let workers = try (0..<2).map { try worker($0, of: endpoint) }
        defer { workers.forEach { $0.stop() } }
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        for worker in workers { #expect(worker.wait() == 0, "\(worker.output)") }
        #expect(coordinator.output.contains("checkpoint failed step=3"), "\(coordinator.output)")
        #expect(Checkpoint.list(in: URL(fileURLWithPath: run)).map(\.step) == [5])
        #expect(try records(in: run, file: "ledger.jsonl").count == 5)
    }

    /// A worker that registers and is gone by the time it is admitted leaves the new generation's
    /// ring unformed: the others give it up within their ring timeout, and the coordinator
    /// regroups again without it. (The vanishing worker is a socket that sends one registration.)
    @Test func workerGoneBeforeItsRingFormsIsDroppedAgain() throws {
        let run = runDirectory("vanished")
        defer { try? FileManager.default.removeItem(atPath: run) }  // a checkpoint per step
        let coordinator = try startCoordinator(workers: 2, run: run, Self.longRun(epochs: 100))
        defer { coordinator.stop() }
        let endpoint = try waitForEndpoint(run)
        let workers = try (0..<2).map { try worker($0, of: endpoint) }
        defer { workers.forEach { $0.stop() } }
        waitForCommittedSteps(10, in: run)
        let fingerprint = try PackedDataset(path: Self.data).fingerprint
        let ghost = try GarbageSender(endpoint: endpoint)
        try ghost.send([
            ControlMessage.register(
                ControlMessage.Register(
                    protocolVersion: ControlMessage.protocolVersion, name: "ghost", threads: 1, configurationHash: "",
                    datasetFingerprint: fingerprint, ringEndpoint: "tcp://127.0.0.1:9", hasDataset: true,
                    configurationJSON: "")
            ).encode()
        ])

        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        for worker in workers { #expect(worker.wait() == 0, "\(worker.output)") }
        #expect(coordinator.output.contains("joined worker=ghost"), "\(coordinator.output)")
        #expect(coordinator.output.contains("lost=ghost"), "\(coordinator.output)")
        let generations = try records(in: run, file: "ledger.jsonl").map { $0["generation"] as? Int ?? 0 }
        #expect(generations.last == 3 && !generations.contains(2), "\(Set(generations))")
    }

    /// `epochs` of 4 steps of 14 samples, a checkpoint after every step.
    static func longRun(epochs: Int) -> [String] {
        var long = options
        long[long.firstIndex(of: "--epochs")! + 1] = "\(epochs)"
        long[long.firstIndex(of: "--steps")! + 1] = "\(4 * epochs)"
        long[long.firstIndex(of: "--checkpoint-every")! + 1] = "1"
        return long + ["--keep-checkpoints", "\(4 * epochs)"]
    }

    /// A `longRun` that went from generation 1 to 2 after ten or more steps: the ledger names every
    /// step once and every sample once per epoch, with the given number of shares before and
    /// after, and the first step of generation 2 makes `simclr train`'s update from the state
    /// before it (the tolerances of launchStepsMatchTrain).
    func expectRegroupedRun(_ run: String, epochs: Int, sharesBefore: Int, sharesAfter: Int) throws {
        let ledger = try records(in: run, file: "ledger.jsonl")
        #expect(ledger.map { $0["step"] as? Int } == Array(1...(4 * epochs)))
        for epoch in 0..<epochs {
            let samples = ledger[(4 * epoch)..<(4 * epoch + 4)].flatMap { ($0["samples"] as? [[Int]] ?? []).joined() }
            #expect(samples.sorted() == Array(0..<56), "epoch \(epoch)")
        }
        let regrouped = try #require(ledger.firstIndex { $0["generation"] as? Int == 2 })
        #expect(regrouped >= 10)
        #expect(ledger[..<regrouped].allSatisfy { ($0["samples"] as? [[Int]])?.count == sharesBefore })
        #expect(
            ledger[regrouped...].allSatisfy {
                ($0["samples"] as? [[Int]])?.count == sharesAfter && $0["generation"] as? Int == 2
            })

        // The first step of the new generation, against one process from the state before it.
        let step = regrouped + 1
        let single = runDirectory("after-regroup")
        defer { try? FileManager.default.removeItem(atPath: single) }
        try FileManager.default.createDirectory(atPath: single, withIntermediateDirectories: true)
        for file in ["config.json", Checkpoint.fileName(step: step - 1)] {
            try FileManager.default.copyItem(atPath: run + "/" + file, toPath: single + "/" + file)
        }
        try simclr(["train", "--data", Self.data, "--resume", single, "--steps", "\(step)", "--threads", "1"])
        func state(in directory: String, after step: Int) throws -> TrainingState {
            let url = URL(fileURLWithPath: directory).appendingPathComponent(Checkpoint.fileName(step: step))
            return try Checkpoint.decode(Array(try Data(contentsOf: url)), path: url.path)
        }
        let before = try state(in: run, after: step - 1)
        let difference = relativeDifference(
            update(try state(in: run, after: step).parameters, from: before.parameters),
            update(try state(in: single, after: step).parameters, from: before.parameters))
        #expect(difference <= 1e-5, "step \(step): the update differs by \(difference) relative")
        func loss(in directory: String) throws -> Double? {
            try records(in: directory, file: "metrics.jsonl").first { $0["step"] as? Int == step }?["loss"] as? Double
        }
        let expected = try #require(try loss(in: single))
        let clustered = try #require(try loss(in: run))
        #expect(abs(clustered - expected) <= 1e-6 * abs(expected), "step \(step): \(expected) and \(clustered)")
    }

    /// Workers with another dataset or configuration are refused, and both sides say which field
    /// differs; the coordinator logs the refusals and garbage on its socket, and goes on to train
    /// with a proper worker.
    @Test func mismatchedWorkerIsRefusedAndGarbageIsDropped() throws {
        let other = Self.directory.appendingPathComponent("other.simclr").path
        _ = try DatasetPreparer.prepare(
            source: .synthetic(count: 56), output: other, options: PrepareOptions(imageSize: 16, seed: 6))
        let run = runDirectory("refuse")
        let coordinator = try Spawned(
            ["coordinator", "--bind", "tcp://127.0.0.1:*", "--workers", "1", "--data", Self.data, "--run-dir", run]
                + Self.options)
        defer { coordinator.stop() }
        let endpoint = try waitForEndpoint(run)

        let refused = try Spawned(["worker", "--coordinator", endpoint, "--data", other, "--name", "stranger"])
        #expect(refused.wait() != 0)
        #expect(refused.output.contains("dataset_fingerprint"), "\(refused.output)")

        // A worker started with another temperature: both sides name the field.
        let config = Self.directory.appendingPathComponent("other-config.json")
        try Data(#"{"temperature": 0.3}"#.utf8).write(to: config)
        let misconfigured = try Spawned(
            ["worker", "--coordinator", endpoint, "--data", Self.data, "--config", config.path, "--name", "odd"])
        #expect(misconfigured.wait() != 0)
        #expect(misconfigured.output.contains("temperature"), "\(misconfigured.output)")

        try sendGarbage(to: endpoint)

        let good = try Spawned(["worker", "--coordinator", endpoint, "--data", Self.data, "--threads", "1"])
        #expect(good.wait() == 0, "\(good.output)")
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(coordinator.output.contains("refused"))
        #expect(coordinator.output.contains("temperature (0.5 in the run, 0.3 in the worker)"), "\(coordinator.output)")
        #expect(coordinator.output.contains("dropped message"))
        #expect(try losses(in: run).count == 5)
    }

    // MARK: Helpers

    func losses(in run: String) throws -> [Double] {
        try records(in: run, file: "metrics.jsonl").compactMap { $0["loss"] as? Double }
    }

    func records(in run: String, file: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: run + "/" + file, encoding: .utf8)
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func ledgerText(_ run: String) throws -> String {
        try String(contentsOfFile: run + "/ledger.jsonl", encoding: .utf8)
    }

    func finalState(in run: String) throws -> TrainingState {
        try Checkpoint.latestGood(in: URL(fileURLWithPath: run)).state
    }

    /// `simclr coordinator` for `workers` workers on a free loopback port, regrouping within 10 s.
    func startCoordinator(workers: Int, run: String, _ options: [String]) throws -> Spawned {
        try Spawned(
            [
                "coordinator", "--bind", "tcp://127.0.0.1:*", "--workers", "\(workers)", "--data", Self.data,
                "--run-dir", run, "--regroup-timeout", "10",
            ] + options)
    }

    /// `simclr worker` number `rank` (named worker-RANK) for the coordinator at `endpoint`, on one
    /// thread, giving a step up after 2 s without progress.
    func worker(_ rank: Int, of endpoint: String) throws -> Spawned {
        try Spawned(
            [
                "worker", "--coordinator", endpoint, "--data", Self.data, "--name", "worker-\(rank)", "--threads", "1",
                "--ring-timeout", "2",
            ])
    }

    /// Waits (at most 30 s) until the ledger of `run` holds `count` committed steps.
    func waitForCommittedSteps(_ count: Int, in run: String) {
        for _ in 0..<3000 {
            if (try? records(in: run, file: "ledger.jsonl").count) ?? 0 >= count { return }
            usleep(10_000)
        }
    }

    func waitForEndpoint(_ run: String) throws -> String {
        let file = run + "/coordinator.endpoint"
        for _ in 0..<600 {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), !text.isEmpty { return text }
            usleep(50_000)
        }
        throw SpawnError("the coordinator never wrote \(file)")
    }

    /// Frames no control message is made of, from a peer that never registered.
    func sendGarbage(to endpoint: String) throws {
        let socket = try GarbageSender(endpoint: endpoint)
        try socket.send([[0xFF, 0x00, 0x13, 0x37]])
        try socket.send([[]])
        try socket.send([[0x0A, 0x02, 0x08]])  // a truncated Register
    }
}

/// Runs simclr to completion; throws with its output when it fails.
func simclr(_ arguments: [String]) throws {
    let process = try Spawned(arguments)
    let status = process.wait()
    guard status == 0 else {
        throw SpawnError("simclr \(arguments.joined(separator: " ")) exited \(status):\n\(process.output)")
    }
}

struct SpawnError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A simclr process with its output collected.
final class Spawned: @unchecked Sendable {
    let process = Process()
    private let pipe = Pipe()
    private var collected = Data()
    private let lock = NSLock()
    private let finished = DispatchSemaphore(value: 0)

    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("simclr")
    }

    init(_ arguments: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable.path) else {
            throw SpawnError("no simclr executable at \(Self.executable.path): run `swift build` first")
        }
        process.executableURL = Self.executable
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = pipe
        let finished = finished
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                finished.signal()
            } else {
                self?.lock.withLock { self?.collected.append(data) }
            }
        }
        try process.run()
    }

    var output: String { lock.withLock { String(decoding: collected, as: UTF8.self) } }

    /// Waits for the process (at most five minutes, then kills it) and its output.
    func wait() -> Int32 {
        let deadline = Date().addingTimeInterval(300)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        _ = finished.wait(timeout: .now() + 5)
        return process.terminationStatus
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// A peer that connects to the coordinator and sends raw frames.
final class GarbageSender {
    let context: ZeroMQContext
    let socket: ZeroMQSocket

    init(endpoint: String) throws {
        context = try ZeroMQContext()
        socket = try ZeroMQSocket(.dealer, context: context, linger: .seconds(1))
        try socket.connect(endpoint)
    }

    func send(_ frames: [[UInt8]]) throws { _ = try socket.send(frames: frames) }
}
