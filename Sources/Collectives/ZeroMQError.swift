// The typed error of the ZeroMQ wrapper: a failed libzmq call with its errno, libzmq's message,
// the operation that failed and the endpoint involved. Errors of the collectives themselves
// (which peer, which step) are `CollectiveError`, which may wrap one of these.

import CZeroMQ

/// A libzmq call that failed.
public struct ZeroMQError: Error, Equatable, CustomStringConvertible {
    /// The errno libzmq reported (`zmq_errno()`), e.g. `EHOSTUNREACH`, `EAGAIN`, `ETERM`.
    public var code: Int32
    /// `zmq_strerror(code)`.
    public var message: String
    /// What was attempted, e.g. "bind", "send", "setsockopt ZMQ_LINGER".
    public var operation: String
    /// The endpoint involved, when there is one.
    public var endpoint: String?

    public init(code: Int32, operation: String, endpoint: String? = nil) {
        self.code = code
        self.message = String(cString: zmq_strerror(code))
        self.operation = operation
        self.endpoint = endpoint
    }

    /// The error of the libzmq call that just failed on this thread.
    static func last(_ operation: String, endpoint: String? = nil) -> ZeroMQError {
        ZeroMQError(code: zmq_errno(), operation: operation, endpoint: endpoint)
    }

    public var description: String {
        let place = endpoint.map { " (\($0))" } ?? ""
        return "zmq \(operation)\(place) failed: \(message) [errno \(code)]"
    }
}
