// Test support: every rank of a ring as its own thread of this process, over inproc:// sockets
// of one context, collecting each rank's result or error in rank order.

import Collectives
import Foundation

/// Carries a rank's binding to the rank's own thread; the creating thread never touches it again.
final class Carried<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Runs `body` on a ring of `worldSize` threads and returns every rank's outcome.
func onRing<Value: Sendable>(
    _ worldSize: Int, _ body: @escaping @Sendable (RingCommunicator) throws -> Value
) throws -> [Result<Value, Error>] {
    let context = try ZeroMQContext()
    let name = "cluster-test-\(UUID().uuidString.prefix(8))"
    let bindings = try (0..<worldSize).map { rank in
        worldSize == 1 ? nil : try RingBinding(context: context, endpoint: "inproc://\(name)-\(rank)")
    }
    let endpoints = bindings.enumerated().map { $1?.endpoint ?? "inproc://\(name)-\($0)" }
    let carried = bindings.map { Carried($0) }
    let lock = NSLock()
    nonisolated(unsafe) var results = [Result<Value, Error>?](repeating: nil, count: worldSize)
    let done = DispatchGroup()
    for rank in 0..<worldSize {
        done.enter()
        let thread = Thread {
            let outcome = Result {
                let ring = try RingCommunicator(
                    binding: carried[rank].value, context: context, rank: rank, endpoints: endpoints, generation: 1)
                defer { ring.close() }
                return try body(ring)
            }
            lock.withLock { results[rank] = outcome }
            done.leave()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
    done.wait()
    return lock.withLock { results.map { $0! } }
}

/// Every rank's value, or the first rank's error.
func outcomes<Value>(_ results: [Result<Value, Error>]) throws -> [Value] {
    try results.map { try $0.get() }
}
