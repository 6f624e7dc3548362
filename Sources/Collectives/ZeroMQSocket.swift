// A libzmq socket: creation with a deliberate linger, bind/connect, the options a control plane
// or a ring needs, and sending/receiving raw frames, singly or as multipart messages. Polling
// several sockets is ZeroMQPoller's; what the bytes mean is the caller's.

import CZeroMQ

/// A libzmq socket. Like every libzmq socket it belongs to one thread at a time (the type is not
/// `Sendable`); the context may be shared.
public final class ZeroMQSocket {
    /// The socket patterns this project uses.
    public enum Kind: Sendable {
        case pair, push, pull, dealer, router, request, reply, publish, subscribe

        var rawValue: Int32 {
            switch self {
            case .pair: ZMQ_PAIR
            case .push: ZMQ_PUSH
            case .pull: ZMQ_PULL
            case .dealer: ZMQ_DEALER
            case .router: ZMQ_ROUTER
            case .request: ZMQ_REQ
            case .reply: ZMQ_REP
            case .publish: ZMQ_PUB
            case .subscribe: ZMQ_SUB
            }
        }
    }

    let handle: UnsafeMutableRawPointer
    /// Held so that the context terminates only after this socket closed.
    public let context: ZeroMQContext
    public let kind: Kind
    /// The endpoint last bound or connected, named in errors.
    public private(set) var endpoint: String?
    private var isClosed = false

    /// - Parameter linger: how long `close` may keep unsent messages for their peers (ZMQ_LINGER).
    ///   There is no default on purpose: libzmq's own (forever) makes a process hang at exit when a
    ///   peer is gone. A ring's sending end lingers up to its operation timeout so that its last
    ///   chunks arrive; its receiving end uses zero.
    public init(_ kind: Kind, context: ZeroMQContext, linger: Duration) throws {
        guard let handle = zmq_socket(context.handle, kind.rawValue) else { throw ZeroMQError.last("zmq_socket") }
        self.handle = handle
        self.context = context
        self.kind = kind
        do {
            try setOption(ZMQ_LINGER, Int32(clamping: linger.wholeMilliseconds), name: "ZMQ_LINGER")
        } catch {
            zmq_close(handle)
            isClosed = true
            throw error
        }
    }

    /// Closes the socket; unsent messages are kept for at most the linger. Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        zmq_close(handle)
    }

    deinit { close() }

    // MARK: Endpoints

    /// Binds to `endpoint`, e.g. "tcp://127.0.0.1:*" (any free port: read `lastEndpoint()`),
    /// "ipc:///tmp/x.sock" or "inproc://name".
    public func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZeroMQError.last("bind", endpoint: endpoint) }
        self.endpoint = endpoint
    }

    /// Connects to `endpoint`; libzmq completes (and redoes) the connection in the background.
    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZeroMQError.last("connect", endpoint: endpoint) }
        self.endpoint = endpoint
    }

    public func disconnect(_ endpoint: String) throws {
        guard zmq_disconnect(handle, endpoint) == 0 else {
            throw ZeroMQError.last("disconnect", endpoint: endpoint)
        }
    }

    public func unbind(_ endpoint: String) throws {
        guard zmq_unbind(handle, endpoint) == 0 else { throw ZeroMQError.last("unbind", endpoint: endpoint) }
    }

    /// The endpoint actually bound last (ZMQ_LAST_ENDPOINT), with the port libzmq chose for `*`.
    public func lastEndpoint() throws -> String {
        var text = [CChar](repeating: 0, count: 1024)
        var size = text.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &text, &size) == 0 else {
            throw ZeroMQError.last("getsockopt ZMQ_LAST_ENDPOINT", endpoint: endpoint)
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Options

    /// Sets an integer option; `name` is for the error message.
    public func setOption(_ option: Int32, _ value: Int32, name: String) throws {
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) == 0 else {
            throw ZeroMQError.last("setsockopt \(name)=\(value)", endpoint: endpoint)
        }
    }

    /// Sets a 64-bit integer option (ZMQ_MAXMSGSIZE is the one this project uses).
    public func setOption(_ option: Int32, int64 value: Int64, name: String) throws {
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size) == 0 else {
            throw ZeroMQError.last("setsockopt \(name)=\(value)", endpoint: endpoint)
        }
    }

    /// Sets a binary option (identities, subscriptions, CURVE keys).
    public func setOption(_ option: Int32, bytes: [UInt8], name: String) throws {
        let status = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard status == 0 else { throw ZeroMQError.last("setsockopt \(name)", endpoint: endpoint) }
    }

    /// Reads an integer option.
    public func option(_ option: Int32, name: String) throws -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(handle, option, &value, &size) == 0 else {
            throw ZeroMQError.last("getsockopt \(name)", endpoint: endpoint)
        }
        return value
    }

    public func setLinger(_ linger: Duration) throws {
        try setOption(ZMQ_LINGER, Int32(clamping: linger.wholeMilliseconds), name: "ZMQ_LINGER")
    }

    /// At most `messages` whole messages queued for sending per peer (libzmq counts messages, not
    /// bytes: bound the message size too). 0 means no limit.
    public func setSendHighWaterMark(_ messages: Int) throws {
        try setOption(ZMQ_SNDHWM, Int32(clamping: messages), name: "ZMQ_SNDHWM")
    }

    /// At most `messages` whole messages queued on receipt per peer. 0 means no limit.
    public func setReceiveHighWaterMark(_ messages: Int) throws {
        try setOption(ZMQ_RCVHWM, Int32(clamping: messages), name: "ZMQ_RCVHWM")
    }

    /// The kernel's send buffer (SO_SNDBUF) for the socket's connections.
    public func setSendBufferSize(_ bytes: Int) throws {
        try setOption(ZMQ_SNDBUF, Int32(clamping: bytes), name: "ZMQ_SNDBUF")
    }

    /// The kernel's receive buffer (SO_RCVBUF) for the socket's connections.
    public func setReceiveBufferSize(_ bytes: Int) throws {
        try setOption(ZMQ_RCVBUF, Int32(clamping: bytes), name: "ZMQ_RCVBUF")
    }

    /// Peers sending larger messages are disconnected (ZMQ_MAXMSGSIZE): a bound on what a malformed
    /// or hostile peer can make this process allocate.
    public func setMaximumMessageSize(_ bytes: Int) throws {
        try setOption(ZMQ_MAXMSGSIZE, int64: Int64(bytes), name: "ZMQ_MAXMSGSIZE")
    }

    /// For ROUTER: a send to an unknown or gone identity fails with EHOSTUNREACH instead of being
    /// dropped silently.
    public func setRouterMandatory(_ enabled: Bool) throws {
        try setOption(ZMQ_ROUTER_MANDATORY, enabled ? 1 : 0, name: "ZMQ_ROUTER_MANDATORY")
    }

    /// The identity a ROUTER peer sees for this socket (ZMQ_ROUTING_ID); set before connecting.
    public func setRoutingID(_ identity: [UInt8]) throws {
        try setOption(ZMQ_ROUTING_ID, bytes: identity, name: "ZMQ_ROUTING_ID")
    }

    /// Queue messages only to completed connections (ZMQ_IMMEDIATE).
    public func setImmediate(_ enabled: Bool) throws {
        try setOption(ZMQ_IMMEDIATE, enabled ? 1 : 0, name: "ZMQ_IMMEDIATE")
    }

    /// How soon libzmq retries a failed or lost connection (ZMQ_RECONNECT_IVL).
    public func setReconnectInterval(_ interval: Duration) throws {
        try setOption(ZMQ_RECONNECT_IVL, Int32(clamping: interval.wholeMilliseconds), name: "ZMQ_RECONNECT_IVL")
    }

    /// TCP keepalive probes on the socket's TCP connections.
    public func setTCPKeepalive(idle: Duration, interval: Duration, probes: Int) throws {
        try setOption(ZMQ_TCP_KEEPALIVE, 1, name: "ZMQ_TCP_KEEPALIVE")
        let idleSeconds = Int32(clamping: max(1, idle.components.seconds))
        try setOption(ZMQ_TCP_KEEPALIVE_IDLE, idleSeconds, name: "ZMQ_TCP_KEEPALIVE_IDLE")
        let intervalSeconds = Int32(clamping: max(1, interval.components.seconds))
        try setOption(ZMQ_TCP_KEEPALIVE_INTVL, intervalSeconds, name: "ZMQ_TCP_KEEPALIVE_INTVL")
        try setOption(ZMQ_TCP_KEEPALIVE_CNT, Int32(clamping: probes), name: "ZMQ_TCP_KEEPALIVE_CNT")
    }

    /// ZMTP heartbeats (libzmq 4.2+): a PING every `interval`; the connection is dropped when no
    /// traffic arrives within `timeout`; `ttl` asks the peer to drop it after that much silence.
    public func setHeartbeat(interval: Duration, timeout: Duration, ttl: Duration) throws {
        try setOption(ZMQ_HEARTBEAT_IVL, Int32(clamping: interval.wholeMilliseconds), name: "ZMQ_HEARTBEAT_IVL")
        try setOption(
            ZMQ_HEARTBEAT_TIMEOUT, Int32(clamping: timeout.wholeMilliseconds), name: "ZMQ_HEARTBEAT_TIMEOUT")
        try setOption(ZMQ_HEARTBEAT_TTL, Int32(clamping: ttl.wholeMilliseconds), name: "ZMQ_HEARTBEAT_TTL")
    }

    /// For SUB: receive messages starting with `prefix` (empty: all).
    public func subscribe(_ prefix: [UInt8]) throws {
        try setOption(ZMQ_SUBSCRIBE, bytes: prefix, name: "ZMQ_SUBSCRIBE")
    }

    // MARK: Sending

    private func flags(more: Bool, wait: Bool) -> Int32 {
        (more ? ZMQ_SNDMORE : 0) | (wait ? 0 : ZMQ_DONTWAIT)
    }

    /// Sends a copy of `bytes` as one frame; `more`: further frames of this message follow.
    /// - Returns: false when `wait` is false and the message cannot be queued now (high-water mark).
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false, wait: Bool = true) throws -> Bool {
        while true {
            if zmq_send(handle, bytes.baseAddress, bytes.count, flags(more: more, wait: wait)) >= 0 { return true }
            let code = zmq_errno()
            if code == EAGAIN && !wait { return false }
            if code != EINTR { throw ZeroMQError(code: code, operation: "send", endpoint: endpoint) }
        }
    }

    @discardableResult
    public func send(_ bytes: [UInt8], more: Bool = false, wait: Bool = true) throws -> Bool {
        try bytes.withUnsafeBytes { try send($0, more: more, wait: wait) }
    }

    /// Sends `message`'s content (without copying it); on success the message is left empty.
    @discardableResult
    public func send(_ message: ZeroMQMessage, more: Bool = false, wait: Bool = true) throws -> Bool {
        while true {
            if zmq_msg_send(message.pointer, handle, flags(more: more, wait: wait)) >= 0 { return true }
            let code = zmq_errno()
            if code == EAGAIN && !wait { return false }
            if code != EINTR { throw ZeroMQError(code: code, operation: "send", endpoint: endpoint) }
        }
    }

    /// Sends `frames` as one multipart message (libzmq delivers all of it or nothing).
    /// - Returns: false when `wait` is false and the message cannot be queued now.
    @discardableResult
    public func send(frames: [[UInt8]], wait: Bool = true) throws -> Bool {
        precondition(!frames.isEmpty, "ZeroMQSocket.send(frames:): a message has at least one frame")
        // Once the first frame is queued the others are too: only the first may report EAGAIN.
        guard try send(frames[0], more: frames.count > 1, wait: wait) else { return false }
        for (index, frame) in frames.enumerated().dropFirst() {
            try send(frame, more: index < frames.count - 1, wait: true)
        }
        return true
    }

    // MARK: Receiving

    /// Receives one frame into `message`, replacing its content.
    /// - Returns: false when `wait` is false and nothing is waiting.
    @discardableResult
    public func receive(into message: ZeroMQMessage, wait: Bool = true) throws -> Bool {
        while true {
            if zmq_msg_recv(message.pointer, handle, wait ? 0 : ZMQ_DONTWAIT) >= 0 { return true }
            let code = zmq_errno()
            if code == EAGAIN && !wait { return false }
            if code != EINTR { throw ZeroMQError(code: code, operation: "receive", endpoint: endpoint) }
        }
    }

    /// Receives a whole multipart message as copies of its frames (for control messages; bulk data
    /// should use `receive(into:)` to avoid the copy).
    /// - Returns: nil when `wait` is false and nothing is waiting.
    public func receiveFrames(wait: Bool = true) throws -> [[UInt8]]? {
        let message = ZeroMQMessage()
        guard try receive(into: message, wait: wait) else { return nil }
        var frames = [message.bytes]
        while message.hasMore {
            try receive(into: message, wait: true)
            frames.append(message.bytes)
        }
        return frames
    }
}
