// `simclr bench-allreduce`: bus bandwidth of the ring all-reduce between worker processes on
// this machine, for a range of buffer sizes. It starts W copies of itself, one per rank, which
// meet through files in a scratch folder, form a ring over tcp:// or ipc:// and time the same
// all-reduce the cluster runs on its gradients. scripts/bench-allreduce.sh runs it next to Gloo.

import Collectives
import Foundation

enum BenchAllReduceCommand: Command {
    static let name = "bench-allreduce"
    static let summary = "time the ring all-reduce between processes on this machine"
    static let usage = """
        Usage: simclr bench-allreduce [--workers W] [--sizes-mb 1,4,16,64] [--iterations N]
                                      [--transport tcp|ipc] [--json]

        Starts W rank processes (default 2) and times all-reduce of float buffers of each size
        (default 1, 4, 16 and 64 MB; 5 timed iterations after 2 warm-ups). Prints the median time
        and the bus bandwidth 2(W-1)/W x bytes / time, the figure NCCL and Gloo benchmarks report.
        """

    static func run(_ argv: [String]) throws {
        let arguments = try Arguments(argv, booleanFlags: ["json"])
        let workers = try arguments.int("workers") ?? 2
        let sizes = try arguments.string("sizes-mb", default: "1,4,16,64").split(separator: ",").map {
            try Int($0).orThrow(UsageError("--sizes-mb takes integers, e.g. 1,4,16,64"))
        }
        let iterations = try arguments.int("iterations") ?? 5
        let transport = arguments.string("transport", default: "tcp")
        let json = arguments.flag("json")
        let rank = try arguments.int("rank")
        let rendezvous = arguments.string("rendezvous")
        try arguments.finish()
        guard workers >= 2, iterations >= 1, sizes.allSatisfy({ $0 > 0 }), ["tcp", "ipc"].contains(transport) else {
            throw UsageError("--workers at least 2, positive sizes and iterations, transport tcp or ipc")
        }

        if let rank, let rendezvous {
            try runRank(
                rank, workers: workers, rendezvous: rendezvous, sizes: sizes, iterations: iterations,
                transport: transport, json: json)
            return
        }

        // The parent: a scratch folder to meet in, and one child per rank.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("simclr-allreduce-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var children: [Process] = []
        for rank in 0..<workers {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            process.arguments =
                [
                    "bench-allreduce", "--rank", "\(rank)", "--workers", "\(workers)", "--rendezvous", folder.path,
                    "--sizes-mb", sizes.map(String.init).joined(separator: ","), "--iterations", "\(iterations)",
                    "--transport", transport,
                ] + (json ? ["--json"] : [])
            if rank > 0 { process.standardOutput = FileHandle.nullDevice }
            try process.run()
            children.append(process)
        }
        for child in children { child.waitUntilExit() }
        if let failed = children.first(where: { $0.terminationStatus != 0 }) {
            throw LaunchError("a rank exited with status \(failed.terminationStatus)")
        }
    }

    private static func runRank(
        _ rank: Int, workers: Int, rendezvous: String, sizes: [Int], iterations: Int, transport: String, json: Bool
    ) throws {
        let context = try ZeroMQContext()
        let pattern = transport == "ipc" ? "ipc://\(rendezvous)/ring-\(rank).sock" : "tcp://127.0.0.1:*"
        let binding = try RingBinding(context: context, endpoint: pattern)
        try Data(binding.endpoint.utf8).write(to: URL(fileURLWithPath: "\(rendezvous)/rank-\(rank)"), options: .atomic)
        var endpoints: [String] = []
        for other in 0..<workers {
            let file = "\(rendezvous)/rank-\(other)"
            var text: String?
            for _ in 0..<1200 where text == nil {
                text = try? String(contentsOfFile: file, encoding: .utf8)
                if text == nil { usleep(25_000) }
            }
            endpoints.append(try text.orThrow(LaunchError("rank \(other) never announced its endpoint")))
        }
        let ring = try RingCommunicator(
            binding: binding, context: context, rank: rank, endpoints: endpoints, generation: 1)
        defer { ring.close() }

        var rows: [[String: Any]] = []
        if rank == 0 && !json {
            print("ranks \(workers), transport \(transport), \(iterations) timed iterations each")
            print("      MB    median ms       bus GB/s")
        }
        for megabytes in sizes {
            let count = megabytes * (1 << 20) / 4
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { buffer.deallocate() }
            buffer.initialize(repeating: 1, count: count)
            var times: [Double] = []
            for iteration in 0..<(iterations + 2) {
                try ring.barrier()
                let start = DispatchTime.now().uptimeNanoseconds
                try ring.allReduce(buffer, count: count)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if iteration >= 2 { times.append(seconds) }
            }
            // The slowest rank decides when an all-reduce is over: take the maximum over ranks.
            var slowest = times
            try ring.allReduceMaximum(&slowest)
            let median = slowest.sorted()[slowest.count / 2]
            let bytes = Double(count * 4)
            let busBandwidth = 2 * Double(workers - 1) / Double(workers) * bytes / median / 1e9
            if rank == 0 {
                if json {
                    rows.append(["megabytes": megabytes, "median_ms": median * 1000, "bus_gb_per_s": busBandwidth])
                } else {
                    print(String(format: "%8d %12.2f %14.3f", megabytes, median * 1000, busBandwidth))
                }
            }
        }
        if rank == 0 && json {
            let object: [String: Any] = ["workers": workers, "transport": transport, "results": rows]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}

extension RingCommunicator {
    /// Element-wise maximum over ranks, through an all-gather (small vectors only).
    fileprivate func allReduceMaximum(_ values: inout [Double]) throws {
        let floats = values.map { Float($0) }
        let (gathered, _) = try allGather(floats)
        for index in values.indices {
            values[index] = stride(from: index, to: gathered.count, by: values.count).map { Double(gathered[$0]) }
                .max()!
        }
    }
}
