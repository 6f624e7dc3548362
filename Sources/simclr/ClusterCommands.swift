// `simclr coordinator`, `simclr worker` and `simclr status`: the processes of a cluster run and
// the operator's view of it. They parse options and log events; the work is in the Cluster
// library (Coordinator, Worker).

import Cluster
import Compute
import ControlProtocol
import Foundation
import Training

enum CoordinatorCommand: Command {
    static let name = "coordinator"
    static let summary = "own a cluster run: plan steps, commit them, keep checkpoints"
    static let usage = """
        Usage: simclr coordinator --data FILE --run-dir DIR --workers N [--bind tcp://*:PORT] [options]

          --workers N              workers that form the cluster; training starts when all joined
          --bind ENDPOINT          control endpoint (default tcp://*:5555; tcp://127.0.0.1:* picks a
                                   free port, written to DIR/coordinator.endpoint)
          --resume                 continue DIR from its newest good checkpoint; `--resume DIR` alone
                                   reuses the data, workers and endpoint the run was started with
          --checkpoint-minutes M   also checkpoint when M minutes passed since the last one
          --regroup-timeout S      after a failed step, how long workers have to register again
                                   before the run goes on without them (default 60; keep it above
                                   the workers' --ring-timeout and below the 120 s a worker waits
                                   for the coordinator's answer)
          --monitor-train FILE     labeled set for the kNN monitor's memory bank
          --monitor-test FILE      labeled set the kNN monitor classifies; the monitor runs on the
                                   state of every checkpoint, on one thread of this machine
        \\(TrainCommand.configurationUsage)
        """

    static func run(_ argv: [String]) throws {
        let arguments = try Arguments(argv, booleanFlags: ["resume"])
        let monitorTrain = arguments.string("monitor-train").map { URL(fileURLWithPath: $0) }
        let monitorTest = arguments.string("monitor-test").map { URL(fileURLWithPath: $0) }
        guard (monitorTrain == nil) == (monitorTest == nil) else {
            throw UsageError("--monitor-train and --monitor-test go together")
        }
        let resume = arguments.flag("resume")
        let runDirectory = try arguments.runDirectory()
        // A resumed run defaults to the data, workers and endpoint it was started with.
        let saved = resume ? CoordinatorSettings.read(from: runDirectory) : nil
        let data = try arguments.string("data") ?? saved?.data ?? arguments.require("data")
        let workers = try arguments.int("workers") ?? saved?.workers ?? 1
        let bind = arguments.string("bind") ?? saved?.bind ?? "tcp://*:5555"
        let minutes = try arguments.float("checkpoint-minutes")
        let regroupSeconds = try arguments.float("regroup-timeout") ?? 60
        let configuration = try TrainCommand.configuration(
            from: arguments,
            base: resume ? try TrainCommand.savedConfiguration(in: runDirectory) : TrainingConfiguration())
        try arguments.finish(allowPositionals: resume && arguments.string("run-dir") == nil ? 1 : 0)
        guard workers >= 1 else { throw UsageError("--workers must be at least 1") }
        guard regroupSeconds > 0 else { throw UsageError("--regroup-timeout must be positive") }

        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        try CoordinatorSettings(data: URL(fileURLWithPath: data).path, workers: workers, bind: bind).write(
            to: runDirectory)
        Log.tee(to: runDirectory.appendingPathComponent("coordinator.log"))
        var options = CoordinatorOptions(
            bind: bind, data: URL(fileURLWithPath: data), runDirectory: runDirectory, workers: workers, resume: resume)
        options.checkpointMinutes = minutes.map { Double($0) }
        options.regroupTimeout = .milliseconds(Int(regroupSeconds * 1000))
        options.monitorTrain = monitorTrain
        options.monitorTest = monitorTest
        let coordinator = try Coordinator(configuration: configuration, options: options)
        Log.info(
            "coordinator", "configuration",
            [
                "arch": configuration.arch.rawValue, "width": configuration.width, "batch": configuration.batchSize,
                "epochs": configuration.epochs, "workers": workers, "samples": coordinator.dataset.count,
                "sync_bn": configuration.synchronizeBatchNorm, "hash": configuration.hash,
            ])
        try coordinator.run { event in
            switch event {
            case .listening(let endpoint): Log.info("coordinator", "listening", ["endpoint": endpoint])
            case .refused(let worker, let reason):
                Log.warn("coordinator", "refused", ["worker": worker, "reason": reason])
            case .joined(let worker, let rank): Log.info("coordinator", "joined", ["worker": worker, "rank": rank])
            case .started(let stepsPerEpoch, let totalSteps, let firstStep, let generation, let workers):
                Log.info(
                    "coordinator", "start",
                    [
                        "steps_per_epoch": stepsPerEpoch, "steps": totalSteps, "from_step": firstStep,
                        "generation": generation, "workers": workers,
                    ])
            case .resumed(let path, let step, let skipped):
                for reason in skipped { Log.warn("coordinator", "skipped damaged checkpoint", ["reason": reason]) }
                Log.info("coordinator", "resumed", ["checkpoint": path, "step": step])
            case .step(let report):
                Log.info(
                    "coordinator", "step",
                    [
                        "step": report.step, "epoch": report.epoch, "loss": report.loss, "lr": report.learningRate,
                        "img/s": report.imagesPerSecond, "ms": report.timings.total,
                        "compute_ms": report.timings.forward + report.timings.backward,
                        "gather_ms": report.timings.exchange, "allreduce_ms": report.timings.allReduce,
                    ])
            case .checkpoint(let path, let step): Log.info("coordinator", "checkpoint", ["step": step, "path": path])
            case .checkpointFailed(let step, let reason):
                Log.error("coordinator", "checkpoint failed", ["step": step, "reason": reason])
            case .monitor(let step, let accuracy):
                Log.info("coordinator", "knn", ["step": step, "accuracy": accuracy])
            case .monitorFailed(let step, let reason):
                Log.warn("coordinator", "knn failed", ["step": step, "reason": reason])
            case .dropped(let reason, let count):
                Log.warn("coordinator", "dropped message", ["reason": reason, "dropped": count])
            case .aborting(let step, let reason):
                Log.error("coordinator", "abort", ["step": step + 1, "reason": reason])
            case .joining(let worker, let step):
                Log.info("coordinator", "joining", ["worker": worker, "after_step": step])
            case .regrouped(let generation, let workers, let lost):
                (lost.isEmpty ? Log.info : Log.warn)(
                    "coordinator", "regrouped",
                    [
                        "generation": generation, "workers": workers.joined(separator: ","),
                        "lost": lost.joined(separator: ","),
                    ])
            }
        }
        Log.info("coordinator", "done", ["run_dir": runDirectory.path])
    }
}

/// What `simclr coordinator --resume DIR` needs besides the configuration: DIR/coordinator.json.
struct CoordinatorSettings: Codable {
    var data: String
    var workers: Int
    var bind: String

    static func read(from directory: URL) -> CoordinatorSettings? {
        guard let bytes = try? Data(contentsOf: directory.appendingPathComponent("coordinator.json")) else {
            return nil
        }
        return try? JSONDecoder().decode(CoordinatorSettings.self, from: bytes)
    }

    func write(to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: directory.appendingPathComponent("coordinator.json"), options: .atomic)
    }
}

enum WorkerCommand: Command {
    static let name = "worker"
    static let summary = "join a cluster run and train on its share of every batch"
    static let usage = """
        Usage: simclr worker --coordinator tcp://HOST:PORT --data FILE [options]

          --data FILE              this machine's copy of the run's prepared dataset
          --name NAME              unique worker name (default: host-pid)
          --threads N              compute threads (default: all cores)
          --loader-threads N       augmentation threads (default: 1)
          --ring-bind ENDPOINT     where other workers reach this one (default tcp://127.0.0.1:* when
                                   the coordinator is on this host, tcp://*:* otherwise)
          --config FILE            refuse to join a run whose configuration differs from this one
          --ring-timeout SECONDS   give a step up when a collective makes no progress this long
                                   (a neighbour died or hangs), or when forming the ring takes
                                   longer (default 30)
        """

    static func run(_ argv: [String]) throws {
        let arguments = try Arguments(argv, booleanFlags: [])
        let coordinator = try arguments.require("coordinator")
        let data = try arguments.require("data")
        let host = ProcessInfo.processInfo.hostName
        let name = arguments.string("name", default: "\(host)-\(getpid())")
        let threads = try arguments.int("threads") ?? ProcessInfo.processInfo.activeProcessorCount
        let loaderThreads = try arguments.int("loader-threads") ?? 1
        let ringTimeout = try arguments.float("ring-timeout") ?? 30
        let local = ["127.0.0.1", "localhost", "ipc://"].contains { coordinator.contains($0) }
        let ringBind = arguments.string("ring-bind", default: local ? "tcp://127.0.0.1:*" : "tcp://*:*")
        let configuration = try arguments.string("config").map { path in
            do {
                return try JSONDecoder().decode(
                    TrainingConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw UsageError("cannot read configuration \(path): \(error)")
            }
        }
        try arguments.finish()
        guard threads > 0, loaderThreads > 0 else { throw UsageError("thread counts must be positive") }
        guard ringTimeout > 0 else { throw UsageError("--ring-timeout must be positive") }

        var options = WorkerOptions(
            coordinator: coordinator, data: URL(fileURLWithPath: data), name: name, threads: threads,
            loaderThreads: loaderThreads, ringBind: ringBind, configuration: configuration)
        options.coordinatorTimeout = .seconds(120)
        options.ringTimeout = .milliseconds(Int(ringTimeout * 1000))
        let worker = try Worker(options: options)
        try worker.run { event in
            switch event {
            case .registered(let coordinator, let ring):
                Log.info("worker", "registered", ["name": name, "coordinator": coordinator, "ring": ring])
            case .welcomed(let rank, let worldSize, let generation, let startStep):
                Log.info(
                    "worker", "welcome",
                    ["rank": rank, "world": worldSize, "generation": generation, "start_step": startStep])
            case .ringFormed(let rank, let worldSize):
                Log.info("worker", "ring formed", ["rank": rank, "world": worldSize, "threads": threads])
            case .dropped(let reason, let count):
                Log.warn("worker", "dropped message", ["reason": reason, "dropped": count])
            case .failed(let step, let reason):
                Log.error("worker", "step failed", ["step": step + 1, "reason": reason])
            case .aborted(let step, let reason, let restored):
                Log.warn(
                    "worker", "abort",
                    ["step": step + 1, "state": restored ? "put back" : "not started", "reason": reason])
            case .stopping(let reason, let step): Log.info("worker", "stop", ["step": step, "reason": reason])
            }
        }
    }
}

enum StatusCommand: Command {
    static let name = "status"
    static let summary = "show a running cluster's step, workers and last checkpoint"
    static let usage = """
        Usage: simclr status (--coordinator tcp://HOST:PORT | --run-dir DIR) [--json]

          --run-dir DIR            read the endpoint from DIR/coordinator.endpoint
          --json                   print the status as JSON
        """

    static func run(_ argv: [String]) throws {
        let arguments = try Arguments(argv, booleanFlags: ["json"])
        let endpoint: String
        if let given = arguments.string("coordinator") {
            endpoint = given
        } else if let directory = arguments.string("run-dir") {
            let file = URL(fileURLWithPath: directory).appendingPathComponent("coordinator.endpoint")
            guard let text = try? String(contentsOf: file, encoding: .utf8) else {
                throw UsageError("\(file.path) is missing: is a coordinator running for \(directory)?")
            }
            endpoint = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            throw UsageError("give --coordinator or --run-dir")
        }
        let json = arguments.flag("json")
        try arguments.finish()

        let status = try ClusterStatus.query(endpoint, timeout: .seconds(5))
        if json {
            let object: [String: Any] = [
                "run_directory": status.runDirectory, "step": status.step, "epoch": status.epoch,
                "generation": status.generation,
                "last_checkpoint_step": status.lastCheckpointStep.map { Int($0) } ?? NSNull(),
                "loss": status.loss ?? NSNull(),
                "workers": status.workers.map {
                    [
                        "name": $0.name, "rank": $0.rank, "images_per_second": $0.imagesPerSecond,
                        "last_heartbeat_age_seconds": $0.lastHeartbeatAgeSeconds,
                    ] as [String: Any]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("run        \(status.runDirectory)")
        print("step       \(status.step) (epoch \(status.epoch), generation \(status.generation))")
        print("loss       \(status.loss.map { String(format: "%.4f", $0) } ?? "-")")
        print("checkpoint \(status.lastCheckpointStep.map { "step \($0)" } ?? "none yet")")
        // Names are padded, never cut: two hosts may differ only at the end of a long name.
        let column = max(26, (status.workers.map(\.name.count).max() ?? 0) + 2)
        print("\nrank  " + "worker".padding(toLength: column, withPad: " ", startingAt: 0) + "  views/s  last heard")
        for worker in status.workers {
            print(
                String(format: "%4d  ", worker.rank)
                    + worker.name.padding(toLength: column, withPad: " ", startingAt: 0)
                    + String(format: "%9.1f  %6.1f s ago", worker.imagesPerSecond, worker.lastHeartbeatAgeSeconds))
        }
    }
}
