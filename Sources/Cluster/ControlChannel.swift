// The control plane's socket, either end: the coordinator's ROUTER (which sees a peer identity
// in front of every message) and a worker's DEALER. A message is one envelope frame and, for a
// state transfer, raw frames after it; decoding failures come back as values so that the caller
// can count and drop them instead of stopping.

import Collectives
import ControlProtocol

final class ControlChannel {
    /// What arrived: a message with the raw frames after its envelope, or why it was unreadable.
    enum Received {
        case message(ControlMessage, frames: [[UInt8]])
        case malformed(String)
    }

    let socket: ZeroMQSocket
    private let poller = ZeroMQPoller()
    private let isRouter: Bool

    /// A worker's end, connected to the coordinator. Unsent messages linger two seconds at close
    /// (a final StepDone or state must reach the coordinator; a dead one must not hold us up).
    init(dealerTo endpoint: String, context: ZeroMQContext) throws {
        socket = try ZeroMQSocket(.dealer, context: context, linger: .seconds(2))
        isRouter = false
        try socket.setReconnectInterval(.milliseconds(100))
        try socket.setHeartbeat(interval: .seconds(2), timeout: .seconds(10), ttl: .seconds(20))
        try socket.connect(endpoint)
        _ = poller.add(socket, events: .readable)
    }

    /// The coordinator's end, bound. ROUTER_MANDATORY turns a send to a vanished worker into an
    /// error instead of a silent drop.
    init(routerAt endpoint: String, context: ZeroMQContext) throws {
        socket = try ZeroMQSocket(.router, context: context, linger: .seconds(2))
        isRouter = true
        try socket.setRouterMandatory(true)
        try socket.setHeartbeat(interval: .seconds(2), timeout: .seconds(10), ttl: .seconds(20))
        try socket.bind(endpoint)
        _ = poller.add(socket, events: .readable)
    }

    /// The endpoint actually bound (with the port libzmq chose for "*").
    var boundEndpoint: String { (try? socket.lastEndpoint()) ?? "" }

    /// Sends `message` and `frames` (to `identity` on a ROUTER).
    func send(_ message: ControlMessage, frames: [[UInt8]] = [], to identity: [UInt8]? = nil) throws {
        var parts: [[UInt8]] = []
        if isRouter {
            guard let identity else { preconditionFailure("ControlChannel: a ROUTER send needs an identity") }
            parts.append(identity)
        }
        parts.append(message.encode())
        parts += frames
        _ = try socket.send(frames: parts)
    }

    /// The next message, waiting at most `timeout`; nil when none came. On a ROUTER the sender's
    /// identity comes with it.
    func receive(timeout: Duration) throws -> (identity: [UInt8], received: Received)? {
        if timeout > .zero {
            poller.setEvents(.readable, at: 0)
            guard try poller.poll(timeout: timeout) > 0 else { return nil }
        }
        guard var parts = try socket.receiveFrames(wait: false) else { return nil }
        var identity: [UInt8] = []
        if isRouter {
            identity = parts.removeFirst()
        }
        guard let envelope = parts.first else { return (identity, .malformed("an empty message")) }
        do {
            let message = try envelope.withUnsafeBytes { try ControlMessage.decode($0) }
            return (identity, .message(message, frames: Array(parts.dropFirst())))
        } catch {
            return (identity, .malformed("\(error)"))
        }
    }
}

extension ControlMessage {
    /// The message's kind, for logs.
    var kind: String {
        switch self {
        case .register: "register"
        case .welcome: "welcome"
        case .refuse: "refuse"
        case .heartbeat: "heartbeat"
        case .stepPlan: "step plan"
        case .stepDone: "step done"
        case .commit: "commit"
        case .abort: "abort"
        case .stateRequest: "state request"
        case .stateHeader: "state header"
        case .statusRequest: "status request"
        case .status: "status"
        case .stop: "stop"
        }
    }
}

// The control messages by their short names, within this module.
typealias Register = ControlMessage.Register
typealias Welcome = ControlMessage.Welcome
typealias Refuse = ControlMessage.Refuse
typealias Heartbeat = ControlMessage.Heartbeat
typealias StepPlan = ControlMessage.StepPlan
typealias StepDone = ControlMessage.StepDone
typealias Commit = ControlMessage.Commit
typealias Abort = ControlMessage.Abort
typealias StateRequest = ControlMessage.StateRequest
typealias StateHeader = ControlMessage.StateHeader
typealias Stop = ControlMessage.Stop
