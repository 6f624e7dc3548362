// The typed errors of the data path. Each case carries the file or folder it is about and says
// what to do, so `simclr` can show it as is; library code never prints.

import Foundation

/// A dataset file that cannot be opened, written or trusted.
public enum DatasetFileError: Error, Equatable, CustomStringConvertible {
    /// The operating system refused an operation (`errno` turned into text).
    case io(path: String, operation: String, reason: String)
    /// The file does not start with the dataset magic bytes.
    case badMagic(path: String)
    /// The file was written by a format version this build does not read.
    case unsupportedVersion(path: String, version: UInt32, supported: UInt32)
    /// The file is shorter (or longer) than its header promises.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// A stored checksum does not match the bytes it covers.
    case checksumMismatch(path: String, part: String, expected: String, actual: String)
    /// The header holds values that cannot describe a dataset.
    case malformedHeader(path: String, reason: String)

    public var description: String {
        switch self {
        case .io(let path, let operation, let reason):
            return "\(path): cannot \(operation): \(reason)"
        case .badMagic(let path):
            return "\(path): not a simclr dataset file (bad magic); make one with `simclr prepare`"
        case .unsupportedVersion(let path, let version, let supported):
            return "\(path): dataset format version \(version), this build reads version \(supported); "
                + "prepare the dataset again with this build"
        case .truncated(let path, let expected, let actual):
            return "\(path): truncated or damaged: \(actual) bytes, the header promises \(expected); "
                + "prepare it again or copy it again"
        case .checksumMismatch(let path, let part, let expected, let actual):
            return "\(path): \(part) checksum mismatch (expected \(expected), found \(actual)); "
                + "the file is corrupted, prepare it again"
        case .malformedHeader(let path, let reason):
            return "\(path): malformed header: \(reason)"
        }
    }

    /// An I/O error from the current `errno`.
    static func fromErrno(path: String, operation: String) -> DatasetFileError {
        .io(path: path, operation: operation, reason: String(cString: strerror(errno)))
    }
}

/// A source of images that `prepare` cannot turn into a dataset.
public enum PrepareError: Error, Equatable, CustomStringConvertible {
    case sourceNotFound(path: String)
    /// `skipped`: why each file there could not be used ("path: reason"), when there were any.
    case noImages(path: String, skipped: [String] = [])
    case emptyClassFolder(path: String, skipped: [String] = [])
    case classNameWithLineBreak(path: String)
    case mixedImageSizes(first: String, firstSize: String, other: String, otherSize: String)
    case cifarFileSize(path: String, bytes: Int, expected: Int, records: Int)
    case cifarFileMissing(path: String)
    case cifarLabel(path: String, record: Int, label: Int, classes: Int)
    case badSyntheticSpecification(String)
    case badSplit(path: String, split: String)
    case outputNotWritable(path: String, reason: String)
    case tooManyImages(count: Int)

    /// " (skipped: a: why; b: why; and N more)", or nothing.
    private static func list(_ skipped: [String]) -> String {
        guard !skipped.isEmpty else { return "" }
        let more = skipped.count > 3 ? "; and \(skipped.count - 3) more" : ""
        return " (skipped: " + skipped.prefix(3).joined(separator: "; ") + more + ")"
    }

    public var description: String {
        switch self {
        case .sourceNotFound(let path):
            return "\(path): no such file or folder"
        case .noImages(let path, let skipped):
            return "\(path): no JPEG or PNG images found; point SOURCE at a folder of images, "
                + "a folder of class folders, or a CIFAR binary folder" + Self.list(skipped)
        case .emptyClassFolder(let path, let skipped):
            return "\(path): class folder has no usable images; add images or remove the folder "
                + "(a class without samples would silently change the label space)" + Self.list(skipped)
        case .classNameWithLineBreak(let path):
            return "\(path): a class folder's name holds a line break, which the dataset file cannot store; "
                + "rename the folder"
        case .mixedImageSizes(let first, let firstSize, let other, let otherSize):
            return "images differ in size (\(first) is \(firstSize), \(other) is \(otherSize)); "
                + "pass --image-size N to resize them all to N x N"
        case .cifarFileSize(let path, let bytes, let expected, let records):
            return "\(path): \(bytes) bytes, but the release's file holds \(records) records in \(expected) bytes "
                + "(truncated or not the binary release); download the binary release again"
        case .cifarFileMissing(let path):
            return "\(path): missing from the CIFAR binary folder; download the binary release again"
        case .cifarLabel(let path, let record, let label, let classes):
            return "\(path): record \(record) has label \(label), but there are \(classes) classes; "
                + "the file is corrupted"
        case .badSyntheticSpecification(let text):
            return "'\(text)': expected synthetic:N with N a positive number of images"
        case .badSplit(let path, let split):
            return "\(path): no '\(split)' split here (use --split train or --split test)"
        case .outputNotWritable(let path, let reason):
            return "\(path): cannot write the output: \(reason); choose a writable location with --output"
        case .tooManyImages(let count):
            return "\(count) images do not fit the dataset format's 32-bit count"
        }
    }
}

/// A request to the loader or augmenter that names samples the dataset does not hold.
public enum LoaderError: Error, Equatable, CustomStringConvertible {
    case indexOutOfRange(index: Int, count: Int)
    case batchTooLarge(size: Int, maximum: Int)
    case nothingSubmitted
    case closed

    public var description: String {
        switch self {
        case .indexOutOfRange(let index, let count):
            return "sample index \(index) is outside the dataset's \(count) samples; "
                + "check that every worker uses the same dataset file"
        case .batchTooLarge(let size, let maximum):
            return "batch of \(size) samples exceeds the loader's maximum of \(maximum)"
        case .nothingSubmitted:
            return "next() called with no batch submitted"
        case .closed:
            return "the loader is closed"
        }
    }
}
