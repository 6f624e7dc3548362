// The small header in front of every ring frame: enough to tell a frame of this operation from a
// stale, misdirected or foreign one. Fixed 40 bytes, little-endian; the payload travels as a
// separate frame so it can be sent without copying.

/// What a header frame announces.
enum FrameKind: UInt8 {
    /// Connection handshake: sender rank and generation.
    case hello = 1
    /// A chunk of a collective's data.
    case data = 2
    /// The sender gave up on the operation; `index` holds the rank it blames.
    case abort = 3
}

struct FrameHeader: Equatable {
    static let byteCount = 40
    /// "SCLR" read as a little-endian UInt32.
    static let magic: UInt32 = 0x524C_4353
    static let version: UInt8 = 1

    var kind: FrameKind
    var operation: CollectiveOperation
    var sourceRank: UInt32
    /// Position of the chunk within the operation's stream; for `.abort`, the blamed rank.
    var index: UInt32
    var generation: UInt64
    var sequence: UInt64
    var step: UInt64

    func write(to bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Self.byteCount)
        bytes.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        bytes.storeBytes(of: Self.version, toByteOffset: 4, as: UInt8.self)
        bytes.storeBytes(of: kind.rawValue, toByteOffset: 5, as: UInt8.self)
        bytes.storeBytes(of: operation.rawValue, toByteOffset: 6, as: UInt8.self)
        bytes.storeBytes(of: 0, toByteOffset: 7, as: UInt8.self)
        bytes.storeBytes(of: sourceRank.littleEndian, toByteOffset: 8, as: UInt32.self)
        bytes.storeBytes(of: index.littleEndian, toByteOffset: 12, as: UInt32.self)
        bytes.storeBytes(of: generation.littleEndian, toByteOffset: 16, as: UInt64.self)
        bytes.storeBytes(of: sequence.littleEndian, toByteOffset: 24, as: UInt64.self)
        bytes.storeBytes(of: step.littleEndian, toByteOffset: 32, as: UInt64.self)
    }

    /// Parses a header frame; nil when it is not one of ours (size, magic, version, kinds).
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.byteCount,
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == Self.magic,
            bytes[4] == Self.version,
            let kind = FrameKind(rawValue: bytes[5]),
            let operation = CollectiveOperation(rawValue: bytes[6])
        else { return nil }
        self.kind = kind
        self.operation = operation
        sourceRank = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        index = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        generation = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        sequence = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        step = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
    }

    init(
        kind: FrameKind, operation: CollectiveOperation, sourceRank: Int, index: Int, generation: UInt64,
        sequence: UInt64, step: UInt64
    ) {
        self.kind = kind
        self.operation = operation
        self.sourceRank = UInt32(sourceRank)
        self.index = UInt32(truncatingIfNeeded: index)
        self.generation = generation
        self.sequence = sequence
        self.step = step
    }
}
