// Every kind of control message survives encode then decode unchanged, the wire bytes of a simple
// message are pinned so field numbers cannot drift unnoticed, and the helpers over messages work.

import ControlProtocol
import Testing

struct RoundTripTests {
    @Test("the samples cover every kind of message")
    func samplesCoverEveryKind() {
        #expect(Set(Samples.all.map(Samples.kind)).count == 13)
    }

    @Test("encode then decode gives back the same message", arguments: Samples.all)
    func roundTrips(message: ControlMessage) throws {
        let bytes = message.encode()
        #expect(!bytes.isEmpty)
        #expect(try ControlMessage.decode(bytes) == message)
    }

    @Test("decoding from a raw buffer equals decoding from an array", arguments: Samples.all)
    func decodesFromRawBuffer(message: ControlMessage) throws {
        let bytes = message.encode()
        let decoded = try bytes.withUnsafeBytes { buffer in
            Result { () throws(ProtocolError) in try ControlMessage.decode(buffer) }
        }.get()
        #expect(decoded == message)
    }

    @Test("encoding is deterministic")
    func encodingIsDeterministic() {
        for message in Samples.all { #expect(message.encode() == message.encode()) }
    }

    @Test("a commit has exactly the bytes the schema's field numbers give")
    func commitWireBytesArePinned() {
        // Envelope field 7 (commit), length 5: generation (field 1) = 3, step (field 2) = 150 as varint 0x96 0x01.
        let bytes = ControlMessage.commit(.init(generation: 3, step: 150)).encode()
        #expect(bytes == [0x3A, 0x05, 0x08, 0x03, 0x10, 0x96, 0x01])
    }

    @Test("an empty status request still encodes its body, so it is not an empty envelope")
    func statusRequestIsNotEmpty() throws {
        let bytes = ControlMessage.statusRequest(.init()).encode()
        #expect(bytes == [0x5A, 0x00])
        #expect(try ControlMessage.decode(bytes) == .statusRequest(.init()))
    }

    @Test("a NUL inside a string cuts it there: protobuf-c strings are C strings")
    func nulCutsStrings() throws {
        let decoded = try ControlMessage.decode(ControlMessage.stop(.init(reason: "before\0after")).encode())
        #expect(decoded == .stop(.init(reason: "before")))
    }

    @Test("only a state header announces raw frames after the envelope")
    func rawFramesFollowOnlyStateHeaders() {
        for message in Samples.all {
            if case .stateHeader(let header) = message {
                #expect(message.rawFramesFollowing == Int(header.frames))
            } else {
                #expect(message.rawFramesFollowing == 0)
            }
        }
    }

    @Test("a register defaults to this build's protocol version")
    func registerCarriesProtocolVersion() {
        let register = ControlMessage.Register(
            name: "w", threads: 1, configurationHash: "c", datasetFingerprint: "d", ringEndpoint: "e",
            hasDataset: true)
        #expect(register.protocolVersion == ControlMessage.protocolVersion)
        #expect(ControlMessage.protocolVersion == 1)
    }

    @Test("a step plan's ranks take consecutive runs of indices in rank order")
    func stepPlanPositions() {
        let plan = ControlMessage.StepPlan(
            generation: 1, step: 1, epoch: 0, learningRate: 0.1, indices: [10, 11, 12, 13, 14, 15, 16, 17],
            counts: [3, 0, 5])
        #expect(plan.positions(ofRank: 0) == 0..<3)
        #expect(plan.positions(ofRank: 1) == 3..<3)
        #expect(plan.positions(ofRank: 2) == 3..<8)
        #expect(plan.positions(ofRank: 3) == nil)
        #expect(plan.positions(ofRank: -1) == nil)
    }

    @Test("a step plan whose counts do not add up to its indices gives no positions")
    func stepPlanInconsistent() {
        let plan = ControlMessage.StepPlan(
            generation: 1, step: 1, epoch: 0, learningRate: 0.1, indices: [1, 2, 3], counts: [2, 2])
        #expect(plan.positions(ofRank: 0) == nil)
    }
}
