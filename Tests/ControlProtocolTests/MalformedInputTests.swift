// Bytes that are not a good envelope: empty, truncated, unknown bodies, random garbage and damaged
// encodings. Each either decodes to some message or throws a ProtocolError; none may crash.

import ControlProtocol
import Testing

struct MalformedInputTests {
    @Test("no bytes at all are an envelope without a body")
    func emptyFrameIsEmpty() {
        #expect(throws: ProtocolError.empty) { try ControlMessage.decode([]) }
    }

    @Test("an envelope holding only a field it does not know is an unknown body, named by field number")
    func unknownBodyIsNamed() {
        // Field 20, length-delimited, length 0: tag (20 << 3) | 2 = 162, varint 0xA2 0x01.
        #expect(throws: ProtocolError.unknownBody(fieldNumbers: [20])) {
            try ControlMessage.decode([0xA2, 0x01, 0x00])
        }
        // Field 20 twice, then field 21 as a varint (tag 168: 0xA8 0x01): each number named once, in order.
        #expect(throws: ProtocolError.unknownBody(fieldNumbers: [20, 21])) {
            try ControlMessage.decode([0xA2, 0x01, 0x00, 0xA2, 0x01, 0x00, 0xA8, 0x01, 0x01])
        }
    }

    @Test("a field added by a newer peer inside a known body is skipped")
    func unknownFieldInKnownBodyIsSkipped() throws {
        // Heartbeat (envelope field 4) with generation 1 and a varint field 99 (tag 792: 0x98 0x06) = 5.
        let decoded = try ControlMessage.decode([0x22, 0x05, 0x08, 0x01, 0x98, 0x06, 0x05])
        let expected = ControlMessage.Heartbeat(
            generation: 1, step: 0, imagesPerSecond: 0, stepMilliseconds: 0, residentBytes: 0)
        #expect(decoded == .heartbeat(expected))
    }

    @Test("a length running past the end is malformed, with the byte count")
    func overlongLengthIsMalformed() {
        #expect(throws: ProtocolError.malformed(byteCount: 3)) { try ControlMessage.decode([0x0A, 0x05, 0x01]) }
        #expect(throws: ProtocolError.malformed(byteCount: 1)) { try ControlMessage.decode([0x0A]) }
    }

    @Test("a body of the wrong wire type is malformed")
    func wrongWireTypeIsMalformed() {
        // Field 7 (commit) as a varint instead of a message.
        #expect(throws: ProtocolError.malformed(byteCount: 2)) { try ControlMessage.decode([0x38, 0x01]) }
    }

    @Test("every strict prefix of an encoding is malformed, except the empty one", arguments: Samples.all)
    func truncatedEncodingsFail(message: ControlMessage) {
        // The envelope is one length-delimited field, so any cut inside it leaves the length unmet.
        let bytes = message.encode()
        for length in 0..<bytes.count {
            let expected: ProtocolError = length == 0 ? .empty : .malformed(byteCount: length)
            #expect(throws: expected) { try ControlMessage.decode(Array(bytes[..<length])) }
        }
    }

    @Test("random bytes decode to a message or a ProtocolError", arguments: [1, 2, 3, 4] as [UInt64])
    func randomBytesNeverCrash(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        var decoded = 0
        for _ in 0..<5000 {
            let count = Int.random(in: 0...300, using: &generator)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if let message = try? ControlMessage.decode(bytes) {
                decoded += 1
                expectStableReencoding(message)
            }
        }
        // Most random bytes are not protobuf; a few are (short runs of valid tags).
        #expect(decoded < 5000)
    }

    @Test("damaged encodings decode to a message or a ProtocolError", arguments: [11, 12, 13] as [UInt64])
    func damagedEncodingsNeverCrash(seed: UInt64) {
        // Start from valid messages so damage reaches the nested parsers, not just the envelope tag.
        var generator = SeededGenerator(seed: seed)
        let encodings = Samples.all.map { $0.encode() }
        var outcomes = (decoded: 0, failed: 0)
        for _ in 0..<5000 {
            var bytes = encodings.randomElement(using: &generator)!
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &generator)
                case 1: bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &generator)
                default: bytes.insert(UInt8.random(in: 0...255, using: &generator), at: position)
                }
            }
            do {
                expectStableReencoding(try ControlMessage.decode(bytes))
                outcomes.decoded += 1
            } catch {
                outcomes.failed += 1
            }
        }
        #expect(outcomes.decoded > 0)
        #expect(outcomes.failed > 0)
    }

    @Test("errors describe themselves with what a person needs")
    func errorDescriptions() {
        #expect(ProtocolError.malformed(byteCount: 17).description.contains("17 bytes"))
        #expect(ProtocolError.empty.description.contains("no body"))
        #expect(ProtocolError.unknownBody(fieldNumbers: [20]).description.contains("field 20"))
    }

    /// Whatever garbage decoded to, it is now a proper message: encoding it and decoding again is stable.
    /// Compared as bytes, because garbage may hold NaN doubles, which are never equal to themselves.
    private func expectStableReencoding(_ message: ControlMessage) {
        let bytes = message.encode()
        let again = try? ControlMessage.decode(bytes)
        #expect(again?.encode() == bytes)
    }
}
