// An operator's question to a running coordinator: a DEALER socket of its own sends a status
// request and waits a bounded time for the answer. Read-only; the run is not disturbed.

import Collectives
import ControlProtocol

public enum ClusterStatus {
    /// Asks the coordinator at `endpoint` for its status.
    public static func query(_ endpoint: String, timeout: Duration) throws -> ControlMessage.Status {
        let context = try ZeroMQContext()
        let channel = try ControlChannel(dealerTo: endpoint, context: context)
        defer { try? channel.socket.setLinger(.zero) }
        try channel.send(.statusRequest(ControlMessage.StatusRequest()))
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let (_, received) = try channel.receive(timeout: deadline - .now) else { break }
            if case .message(.status(let status), _) = received { return status }
        }
        throw CoordinatorError("no status from \(endpoint) within \(timeout): is the coordinator running there?")
    }
}
