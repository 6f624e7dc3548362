// The layout of the project's dataset file and the checksum that guards it. `PackedDataset` reads
// the layout, `PackedDatasetWriter` writes it; both take their offsets from `PackedDatasetHeader`.

import Compute
import Foundation

/// The header of a dataset file. All integers are little-endian.
///
/// ```
/// offset  bytes  field
///      0      8  magic "SIMCLRDS"
///      8      4  format version (1)
///     12      4  flags: bit 0 set when the file carries labels
///     16      8  sample count N
///     24      4  image height H
///     28      4  image width W
///     32      4  channels C (always 3: RGB)
///     36      4  class count K (0 when unlabeled)
///     40      4  byte length L of the class-name block
///     44      4  reserved, 0
///     48      8  pixel checksum: `Checksum.combine` over every image's `Checksum.hash`, in order
///     56      8  label checksum: `Checksum.hash` of the label block (0 when unlabeled)
///     64      8  header checksum: `Checksum.hash` of bytes 0..<64 followed by the class-name block
///     72      L  class names, UTF-8, each followed by "\n"
///      …         zero padding up to the next multiple of 4096 (`pixelsOffset`)
/// pixelsOffset   N*H*W*C  pixels: sample-major, then rows, columns, RGB (HWC, uint8)
///      …      4N labels, Int32 each in [0, K) (only when labeled)
/// ```
///
/// Pixels start page-aligned so that a worker maps and touches only the pages of its own samples.
/// The header checksum also covers the pixel and label checksums, so its hex form (`fingerprint`)
/// names the whole content.
struct PackedDatasetHeader: Equatable {
    static let magic: [UInt8] = Array("SIMCLRDS".utf8)
    static let version: UInt32 = 1
    static let fixedBytes = 72
    static let alignment = 4096

    var count: Int
    var height: Int
    var width: Int
    var channels: Int = 3
    var classNames: [String]
    var isLabeled: Bool
    var pixelChecksum: UInt64 = 0
    var labelChecksum: UInt64 = 0

    var namesBlock: [UInt8] { Array(classNames.map { $0 + "\n" }.joined().utf8) }
    var imageBytes: Int { height * width * channels }
    var pixelsOffset: Int {
        let end = Self.fixedBytes + namesBlock.count
        return (end + Self.alignment - 1) / Self.alignment * Self.alignment
    }
    var labelsOffset: Int { pixelsOffset + count * imageBytes }
    var totalBytes: Int { labelsOffset + (isLabeled ? 4 * count : 0) }

    /// Bytes 0..<fixedBytes, then the names block, then zeros up to `pixelsOffset`.
    func encoded() -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(pixelsOffset)
        bytes += Self.magic
        append(Self.version, to: &bytes)
        append(UInt32(isLabeled ? 1 : 0), to: &bytes)
        append(UInt64(count), to: &bytes)
        append(UInt32(height), to: &bytes)
        append(UInt32(width), to: &bytes)
        append(UInt32(channels), to: &bytes)
        append(UInt32(classNames.count), to: &bytes)
        append(UInt32(namesBlock.count), to: &bytes)
        append(UInt32(0), to: &bytes)
        append(pixelChecksum, to: &bytes)
        append(labelChecksum, to: &bytes)
        let names = namesBlock
        let checksum = Self.headerChecksum(fixed: bytes, names: names)
        append(checksum, to: &bytes)
        bytes += names
        bytes += [UInt8](repeating: 0, count: pixelsOffset - bytes.count)
        return bytes
    }

    /// The checksum stored at offset 64 for these first 64 bytes and this names block.
    static func headerChecksum(fixed: [UInt8], names: [UInt8]) -> UInt64 {
        (fixed.prefix(64) + names).withUnsafeBytes { Checksum.hash($0) }
    }

    private func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
}

/// A 64-bit content checksum built from four multiply-rotate lanes (the round structure popularised
/// by xxHash, not compatible with it). Fast enough to check a whole dataset file at memory speed.
enum Checksum {
    private static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let prime3: UInt64 = 0x1656_67B1_9E37_79F9

    @inline(__always) private static func round(_ lane: UInt64, _ word: UInt64) -> UInt64 {
        let mixed = lane &+ word &* prime2
        return ((mixed << 31) | (mixed >> 33)) &* prime1
    }

    /// The checksum of `bytes`.
    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var lanes = (seed &+ prime1 &+ prime2, seed &+ prime2, seed, seed &- prime1)
        var offset = 0
        let count = bytes.count
        while offset + 32 <= count {
            lanes.0 = round(lanes.0, bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            lanes.1 = round(lanes.1, bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            lanes.2 = round(lanes.2, bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
            lanes.3 = round(lanes.3, bytes.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self))
            offset += 32
        }
        var result = SeededGenerator.mix(lanes.0) ^ SeededGenerator.mix(lanes.1 &+ prime3)
        result = SeededGenerator.mix(result ^ lanes.2) &+ SeededGenerator.mix(lanes.3 ^ prime1)
        while offset < count {
            result = (result ^ UInt64(bytes[offset])) &* prime3
            offset += 1
        }
        return SeededGenerator.mix(result ^ UInt64(count))
    }

    /// Folds the checksum of the next item into a running checksum (order matters).
    static func combine(_ running: UInt64, _ next: UInt64) -> UInt64 {
        SeededGenerator.mix(running &* prime1 &+ next)
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
