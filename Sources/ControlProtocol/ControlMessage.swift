// The messages of the cluster's control plane, as Swift values: one case per body of the
// protobuf Envelope in proto/simclr.proto. Encoding and decoding are in ControlMessage+Codec.swift;
// sockets, timeouts and what each side does on receipt belong to the coordinator and the workers.

/// One control message: the body of one envelope frame.
///
/// On the wire a message is `[envelope]`, or for ``StateHeader`` `[envelope][raw frame]...` with
/// ``StateHeader/frames`` raw frames holding the state's bytes; a ROUTER socket puts the peer's
/// identity frame in front. ``rawFramesFollowing`` says how many raw frames to read after the envelope.
public enum ControlMessage: Sendable, Equatable {
    /// A worker asks to join.
    case register(Register)
    /// The coordinator admits a worker into a generation.
    case welcome(Welcome)
    /// The coordinator turns a worker away.
    case refuse(Refuse)
    /// A worker is alive.
    case heartbeat(Heartbeat)
    /// The coordinator plans one step.
    case stepPlan(StepPlan)
    /// A worker finished its part of a step.
    case stepDone(StepDone)
    /// The step counts.
    case commit(Commit)
    /// The step is abandoned.
    case abort(Abort)
    /// The coordinator asks a worker for its model state.
    case stateRequest(StateRequest)
    /// Model state follows in raw frames.
    case stateHeader(StateHeader)
    /// A tool asks the coordinator for the run's status.
    case statusRequest(StatusRequest)
    /// The coordinator's answer to a status request.
    case status(Status)
    /// Exit.
    case stop(Stop)

    /// The version a worker puts in ``Register/protocolVersion``; the coordinator refuses any other.
    /// Raise it whenever a field is renumbered or changes meaning.
    public static let protocolVersion: UInt32 = 1

    /// How many raw frames follow this message's envelope in the same multipart message.
    public var rawFramesFollowing: Int {
        if case .stateHeader(let header) = self { Int(header.frames) } else { 0 }
    }
}
