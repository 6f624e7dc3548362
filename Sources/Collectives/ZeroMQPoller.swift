// Waiting on several sockets at once with a timeout (`zmq_poll`). The poller only reports
// readiness; receiving, sending and deciding what a timeout means are the caller's.

import CZeroMQ

/// Readiness a poller asks for or reports.
public struct ZeroMQEvents: OptionSet, Sendable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// At least one message can be received without blocking.
    public static let readable = ZeroMQEvents(rawValue: Int16(ZMQ_POLLIN))
    /// At least one message can be sent without blocking.
    public static let writable = ZeroMQEvents(rawValue: Int16(ZMQ_POLLOUT))
}

/// A fixed set of sockets polled together. Like its sockets, it belongs to one thread.
public final class ZeroMQPoller {
    private var items: [zmq_pollitem_t] = []
    private var sockets: [ZeroMQSocket] = []

    public init() {}

    /// Adds `socket`, asking for `events`; returns its index for `setEvents` and `ready(at:)`.
    @discardableResult
    public func add(_ socket: ZeroMQSocket, events: ZeroMQEvents) -> Int {
        sockets.append(socket)
        items.append(zmq_pollitem_t(socket: socket.handle, fd: 0, events: events.rawValue, revents: 0))
        return items.count - 1
    }

    /// Changes what the poll asks of the socket at `index` (empty: ignore it).
    public func setEvents(_ events: ZeroMQEvents, at index: Int) {
        items[index].events = events.rawValue
    }

    /// Waits until a socket is ready or `timeout` passes (`nil`: no limit).
    /// - Returns: how many sockets are ready; 0 after a timeout or a signal.
    @discardableResult
    public func poll(timeout: Duration?) throws -> Int {
        let milliseconds = timeout.map { Int(clamping: $0.wholeMilliseconds) } ?? -1
        let ready = items.withUnsafeMutableBufferPointer {
            zmq_poll($0.baseAddress, Int32($0.count), milliseconds)
        }
        if ready < 0 {
            if zmq_errno() == EINTR { return 0 }
            throw ZeroMQError.last("zmq_poll")
        }
        return Int(ready)
    }

    /// What the last poll found for the socket at `index`.
    public func ready(at index: Int) -> ZeroMQEvents {
        ZeroMQEvents(rawValue: items[index].revents)
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so that a short positive wait never becomes zero.
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return max(0, milliseconds)
    }
}
