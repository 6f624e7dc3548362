// One libzmq message frame (`zmq_msg_t`) owned by a Swift object, so its address stays fixed
// while libzmq uses it. Copying and zero-copy construction live here; sending and receiving are
// ZeroMQSocket's, and deciding when a zero-copy buffer may be reused is the caller's.

import CZeroMQ

/// A message frame. Reusable: receiving into it or sending it replaces or empties its content.
public final class ZeroMQMessage {
    let pointer: UnsafeMutablePointer<zmq_msg_t>

    /// An empty frame, e.g. to receive into.
    public init() {
        pointer = .allocate(capacity: 1)
        zmq_msg_init(pointer)
    }

    /// A frame holding a copy of `bytes`.
    public init(copying bytes: UnsafeRawBufferPointer) throws {
        pointer = .allocate(capacity: 1)
        guard zmq_msg_init_size(pointer, bytes.count) == 0 else {
            let error = ZeroMQError.last("zmq_msg_init_size")
            pointer.deallocate()
            throw error
        }
        if let source = bytes.baseAddress, bytes.count > 0 {
            zmq_msg_data(pointer).copyMemory(from: source, byteCount: bytes.count)
        }
    }

    public convenience init(copying bytes: [UInt8]) throws {
        try self.init(copying: bytes.withUnsafeBytes { $0 })
    }

    /// A frame that refers to `bytes` without copying them (`zmq_msg_init_data`).
    ///
    /// This is the one place where a pointer outlives the call that received it, because libzmq
    /// requires it: `bytes` must stay allocated and unmodified until `onRelease` runs. libzmq calls
    /// it once, when it no longer needs the bytes (after they were written to the kernel, or when
    /// an inproc peer closed the frame, or when the message was dropped at close), and may do so
    /// on its own I/O thread.
    public init(unsafeNoCopy bytes: UnsafeRawBufferPointer, onRelease: @escaping @Sendable () -> Void) throws {
        pointer = .allocate(capacity: 1)
        let action = Unmanaged.passRetained(ReleaseAction(onRelease)).toOpaque()
        let data = UnsafeMutableRawPointer(mutating: bytes.baseAddress)
        let status = zmq_msg_init_data(
            pointer, data, bytes.count,
            { _, hint in
                guard let hint else { return }
                Unmanaged<ReleaseAction>.fromOpaque(hint).takeRetainedValue().action()
            }, action)
        guard status == 0 else {
            let error = ZeroMQError.last("zmq_msg_init_data")
            Unmanaged<ReleaseAction>.fromOpaque(action).release()
            pointer.deallocate()
            throw error
        }
    }

    deinit {
        zmq_msg_close(pointer)
        pointer.deallocate()
    }

    /// Drops the content now (releasing a zero-copy buffer or an inproc peer's), leaving an empty frame.
    public func clear() {
        zmq_msg_close(pointer)
        zmq_msg_init(pointer)
    }

    /// Size of the content in bytes.
    public var count: Int { zmq_msg_size(pointer) }

    /// Whether more frames of the same message follow this received one.
    public var hasMore: Bool { zmq_msg_more(pointer) != 0 }

    /// Reads the content; the pointer is valid only inside `body`.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(pointer), count: count))
    }

    /// A copy of the content.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// The Swift closure behind a zero-copy frame's libzmq free callback.
private final class ReleaseAction {
    let action: @Sendable () -> Void
    init(_ action: @escaping @Sendable () -> Void) { self.action = action }
}
