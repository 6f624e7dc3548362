// A libzmq context: the owner of the I/O threads that every socket of a process shares.
// Sockets keep their context alive, so it terminates only after the last socket has closed;
// lingering of unsent messages is decided per socket (ZeroMQSocket sets ZMQ_LINGER explicitly).

import CZeroMQ

/// A libzmq context. Thread-safe (libzmq contexts are), so it may be shared by sockets of many
/// threads; `@unchecked Sendable` rests on that and on `handle` never changing after `init`.
public final class ZeroMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// - Parameter ioThreads: libzmq I/O threads; one carries about a gigabyte per second, more help
    ///   only with several busy connections.
    public init(ioThreads: Int = 1) throws {
        precondition(ioThreads >= 1, "ZeroMQContext: ioThreads must be at least 1")
        guard let handle = zmq_ctx_new() else { throw ZeroMQError.last("zmq_ctx_new") }
        self.handle = handle
        guard zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(ioThreads)) == 0 else {
            let error = ZeroMQError.last("zmq_ctx_set ZMQ_IO_THREADS")
            zmq_ctx_term(handle)
            throw error
        }
    }

    /// Blocks until every socket of the context is closed; since each `ZeroMQSocket` holds its
    /// context, this runs only after they all were, and their linger decides how long it takes.
    deinit {
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}
