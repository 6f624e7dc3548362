// The typed error of the ring collectives: what went wrong, on which rank, with which peer, in
// which operation, generation, step and sequence number. Deciding what to do about it (abort the
// step, form a new generation) is the coordinator's.

/// The collective operations, as named in frames and errors.
public enum CollectiveOperation: UInt8, Sendable, CustomStringConvertible {
    case setup = 1
    case allReduce = 2
    case allGather = 3
    case broadcast = 4
    case barrier = 5

    public var description: String {
        switch self {
        case .setup: "setup"
        case .allReduce: "all-reduce"
        case .allGather: "all-gather"
        case .broadcast: "broadcast"
        case .barrier: "barrier"
        }
    }
}

/// A collective that failed. After any of these the communicator is broken: every later call
/// throws `.broken` and the ring must be formed again (a new generation).
public struct CollectiveError: Error, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Nothing arrived from (or could be sent to) `peer` within the deadline.
        case timeout
        /// Another rank gave up on the operation and said so; `peer` is the rank it blamed.
        case abortedByPeer(reporter: Int)
        /// The connection handshake came from the wrong rank or generation.
        case handshakeMismatch
        /// A frame that does not belong to this operation: wrong generation, sequence, step,
        /// index, sender or size, or not a frame of ours at all.
        case unexpectedFrame
        /// libzmq failed.
        case transport(ZeroMQError)
        /// An earlier error broke this communicator.
        case broken
    }

    public var kind: Kind
    /// The rank that reported the error.
    public var rank: Int
    /// The rank held responsible: the silent neighbour, the sender of a bad frame, the rank another
    /// rank blamed. A timeout names the neighbour this rank was waiting on; if that neighbour was
    /// itself stalled by a dead rank further up the ring, the abort notice usually arrives first and
    /// names the dead one.
    public var peer: Int?
    public var operation: CollectiveOperation
    public var generation: UInt64
    /// The caller's step tag (`RingCommunicator.step`) when the operation ran.
    public var step: UInt64
    /// The operation's sequence number within the generation (1 is the setup barrier).
    public var sequence: UInt64
    /// What exactly was seen.
    public var detail: String

    public var description: String {
        let kindText: String
        switch kind {
        case .timeout: kindText = "timed out"
        case .abortedByPeer(let reporter): kindText = "aborted by rank \(reporter)"
        case .handshakeMismatch: kindText = "handshake mismatch"
        case .unexpectedFrame: kindText = "unexpected frame"
        case .transport(let error): kindText = "transport error (\(error))"
        case .broken: kindText = "communicator broken by an earlier error"
        }
        let peerText = peer.map { " peer=\($0)" } ?? ""
        return "\(operation) \(kindText): rank=\(rank)\(peerText) generation=\(generation) step=\(step) "
            + "sequence=\(sequence): \(detail)"
    }
}
