// Reads a dataset file made by `simclr prepare`: maps it read-only, checks the header, its checksum
// and the file length on open, and hands out each sample's pixels as a view into the mapping. Only
// the pages of the samples a worker touches are read from disk; `verify()` reads them all.

import Foundation

/// A memory-mapped dataset file (layout in `PackedDatasetHeader`).
///
/// Immutable after `init`, and the mapping is read-only: that is what makes it `Sendable` and lets
/// loader threads read it concurrently.
public final class PackedDataset: @unchecked Sendable {
    /// Where the file was opened from.
    public let path: String
    /// Number of samples.
    public let count: Int
    public let height: Int
    public let width: Int
    /// Always 3 (RGB).
    public let channels: Int
    /// Class names in label order; empty for an unlabeled pool.
    public let classNames: [String]
    public let isLabeled: Bool
    /// Hex of the header checksum, which covers the pixel and label checksums: equal fingerprints
    /// mean the same dataset.
    public let fingerprint: String

    private let header: PackedDatasetHeader
    private let mapping: UnsafeRawPointer
    private let mappedBytes: Int
    private let labels: UnsafePointer<Int32>?

    /// Opens and checks the file at `path` (header, header checksum, length, label checksum and
    /// range). Pixels are checked only by `verify()`.
    public init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DatasetFileError.fromErrno(path: path, operation: "open") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw DatasetFileError.fromErrno(path: path, operation: "stat") }
        let size = Int(status.st_size)
        guard size >= PackedDatasetHeader.fixedBytes else {
            if size >= 8 { try Self.checkMagic(descriptor: descriptor, path: path) }
            throw DatasetFileError.truncated(
                path: path, expectedBytes: PackedDatasetHeader.fixedBytes, actualBytes: size)
        }
        guard let raw = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0), raw != MAP_FAILED else {
            throw DatasetFileError.fromErrno(path: path, operation: "map")
        }
        do {
            header = try Self.parseHeader(UnsafeRawBufferPointer(start: raw, count: size), path: path)
        } catch {
            munmap(raw, size)
            throw error
        }
        mapping = UnsafeRawPointer(raw)
        mappedBytes = size
        count = header.count
        height = header.height
        width = header.width
        channels = header.channels
        classNames = header.classNames
        isLabeled = header.isLabeled
        fingerprint = Checksum.hex(mapping.loadUnaligned(fromByteOffset: 64, as: UInt64.self).littleEndian)
        labels = isLabeled ? (mapping + header.labelsOffset).assumingMemoryBound(to: Int32.self) : nil
        try checkLabels()
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: mapping), mappedBytes) }

    /// Bytes of one image (`height * width * 3`).
    public var imageBytes: Int { header.imageBytes }

    /// The label of sample `index`, or nil for an unlabeled pool.
    public func label(at index: Int) -> Int? {
        precondition(index >= 0 && index < count, "PackedDataset: index \(index) outside 0..<\(count)")
        guard let labels else { return nil }
        return Int(Int32(littleEndian: labels[index]))
    }

    /// The pixels of sample `index`: `[H, W, 3]` RGB uint8, valid while the dataset lives.
    public func pixels(at index: Int) -> UnsafeBufferPointer<UInt8> {
        precondition(index >= 0 && index < count, "PackedDataset: index \(index) outside 0..<\(count)")
        let start = (mapping + header.pixelsOffset + index * imageBytes).assumingMemoryBound(to: UInt8.self)
        return UnsafeBufferPointer(start: start, count: imageBytes)
    }

    /// Reads every pixel and compares with the stored pixel checksum.
    public func verify() throws {
        var running: UInt64 = 0
        for index in 0..<count {
            running = Checksum.combine(running, Checksum.hash(UnsafeRawBufferPointer(pixels(at: index))))
        }
        guard running == header.pixelChecksum else {
            throw DatasetFileError.checksumMismatch(
                path: path, part: "pixel", expected: Checksum.hex(header.pixelChecksum), actual: Checksum.hex(running))
        }
    }

    private func checkLabels() throws {
        guard let labels else { return }
        let bytes = UnsafeRawBufferPointer(start: labels, count: 4 * count)
        let actual = Checksum.hash(bytes)
        guard actual == header.labelChecksum else {
            throw DatasetFileError.checksumMismatch(
                path: path, part: "label", expected: Checksum.hex(header.labelChecksum), actual: Checksum.hex(actual))
        }
        for index in 0..<count {
            let label = Int(Int32(littleEndian: labels[index]))
            guard label >= 0 && label < classNames.count else {
                throw DatasetFileError.malformedHeader(
                    path: path, reason: "sample \(index) has label \(label) outside 0..<\(classNames.count)")
            }
        }
    }

    private static func checkMagic(descriptor: Int32, path: String) throws {
        var magic = [UInt8](repeating: 0, count: 8)
        guard pread(descriptor, &magic, 8, 0) == 8, magic == PackedDatasetHeader.magic else {
            throw DatasetFileError.badMagic(path: path)
        }
    }

    private static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> PackedDatasetHeader {
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        guard Array(bytes[0..<8]) == PackedDatasetHeader.magic else { throw DatasetFileError.badMagic(path: path) }
        let version = load(8, UInt32.self)
        guard version == PackedDatasetHeader.version else {
            throw DatasetFileError.unsupportedVersion(
                path: path, version: version, supported: PackedDatasetHeader.version)
        }
        let namesLength = Int(load(40, UInt32.self))
        let namesEnd = PackedDatasetHeader.fixedBytes + namesLength
        guard namesEnd <= bytes.count else {
            throw DatasetFileError.truncated(path: path, expectedBytes: namesEnd, actualBytes: bytes.count)
        }
        let names = Array(bytes[PackedDatasetHeader.fixedBytes..<namesEnd])
        let stored = load(64, UInt64.self)
        let actual = PackedDatasetHeader.headerChecksum(fixed: Array(bytes[0..<64]), names: names)
        guard stored == actual else {
            throw DatasetFileError.checksumMismatch(
                path: path, part: "header", expected: Checksum.hex(stored), actual: Checksum.hex(actual))
        }

        let flags = load(12, UInt32.self)
        let count = load(16, UInt64.self)
        let height = Int(load(24, UInt32.self))
        let width = Int(load(28, UInt32.self))
        let channels = Int(load(32, UInt32.self))
        let classCount = Int(load(36, UInt32.self))
        let classNames = String(decoding: names, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast().map(String.init)
        let isLabeled = flags & 1 == 1
        guard channels == 3, height > 0, width > 0, count <= UInt64(UInt32.max), flags & ~1 == 0,
            classNames.count == classCount, isLabeled == (classCount > 0)
        else {
            throw DatasetFileError.malformedHeader(
                path: path,
                reason: "count \(count), shape \(height)x\(width)x\(channels), \(classCount) classes, flags \(flags)")
        }
        var header = PackedDatasetHeader(
            count: Int(count), height: height, width: width, classNames: classNames, isLabeled: isLabeled)
        header.pixelChecksum = load(48, UInt64.self)
        header.labelChecksum = load(56, UInt64.self)
        guard header.totalBytes == bytes.count else {
            throw DatasetFileError.truncated(path: path, expectedBytes: header.totalBytes, actualBytes: bytes.count)
        }
        return header
    }
}
