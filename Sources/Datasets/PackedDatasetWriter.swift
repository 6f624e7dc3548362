// Writes a dataset file (layout in `PackedDatasetHeader`) so that it appears under its final name
// only when complete: everything goes to a hidden temporary file in the same folder, which is
// flushed to disk and then renamed. An unfinished writer removes its temporary file.

import Foundation

/// Appends images one by one, then `finish()` publishes the file. Not thread-safe: one writer, one
/// thread (decoding can be parallel, appending is in sample order).
public final class PackedDatasetWriter {
    public let path: String
    public let height: Int
    public let width: Int
    public let classNames: [String]
    public let isLabeled: Bool
    /// Images appended so far.
    public private(set) var count = 0

    private let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private var labels: [Int32] = []
    private var pixelChecksum: UInt64 = 0
    private var finished = false

    /// Creates the temporary file next to `path`.
    /// - Parameters:
    ///   - classNames: label names; empty for an unlabeled pool (then every label must be nil).
    public init(path: String, height: Int, width: Int, classNames: [String]) throws {
        precondition(height > 0 && width > 0, "PackedDatasetWriter: empty image shape")
        self.path = path
        self.height = height
        self.width = width
        self.classNames = classNames
        self.isLabeled = !classNames.isEmpty
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let prefix = "." + url.lastPathComponent + ".partial-"
        temporaryPath = folder + "/" + prefix + "\(getpid())"
        Self.removeAbandoned(in: folder, prefix: prefix)
        var status = stat()
        if stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
            throw PrepareError.outputNotWritable(path: path, reason: "it is a folder")
        }
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw PrepareError.outputNotWritable(path: path, reason: String(cString: strerror(errno)))
        }
        let placeholder = PackedDatasetHeader(
            count: 0, height: height, width: width, classNames: classNames, isLabeled: isLabeled)
        buffer = [UInt8](repeating: 0, count: placeholder.pixelsOffset)
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        if !finished { abandon() }
    }

    /// Deletes temporary files that earlier writers of the same output left when they were killed
    /// (the process named in the file's name no longer runs), so an interrupted `prepare` does not
    /// leave a hidden copy of the dataset behind for good.
    private static func removeAbandoned(in folder: String, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            try? FileManager.default.removeItem(atPath: folder + "/" + name)
        }
    }

    /// Appends one image: `pixels` is `[height, width, 3]` RGB uint8; `label` in `0..<classNames.count`
    /// for a labeled dataset, nil otherwise.
    public func append(pixels: UnsafeBufferPointer<UInt8>, label: Int?) throws {
        precondition(!finished, "PackedDatasetWriter: append after finish")
        precondition(pixels.count == height * width * 3, "PackedDatasetWriter: image of \(pixels.count) bytes")
        precondition((label != nil) == isLabeled, "PackedDatasetWriter: label presence does not match the dataset")
        if let label {
            precondition(label >= 0 && label < classNames.count, "PackedDatasetWriter: label \(label) out of range")
            labels.append(Int32(label).littleEndian)
        }
        pixelChecksum = Checksum.combine(pixelChecksum, Checksum.hash(UnsafeRawBufferPointer(pixels)))
        buffer.append(contentsOf: pixels)
        count += 1
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Writes labels and header, flushes to disk and renames into place. Returns the fingerprint.
    @discardableResult
    public func finish() throws -> String {
        precondition(!finished, "PackedDatasetWriter: finish twice")
        guard count <= Int(UInt32.max) else { throw PrepareError.tooManyImages(count: count) }
        var header = PackedDatasetHeader(
            count: count, height: height, width: width, classNames: classNames, isLabeled: isLabeled)
        header.pixelChecksum = pixelChecksum
        header.labelChecksum = isLabeled ? labels.withUnsafeBytes { Checksum.hash($0) } : 0
        labels.withUnsafeBytes { buffer.append(contentsOf: $0) }
        try flush()

        let encoded = header.encoded()
        let written = encoded.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        guard written == encoded.count else { throw failure("write the header") }
        guard fsync(descriptor) == 0 else { throw failure("flush to disk") }
        guard close(descriptor) == 0 else {
            descriptor = -1
            throw failure("close")
        }
        descriptor = -1
        guard rename(temporaryPath, path) == 0 else { throw failure("rename into place") }
        finished = true
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            // Makes the rename itself durable; failure here leaves a complete file, so it is ignored.
            _ = fsync(folderDescriptor)
            close(folderDescriptor)
        }
        return Checksum.hex(
            UInt64(littleEndian: encoded.withUnsafeBytes { $0.load(fromByteOffset: 64, as: UInt64.self) }))
    }

    /// Drops the temporary file; the final path is never touched.
    public func abandon() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(temporaryPath)
        finished = true
    }

    private func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw failure("write") }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func failure(_ operation: String) -> Error {
        let reason = String(cString: strerror(errno))
        abandon()
        return DatasetFileError.io(path: path, operation: operation, reason: reason)
    }
}
