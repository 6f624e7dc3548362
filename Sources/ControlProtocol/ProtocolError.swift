// Why bytes received on the control plane are not a control message. Every decoding failure is one
// of these, never a crash; what to do about it (drop, refuse, disconnect) is the receiver's call.

/// A control-plane frame that could not be decoded.
public enum ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// protobuf-c could not unpack the frame as an envelope: truncated, corrupt, or not protobuf.
    case malformed(byteCount: Int)
    /// A well-formed envelope with no body set (e.g. an empty frame).
    case empty
    /// The body is one this build does not know, by protobuf field number: most likely the peer
    /// speaks a newer protocol version.
    case unknownBody(fieldNumbers: [UInt32])

    public var description: String {
        switch self {
        case .malformed(let byteCount):
            "malformed control message: \(byteCount) bytes that protobuf-c cannot unpack as an Envelope"
        case .empty:
            "empty control message: the envelope has no body"
        case .unknownBody(let fieldNumbers):
            "unknown control message body (field \(fieldNumbers.map(String.init).joined(separator: ", "))):"
                + " the peer may speak a protocol newer than version \(ControlMessage.protocolVersion)"
        }
    }
}
