// A rank's place in a ring of W ranks: it binds one endpoint (its left neighbour connects there)
// and connects to its right neighbour's. Forming the ring (handshake with generation and rank,
// setup barrier) and the frame transport with deadlines live here; the collectives themselves are
// in RingCommunicator+Collectives.swift. Membership, and what to do after an error, are the
// coordinator's.

import CZeroMQ
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The receiving end of a rank, bound before the ring's endpoints are known, so that a rank can
/// bind "tcp://host:*" and then announce the port libzmq picked (`endpoint`).
public final class RingBinding {
    /// The endpoint as bound, with the actual port for a `*` bind. A wildcard address
    /// ("tcp://*:port", reported as 0.0.0.0) must be replaced by a reachable host before sharing.
    public let endpoint: String
    let socket: ZeroMQSocket

    public init(
        context: ZeroMQContext, endpoint: String, configuration: RingConfiguration = RingConfiguration()
    )
        throws
    {
        socket = try ZeroMQSocket(.pull, context: context, linger: .zero)
        try socket.setReceiveHighWaterMark(configuration.inFlightChunks)
        try socket.setMaximumMessageSize(configuration.chunkBytes + 64)
        if let bytes = configuration.socketBufferBytes { try socket.setReceiveBufferSize(bytes) }
        try RingCommunicator.applyLiveness(configuration, to: socket)
        try socket.bind(endpoint)
        let bound = try socket.lastEndpoint()
        self.endpoint = bound.isEmpty ? endpoint : bound
    }
}

/// One rank of a ring. Created and used by one thread (not `Sendable`); every rank of the ring
/// must call the same collectives in the same order with matching sizes.
///
/// After any error the communicator is broken (`isBroken`): later calls throw `.broken`. Form a
/// new ring, with a new generation, to go on.
public final class RingCommunicator {
    public let rank: Int
    public let worldSize: Int
    /// The membership number this ring belongs to; frames of other generations are rejected.
    public let generation: UInt64
    public let configuration: RingConfiguration
    /// All ranks' endpoints, in rank order.
    public let endpoints: [String]
    /// The caller's tag (e.g. the training step), carried in every frame and error; ranks must agree.
    public var step: UInt64 = 0
    /// Number of operations started in this generation (the setup barrier is the first).
    public internal(set) var sequence: UInt64 = 0
    public internal(set) var isBroken = false

    public var leftRank: Int { (rank + worldSize - 1) % worldSize }
    public var rightRank: Int { (rank + 1) % worldSize }

    /// Receives from the left neighbour; nil when alone.
    let inbound: ZeroMQSocket?
    /// Sends to the right neighbour; nil when alone.
    let outbound: ZeroMQSocket?
    let poller = ZeroMQPoller()
    let headerMessage = ZeroMQMessage()
    let payloadMessage = ZeroMQMessage()
    /// Zero-copy chunks libzmq still holds; decremented by libzmq's free callback on its I/O thread.
    let pendingSends = PendingSends()
    /// Reused by the small all-reduce path.
    var scratchStorage: UnsafeMutableRawPointer?
    var scratchCapacity = 0
    /// The operation and deadline in force, for error reports.
    var currentOperation = CollectiveOperation.setup

    /// Binds `endpoints[rank]` and forms the ring.
    public convenience init(
        context: ZeroMQContext, rank: Int, endpoints: [String], generation: UInt64,
        configuration: RingConfiguration = RingConfiguration()
    ) throws {
        precondition(endpoints.indices.contains(rank), "RingCommunicator: rank \(rank) not in 0..<\(endpoints.count)")
        let binding =
            endpoints.count > 1
            ? try RingBinding(context: context, endpoint: endpoints[rank], configuration: configuration) : nil
        try self.init(
            binding: binding, context: context, rank: rank, endpoints: endpoints, generation: generation,
            configuration: configuration)
    }

    /// Forms the ring from an already bound receiving end (nil only when `endpoints.count == 1`).
    /// Connects to the right neighbour, exchanges a hello carrying (generation, rank, chunking) with
    /// both neighbours, and runs a barrier, all within `configuration.setupTimeout`.
    public init(
        binding: RingBinding?, context: ZeroMQContext, rank: Int, endpoints: [String], generation: UInt64,
        configuration: RingConfiguration = RingConfiguration()
    ) throws {
        precondition(!endpoints.isEmpty && endpoints.indices.contains(rank), "RingCommunicator: bad rank \(rank)")
        precondition(configuration.chunkBytes >= 64, "RingCommunicator: chunkBytes below 64")
        precondition(configuration.inFlightChunks >= 1, "RingCommunicator: inFlightChunks below 1")
        self.rank = rank
        self.worldSize = endpoints.count
        self.generation = generation
        self.configuration = configuration
        self.endpoints = endpoints
        guard endpoints.count > 1 else {
            inbound = nil
            outbound = nil
            return
        }
        guard let binding else { preconditionFailure("RingCommunicator: a ring of \(endpoints.count) needs a binding") }

        // Our receiving end was bound by the caller; connect our sending end to the right neighbour.
        inbound = binding.socket
        // A rank's last chunks may still sit in libzmq's queue when it closes the ring: a zero
        // linger would drop them and leave the right neighbour waiting. The linger is bounded by
        // the operation timeout, so a dead neighbour cannot hold up shutdown for longer.
        let outbound = try ZeroMQSocket(.push, context: context, linger: configuration.timeout)
        try outbound.setSendHighWaterMark(configuration.inFlightChunks)
        if let bytes = configuration.socketBufferBytes { try outbound.setSendBufferSize(bytes) }
        try Self.applyLiveness(configuration, to: outbound)
        try outbound.setReconnectInterval(.milliseconds(20))
        try outbound.connect(endpoints[(rank + 1) % endpoints.count])
        self.outbound = outbound
        poller.add(binding.socket, events: .readable)
        poller.add(outbound, events: [])

        // Say who we are to the right; check who the left is; then make sure the whole ring is up.
        do {
            try sendHello()
            try receiveHello()
        } catch {
            isBroken = true
            throw wrap(error, peer: leftRank)
        }
        try barrier(timeout: configuration.setupTimeout)
    }

    deinit {
        close()
        scratchStorage?.deallocate()
    }

    /// Closes both sockets and waits (at most two seconds) until libzmq released every zero-copy
    /// chunk. Unsent chunks still reach a live neighbour for up to the operation timeout (one
    /// second after a failure); the process's context waits that long at exit at most.
    /// Idempotent; the communicator is broken afterwards.
    public func close() {
        // After a failure only the abort notice is worth delivering, and the neighbour may be
        // dead: linger a moment, not the whole operation timeout.
        if isBroken { try? outbound?.setLinger(.seconds(1)) }
        isBroken = true
        inbound?.close()
        outbound?.close()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(2)
        while pendingSends.count.load(ordering: .acquiring) > 0 && clock.now < deadline {
            sleepBriefly()
        }
    }

    static func applyLiveness(_ configuration: RingConfiguration, to socket: ZeroMQSocket) throws {
        try socket.setTCPKeepalive(idle: .seconds(10), interval: .seconds(5), probes: 3)
        if let interval = configuration.heartbeatInterval {
            try socket.setHeartbeat(interval: interval, timeout: interval * 3, ttl: interval * 5)
        }
    }

    // MARK: Handshake

    private var helloPayload: [UInt8] {
        var bytes: [UInt8] = []
        for value in [UInt64(worldSize), UInt64(configuration.chunkBytes), UInt64(configuration.smallMessageBytes)] {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    private func sendHello() throws {
        try sendHeader(
            FrameHeader(
                kind: .hello, operation: .setup, sourceRank: rank, index: 0, generation: generation, sequence: 0,
                step: 0), deadline: ContinuousClock.now + configuration.setupTimeout)
        try outbound!.send(helloPayload)
    }

    private func receiveHello() throws {
        let deadline = ContinuousClock.now + configuration.setupTimeout
        while true {
            guard try waitReadable(until: deadline) else {
                throw failure(
                    .timeout, peer: leftRank,
                    "no hello from rank \(leftRank) (\(endpoints[leftRank])) within \(configuration.setupTimeout)")
            }
            guard let header = try receiveFrame() else { continue }
            guard header.kind == .hello else {
                throw failure(.unexpectedFrame, peer: Int(header.sourceRank), "expected a hello, got \(header.kind)")
            }
            guard header.generation == generation, header.sourceRank == leftRank else {
                throw failure(
                    .handshakeMismatch, peer: Int(header.sourceRank),
                    "hello from rank \(header.sourceRank) of generation \(header.generation); expected rank "
                        + "\(leftRank) of generation \(generation)")
            }
            let theirs = payloadMessage.bytes
            guard theirs == helloPayload else {
                throw failure(
                    .handshakeMismatch, peer: leftRank,
                    "rank \(leftRank) uses another world size or chunking (hello \(theirs), ours \(helloPayload))")
            }
            payloadMessage.clear()
            return
        }
    }

    // MARK: Frame transport

    /// Queues a header frame (with more to follow) before `deadline`.
    func sendHeader(_ header: FrameHeader, deadline: ContinuousClock.Instant) throws {
        while !(try trySendHeader(header)) {
            let remaining = deadline - .now
            guard remaining > .zero else {
                throw failure(.timeout, peer: rightRank, "rank \(rightRank) accepts no data")
            }
            poller.setEvents([], at: 0)
            poller.setEvents(.writable, at: 1)
            try poller.poll(timeout: remaining)
        }
    }

    /// Queues a header frame if the high-water mark allows; false if it does not.
    func trySendHeader(_ header: FrameHeader) throws -> Bool {
        try withUnsafeTemporaryAllocation(byteCount: FrameHeader.byteCount, alignment: 8) { bytes in
            header.write(to: bytes)
            return try outbound!.send(UnsafeRawBufferPointer(bytes), more: true, wait: false)
        }
    }

    /// Waits until the inbound socket has a message or `deadline` passes; false on timeout.
    func waitReadable(until deadline: ContinuousClock.Instant) throws -> Bool {
        while true {
            let remaining = deadline - .now
            guard remaining > .zero else { return false }
            poller.setEvents(.readable, at: 0)
            poller.setEvents([], at: 1)
            if try poller.poll(timeout: remaining) > 0 { return true }
        }
    }

    /// Receives one header + payload message without waiting; the payload is left in
    /// `payloadMessage`. Nil when nothing is waiting.
    func receiveFrame() throws -> FrameHeader? {
        guard try inbound!.receive(into: headerMessage, wait: false) else { return nil }
        let header = headerMessage.withUnsafeBytes { FrameHeader($0) }
        guard headerMessage.hasMore else {
            throw failure(.unexpectedFrame, peer: nil, "a single-frame message of \(headerMessage.count) bytes")
        }
        try inbound!.receive(into: payloadMessage, wait: true)
        var extra = 0
        while payloadMessage.hasMore {
            try inbound!.receive(into: payloadMessage, wait: true)
            extra += 1
        }
        guard let header, extra == 0 else {
            throw failure(
                .unexpectedFrame, peer: nil,
                header == nil ? "a message without our frame header" : "a message with \(extra) extra frames")
        }
        return header
    }

    // MARK: Errors

    func failure(_ kind: CollectiveError.Kind, peer: Int?, _ detail: String) -> CollectiveError {
        CollectiveError(
            kind: kind, rank: rank, peer: peer, operation: currentOperation, generation: generation, step: step,
            sequence: sequence, detail: detail)
    }

    /// Any error as a `CollectiveError` of the current operation.
    func wrap(_ error: Error, peer: Int?) -> CollectiveError {
        switch error {
        case let error as CollectiveError: error
        case let error as ZeroMQError: failure(.transport(error), peer: peer, error.description)
        default: failure(.unexpectedFrame, peer: peer, "\(error)")
        }
    }
}

/// Count of zero-copy chunks not yet released by libzmq. Shared with libzmq's I/O thread through
/// the free callback; an atomic counter is its whole state.
final class PendingSends: Sendable {
    let count = Atomic<Int>(0)
}

/// Yields the core for a moment while waiting for libzmq's I/O thread.
func sleepBriefly() {
    var time = timespec(tv_sec: 0, tv_nsec: 20_000)
    nanosleep(&time, nil)
}
