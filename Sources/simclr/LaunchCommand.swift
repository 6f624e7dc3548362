// `simclr launch`: a whole cluster on this machine, a coordinator and N workers as separate
// processes talking over loopback, with their logs streamed under a prefix each. Ctrl-C stops
// them all. The processes are the same ones a multi-machine run starts by hand.

import Foundation

enum LaunchCommand: Command {
    static let name = "launch"
    static let summary = "run a coordinator and N workers on this machine"
    static let usage = """
        Usage: simclr launch --workers N --data FILE --run-dir DIR [options]

          --workers N              worker processes (default 2)
          --threads-per-worker T   compute threads of each worker (default: cores / N, at least 1)
          --ring-timeout SECONDS   workers give a step up after this long without progress (default 30)
          --resume                 continue DIR from its newest good checkpoint
        Every other option goes to the coordinator (see 'simclr coordinator --help'):
        \\(TrainCommand.configurationUsage)
        """

    /// Options of launch itself; all others are the coordinator's.
    private static let ownOptions: Set<String> = [
        "--workers", "--threads-per-worker", "--loader-threads", "--ring-timeout",
    ]

    static func run(_ argv: [String]) throws {
        var forwarded: [String] = []
        var own: [String: String] = [:]
        var index = 0
        while index < argv.count {
            let argument = argv[index]
            if ownOptions.contains(argument) {
                guard index + 1 < argv.count else { throw UsageError("\(argument) needs a value") }
                own[argument] = argv[index + 1]
                index += 2
                continue
            }
            forwarded.append(argument)
            index += 1
        }
        guard let workers = Int(own["--workers"] ?? "2"), workers >= 1 else {
            throw UsageError("--workers must be a positive integer")
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard let threads = Int(own["--threads-per-worker"] ?? "\(max(1, cores / workers))"), threads >= 1 else {
            throw UsageError("--threads-per-worker must be a positive integer")
        }
        let loaderThreads = own["--loader-threads"] ?? "1"
        func value(_ flag: String) -> String? {
            forwarded.firstIndex(of: flag).flatMap { $0 + 1 < forwarded.count ? forwarded[$0 + 1] : nil }
        }
        let resumeDirectory = value("--resume").flatMap { $0.hasPrefix("--") ? nil : $0 }
        guard let runDirectory = value("--run-dir") ?? resumeDirectory,
            let data = value("--data") ?? CoordinatorSettings.read(from: URL(fileURLWithPath: runDirectory))?.data
        else {
            throw UsageError("--data and --run-dir are required (or --resume DIR of an earlier run)")
        }

        // The coordinator binds a free loopback port and writes it down; workers read it there.
        let endpointFile = URL(fileURLWithPath: runDirectory).appendingPathComponent("coordinator.endpoint")
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: endpointFile)
        let group = ProcessGroup()
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        for source in [interrupt, terminate] {
            source.setEventHandler { group.stopAll(reason: "interrupted") }
            source.resume()
        }

        let coordinator = try group.start(
            "coordinator", ["coordinator", "--bind", "tcp://127.0.0.1:*", "--workers", "\(workers)"] + forwarded)
        let deadline = Date().addingTimeInterval(120)
        var endpoint: String?
        while endpoint == nil {
            if let text = try? String(contentsOf: endpointFile, encoding: .utf8), !text.isEmpty {
                endpoint = text.trimmingCharacters(in: .whitespacesAndNewlines)
            } else if !coordinator.isRunning || Date() > deadline {
                group.stopAll(reason: "the coordinator did not start")
                group.waitAll()
                throw LaunchError("the coordinator exited before listening (see its log above)")
            } else {
                usleep(50_000)
            }
        }
        for rank in 0..<workers {
            _ = try group.start(
                "worker \(rank)",
                [
                    "worker", "--coordinator", endpoint!, "--data", data, "--name", "worker-\(rank)",
                    "--threads", "\(threads)", "--loader-threads", loaderThreads,
                ] + (own["--ring-timeout"].map { ["--ring-timeout", $0] } ?? []))
        }

        // The run is over when the coordinator is. A worker that fails before the first step is
        // committed takes the run down (a bad option or file, most likely); one that fails later
        // is the coordinator's to drop, and the others go on.
        let ledger = URL(fileURLWithPath: runDirectory).appendingPathComponent("ledger.jsonl")
        let committedAtStart = Self.lineCount(of: ledger)
        let status = group.waitForCoordinator(coordinator) { Self.lineCount(of: ledger) > committedAtStart }
        group.waitAll(timeout: 30)
        guard status == 0 else { throw LaunchError("the coordinator exited with status \(status)") }
    }
}

extension LaunchCommand {
    static func lineCount(of file: URL) -> Int {
        guard let data = try? Data(contentsOf: file) else { return 0 }
        return data.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
    }
}

struct LaunchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The child processes of a launch, with their output relayed line by line under a prefix.
final class ProcessGroup: @unchecked Sendable {
    private var processes: [(name: String, process: Process)] = []
    private let lock = NSLock()
    private var stopping = false

    /// Starts this executable with `arguments`, prefixing its output lines with `[name]`.
    func start(_ name: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let relay = LineRelay(prefix: "[\(name)] ")
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                relay.flush()
            } else {
                relay.append(data)
            }
        }
        try process.run()
        lock.withLock { processes.append((name, process)) }
        return process
    }

    /// Sends SIGINT to every child still running, then SIGKILL to those left after five seconds.
    func stopAll(reason: String) {
        let running = lock.withLock { () -> [Process] in
            if stopping { return [] }
            stopping = true
            return processes.map(\.process).filter(\.isRunning)
        }
        guard !running.isEmpty else { return }
        FileHandle.standardError.write(Data("[launch] stopping \(running.count) processes: \(reason)\n".utf8))
        for process in running { kill(process.processIdentifier, SIGINT) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 5) {
            for process in running where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    /// Waits for the coordinator and returns its status. A worker that fails while `trainingStarted`
    /// is false stops everything; one that fails later is only reported, once.
    func waitForCoordinator(_ coordinator: Process, trainingStarted: () -> Bool) -> Int32 {
        var reported: [ObjectIdentifier] = []
        while coordinator.isRunning {
            let failed = lock.withLock {
                processes.first {
                    $0.process !== coordinator && !$0.process.isRunning && $0.process.terminationStatus != 0
                        && !reported.contains(ObjectIdentifier($0.process))
                }
            }
            if let failed {
                let what = "\(failed.name) exited with status \(failed.process.terminationStatus)"
                guard trainingStarted() else {
                    stopAll(reason: what)
                    coordinator.waitUntilExit()
                    return failed.process.terminationStatus
                }
                reported.append(ObjectIdentifier(failed.process))
                FileHandle.standardError.write(Data("[launch] \(what); the coordinator goes on without it\n".utf8))
            }
            usleep(100_000)
        }
        return coordinator.terminationStatus
    }

    /// Waits for every child, killing those still running after `timeout` seconds.
    func waitAll(timeout: TimeInterval = 10) {
        let deadline = Date().addingTimeInterval(timeout)
        let all = lock.withLock { processes.map(\.process) }
        for process in all {
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }
}

/// Cuts a child's output into lines and writes each to our stderr under a prefix.
final class LineRelay: @unchecked Sendable {
    private let prefix: String
    private var pending = Data()
    private let lock = NSLock()

    init(prefix: String) { self.prefix = prefix }

    func append(_ data: Data) {
        lock.withLock {
            pending.append(data)
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[pending.startIndex...newline]
                FileHandle.standardError.write(Data(prefix.utf8) + line)
                pending.removeSubrange(pending.startIndex...newline)
            }
        }
    }

    func flush() {
        lock.withLock {
            if !pending.isEmpty { FileHandle.standardError.write(Data(prefix.utf8) + pending + Data([0x0A])) }
            pending.removeAll()
        }
    }
}
