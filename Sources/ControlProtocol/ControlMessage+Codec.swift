// Encoding a ControlMessage into one envelope frame and decoding it back, through the C code that
// protoc-c generated from proto/simclr.proto. Only the envelope: the raw frames after a StateHeader
// and the ROUTER identity frame are the sender's and receiver's to handle.

import CProtobufC
import CSimCLRProto

extension ControlMessage {
    /// The serialized Envelope holding this message: the bytes of one ZeroMQ frame.
    ///
    /// protobuf-c keeps strings as C strings, so a string is sent up to its first NUL character, if
    /// it has one. It also leaves out every double that compares equal to zero, so -0.0 arrives as +0.0.
    public func encode() -> [UInt8] {
        PackingScratch.with { scratch in
            var envelope = Simclr__Envelope()
            simclr__envelope__init(&envelope)

            // Point the envelope's one body at a C copy of the message; the scratch owns the copies.
            switch self {
            case .register(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_REGISTER
                envelope.register_ = scratch.message(message.packable(scratch))
            case .welcome(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_WELCOME
                envelope.welcome = scratch.message(message.packable(scratch))
            case .refuse(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_REFUSE
                envelope.refuse = scratch.message(message.packable(scratch))
            case .heartbeat(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_HEARTBEAT
                envelope.heartbeat = scratch.message(message.packable())
            case .stepPlan(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_STEP_PLAN
                envelope.step_plan = scratch.message(message.packable(scratch))
            case .stepDone(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_STEP_DONE
                envelope.step_done = scratch.message(message.packable(scratch))
            case .commit(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_COMMIT
                envelope.commit = scratch.message(message.packable())
            case .abort(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_ABORT
                envelope.abort = scratch.message(message.packable(scratch))
            case .stateRequest(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_STATE_REQUEST
                envelope.state_request = scratch.message(message.packable())
            case .stateHeader(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_STATE_HEADER
                envelope.state_header = scratch.message(message.packable())
            case .statusRequest(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_STATUS_REQUEST
                envelope.status_request = scratch.message(message.packable())
            case .status(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_STATUS
                envelope.status = scratch.message(message.packable(scratch))
            case .stop(let message):
                envelope.body_case = SIMCLR__ENVELOPE__BODY_STOP
                envelope.stop = scratch.message(message.packable(scratch))
            }

            // Size, then pack into exactly that many bytes.
            let size = simclr__envelope__get_packed_size(&envelope)
            return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
                initialized = simclr__envelope__pack(&envelope, buffer.baseAddress)
                precondition(initialized == size, "protobuf-c packed \(initialized) bytes, sized \(size)")
            }
        }
    }

    /// Decodes one envelope frame.
    ///
    /// Any bytes are safe to pass: what is not a well-formed envelope with a known body throws.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(ProtocolError) -> ControlMessage {
        let unpacked = bytes.withMemoryRebound(to: UInt8.self) { bytes in
            simclr__envelope__unpack(nil, bytes.count, bytes.baseAddress)
        }
        guard let unpacked else { throw .malformed(byteCount: bytes.count) }
        defer { simclr__envelope__free_unpacked(unpacked, nil) }
        return try message(in: unpacked.pointee, byteCount: bytes.count)
    }

    /// Decodes one envelope frame held in an array.
    public static func decode(_ bytes: [UInt8]) throws(ProtocolError) -> ControlMessage {
        // withUnsafeBytes rethrows untyped errors; carry the typed one out in a Result.
        let result = bytes.withUnsafeBytes { bytes in Result { () throws(ProtocolError) in try decode(bytes) } }
        return try result.get()
    }

    /// The Swift value of an unpacked envelope's body.
    private static func message(
        in envelope: Simclr__Envelope, byteCount: Int
    ) throws(ProtocolError) -> ControlMessage {
        switch envelope.body_case {
        case SIMCLR__ENVELOPE__BODY__NOT_SET:
            // A body protobuf-c does not know lands among the unknown fields, leaving the case unset.
            var unknown: [UInt32] = []
            for index in 0..<Int(envelope.base.n_unknown_fields) {
                let field = envelope.base.unknown_fields[index].tag
                if !unknown.contains(field) { unknown.append(field) }
            }
            if unknown.isEmpty { throw .empty }
            throw .unknownBody(fieldNumbers: unknown)
        case SIMCLR__ENVELOPE__BODY_REGISTER:
            return .register(Register(try body(envelope.register_, byteCount)))
        case SIMCLR__ENVELOPE__BODY_WELCOME:
            return .welcome(Welcome(try body(envelope.welcome, byteCount)))
        case SIMCLR__ENVELOPE__BODY_REFUSE:
            return .refuse(Refuse(try body(envelope.refuse, byteCount)))
        case SIMCLR__ENVELOPE__BODY_HEARTBEAT:
            return .heartbeat(Heartbeat(try body(envelope.heartbeat, byteCount)))
        case SIMCLR__ENVELOPE__BODY_STEP_PLAN:
            return .stepPlan(StepPlan(try body(envelope.step_plan, byteCount)))
        case SIMCLR__ENVELOPE__BODY_STEP_DONE:
            return .stepDone(StepDone(try body(envelope.step_done, byteCount)))
        case SIMCLR__ENVELOPE__BODY_COMMIT:
            return .commit(Commit(try body(envelope.commit, byteCount)))
        case SIMCLR__ENVELOPE__BODY_ABORT:
            return .abort(Abort(try body(envelope.abort, byteCount)))
        case SIMCLR__ENVELOPE__BODY_STATE_REQUEST:
            return .stateRequest(StateRequest(try body(envelope.state_request, byteCount)))
        case SIMCLR__ENVELOPE__BODY_STATE_HEADER:
            return .stateHeader(StateHeader(try body(envelope.state_header, byteCount)))
        case SIMCLR__ENVELOPE__BODY_STATUS_REQUEST:
            _ = try body(envelope.status_request, byteCount)
            return .statusRequest(StatusRequest())
        case SIMCLR__ENVELOPE__BODY_STATUS:
            return .status(Status(try body(envelope.status, byteCount)))
        case SIMCLR__ENVELOPE__BODY_STOP:
            return .stop(Stop(try body(envelope.stop, byteCount)))
        default:
            // The generated code knows a body that this switch does not: regenerated, not yet wrapped.
            throw .unknownBody(fieldNumbers: [envelope.body_case.rawValue])
        }
    }

    /// The body message a set case points to. protobuf-c always allocates it; a null is reported
    /// as malformed rather than trusted.
    private static func body<Message>(
        _ pointer: UnsafeMutablePointer<Message>?, _ byteCount: Int
    ) throws(ProtocolError) -> Message {
        guard let pointer else { throw .malformed(byteCount: byteCount) }
        return pointer.pointee
    }
}
