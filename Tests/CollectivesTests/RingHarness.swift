// Test support: runs every rank of a ring as its own thread in this process, over inproc://,
// tcp://127.0.0.1 (ports picked by the kernel) or ipc://, and collects each rank's result or
// error. The collectives under test are the real ones; nothing is mocked.

import Collectives
import Foundation

enum Transport: String, CaseIterable, Sendable {
    case inproc, tcp, ipc

    /// What a rank binds; the actual endpoint is read back from the binding.
    func bindPattern(run: String, rank: Int) -> String {
        switch self {
        case .inproc: "inproc://\(run)-\(rank)"
        case .tcp: "tcp://127.0.0.1:*"
        case .ipc: "ipc://\(NSTemporaryDirectory())/\(run)-\(rank).sock"
        }
    }
}

/// Hands a non-Sendable value to exactly one other thread. Safe because the creating thread never
/// touches `value` again after the hand-off (enforced by the callers below, which only read it
/// from the rank's own thread).
final class HandOff<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Runs `body(rank)` on `count` threads at once; returns each rank's outcome, in rank order.
func onThreads<Value: Sendable>(
    _ count: Int, _ body: @escaping @Sendable (Int) throws -> Value
) -> [Result<Value, Error>] {
    let lock = NSLock()
    nonisolated(unsafe) var results = [Result<Value, Error>?](repeating: nil, count: count)
    let done = DispatchGroup()
    for rank in 0..<count {
        done.enter()
        let thread = Thread {
            let outcome = Result { try body(rank) }
            lock.withLock { results[rank] = outcome }
            done.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    done.wait()
    return lock.withLock { results.map { $0! } }
}

/// Forms a ring of `worldSize` threads and runs `body` on each rank's communicator.
func onRing<Value: Sendable>(
    _ worldSize: Int, transport: Transport = .inproc, configuration: RingConfiguration = RingConfiguration(),
    generation: (Int) -> UInt64 = { _ in 1 },
    _ body: @escaping @Sendable (RingCommunicator) throws -> Value
) throws -> [Result<Value, Error>] {
    let context = try ZeroMQContext()
    let run = "ring-\(UUID().uuidString.prefix(8))"
    let bindings = try (0..<worldSize).map { rank in
        worldSize == 1
            ? nil
            : try RingBinding(
                context: context, endpoint: transport.bindPattern(run: run, rank: rank), configuration: configuration)
    }
    let endpoints = bindings.map { $0?.endpoint ?? "inproc://alone" }
    let generations = (0..<worldSize).map(generation)
    let handOffs = bindings.map { HandOff($0) }
    return onThreads(worldSize) { rank in
        let ring = try RingCommunicator(
            binding: handOffs[rank].value, context: context, rank: rank, endpoints: endpoints,
            generation: generations[rank], configuration: configuration)
        defer { ring.close() }
        return try body(ring)
    }
}

/// The values of every rank, or the first error.
func values<Value>(_ results: [Result<Value, Error>]) throws -> [Value] {
    try results.map { try $0.get() }
}

/// Deterministic test data.
struct TestData {
    /// Integer-valued floats in [-500, 500): sums of up to five are exact in Float, in any order.
    static func integers(rank: Int, count: Int) -> [Float] {
        (0..<count).map { Float((($0 &* 7919 &+ rank &* 104_729) % 1000) - 500) }
    }

    /// Uniform floats in [-1, 1), different per rank.
    static func uniform(rank: Int, count: Int) -> [Float] {
        var state = UInt64(rank + 1) &* 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
        }
    }
}
