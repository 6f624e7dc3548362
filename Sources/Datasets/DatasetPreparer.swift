// `prepare`: reads a source, decodes and resizes images on all cores, and streams them in a fixed
// order into a `PackedDatasetWriter`. Unreadable files become skips with a reason; problems with the
// source as a whole become a `PrepareError`, and then no file appears under the output name.

import Foundation

/// A file left out of the dataset, and why.
public struct SkippedFile: Codable, Equatable, Sendable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// What `prepare` made.
public struct PrepareSummary: Codable, Equatable, Sendable {
    public var output: String
    public var count: Int
    public var height: Int
    public var width: Int
    public var classNames: [String]
    /// Samples per class, in label order; empty for an unlabeled pool.
    public var imagesPerClass: [Int]
    public var skipped: [SkippedFile]
    public var fingerprint: String
    public var seconds: Double
}

public struct PrepareOptions: Sendable {
    /// Output side: images are resized (shorter side) and centre-cropped to `imageSize x imageSize`.
    /// nil keeps the source's own size, which all images must then share.
    public var imageSize: Int?
    /// Which part of a CIFAR release (or which subfolder of an image folder) to pack; default train.
    public var split: DatasetSplit?
    /// Seed of a synthetic dataset.
    public var seed: UInt64
    /// Decoding threads.
    public var threads: Int

    public init(
        imageSize: Int? = nil, split: DatasetSplit? = nil, seed: UInt64 = 0,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) {
        self.imageSize = imageSize
        self.split = split
        self.seed = seed
        self.threads = max(1, threads)
    }
}

public enum DatasetPreparer {
    /// Packs `source` into the dataset file at `output`.
    /// - Parameter progress: called on the calling thread with (items done, items in total).
    public static func prepare(
        source: DatasetSource, output: String, options: PrepareOptions,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> PrepareSummary {
        let start = DispatchTime.now().uptimeNanoseconds
        if let size = options.imageSize { precondition(size > 0, "DatasetPreparer: image size must be positive") }
        var summary: PrepareSummary
        switch source {
        case .synthetic(let count):
            summary = try packSynthetic(count: count, output: output, options: options, progress: progress)
        case .cifar10, .cifar100:
            let release = CIFARRelease(source: source, split: options.split ?? .train)
            summary = try packCIFAR(release, output: output, options: options, progress: progress)
        case .imageFolder(let path):
            summary = try packFolder(FolderListing(path: path), output: output, options: options, progress: progress)
        }
        summary.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return summary
    }

    private static func summarise(
        _ writer: PackedDatasetWriter, perClass: [Int], skipped: [SkippedFile], fingerprint: String
    ) -> PrepareSummary {
        PrepareSummary(
            output: writer.path, count: writer.count, height: writer.height, width: writer.width,
            classNames: writer.classNames, imagesPerClass: perClass, skipped: skipped, fingerprint: fingerprint,
            seconds: 0)
    }

    // MARK: Synthetic

    private static func packSynthetic(
        count: Int, output: String, options: PrepareOptions, progress: ((Int, Int) -> Void)?
    ) throws -> PrepareSummary {
        let side = options.imageSize ?? 32
        let names = SyntheticDataset.classNames
        let writer = try PackedDatasetWriter(path: output, height: side, width: side, classNames: names)
        let imageBytes = side * side * 3
        let chunk = 2048
        var buffer = [UInt8](repeating: 0, count: chunk * imageBytes)
        var perClass = [Int](repeating: 0, count: names.count)
        for first in stride(from: 0, to: count, by: chunk) {
            let items = min(chunk, count - first)
            buffer.withUnsafeMutableBufferPointer { pixels in
                let shared = SharedPointer(pixels.baseAddress!)
                parallelFor(items, threads: options.threads) { item in
                    SyntheticDataset.render(
                        index: first + item, seed: options.seed, side: side, into: shared.pointer + item * imageBytes)
                }
            }
            try buffer.withUnsafeBufferPointer { pixels in
                for item in 0..<items {
                    let label = SyntheticDataset.label(of: first + item)
                    perClass[label] += 1
                    try writer.append(
                        pixels: UnsafeBufferPointer(rebasing: pixels[item * imageBytes..<(item + 1) * imageBytes]),
                        label: label)
                }
            }
            progress?(first + items, count)
        }
        let fingerprint = try writer.finish()
        return summarise(writer, perClass: perClass, skipped: [], fingerprint: fingerprint)
    }

    // MARK: CIFAR binary

    private static func packCIFAR(
        _ release: CIFARRelease, output: String, options: PrepareOptions, progress: ((Int, Int) -> Void)?
    ) throws -> PrepareSummary {
        // Check every file before writing anything.
        var contents: [[UInt8]] = []
        for file in release.files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw PrepareError.cifarFileMissing(path: file)
            }
            guard data.count == release.recordsPerFile * release.recordBytes else {
                throw PrepareError.cifarFileSize(
                    path: file, bytes: data.count, expected: release.recordsPerFile * release.recordBytes,
                    records: release.recordsPerFile)
            }
            contents.append([UInt8](data))
        }
        let side = options.imageSize ?? 32
        let writer = try PackedDatasetWriter(path: output, height: side, width: side, classNames: release.classNames)
        let total = contents.reduce(0) { $0 + $1.count / release.recordBytes }
        var perClass = [Int](repeating: 0, count: release.classNames.count)
        var done = 0
        var image = [UInt8](repeating: 0, count: 32 * 32 * 3)
        for (file, bytes) in zip(release.files, contents) {
            for record in 0..<(bytes.count / release.recordBytes) {
                let base = record * release.recordBytes
                let label = Int(bytes[base + release.labelOffset])
                guard label < release.classNames.count else {
                    throw PrepareError.cifarLabel(
                        path: file, record: record, label: label, classes: release.classNames.count)
                }
                // Records hold planes (1024 R, 1024 G, 1024 B); the dataset holds interleaved RGB.
                let pixels = base + release.recordBytes - 3072
                for position in 0..<1024 {
                    image[3 * position] = bytes[pixels + position]
                    image[3 * position + 1] = bytes[pixels + 1024 + position]
                    image[3 * position + 2] = bytes[pixels + 2048 + position]
                }
                let resized = Resampler.resizeAndCenterCrop(RGBImage(width: 32, height: 32, pixels: image), side: side)
                try resized.withUnsafeBufferPointer { try writer.append(pixels: $0, label: label) }
                perClass[label] += 1
                done += 1
                if done % 5000 == 0 { progress?(done, total) }
            }
        }
        progress?(total, total)
        let fingerprint = try writer.finish()
        return summarise(writer, perClass: perClass, skipped: [], fingerprint: fingerprint)
    }

    // MARK: Image folder

    private enum Outcome {
        case image(RGBImage)
        case skipped(String)
    }

    private static func packFolder(
        _ listing: FolderListing, output: String, options: PrepareOptions, progress: ((Int, Int) -> Void)?
    ) throws -> PrepareSummary {
        var writer: PackedDatasetWriter?
        var skipped = listing.skipped
        var perClass = [Int](repeating: 0, count: listing.classNames.count)
        var reference: (path: String, width: Int, height: Int)?
        let files = listing.files
        let chunk = 1024
        var outcomes = [Outcome](repeating: .skipped(""), count: chunk)
        for first in stride(from: 0, to: files.count, by: chunk) {
            let items = min(chunk, files.count - first)

            // Decode (and resize) on all cores, each item into its own slot.
            outcomes.withUnsafeMutableBufferPointer { slots in
                let shared = SharedPointer(slots.baseAddress!)
                parallelFor(items, threads: options.threads) { item in
                    shared.pointer[item] = decode(path: files[first + item].path, side: options.imageSize)
                }
            }

            // Append in listing order, checking sizes against the first image when not resizing.
            for item in 0..<items {
                let (path, label) = files[first + item]
                switch outcomes[item] {
                case .skipped(let reason):
                    skipped.append(SkippedFile(path: path, reason: reason))
                case .image(let image):
                    if let reference, image.width != reference.width || image.height != reference.height {
                        throw PrepareError.mixedImageSizes(
                            first: reference.path, firstSize: "\(reference.width)x\(reference.height)", other: path,
                            otherSize: "\(image.width)x\(image.height)")
                    }
                    if writer == nil {
                        reference = (path, image.width, image.height)
                        writer = try PackedDatasetWriter(
                            path: output, height: image.height, width: image.width, classNames: listing.classNames)
                    }
                    try image.pixels.withUnsafeBufferPointer { try writer!.append(pixels: $0, label: label) }
                    if let label { perClass[label] += 1 }
                }
            }
            progress?(first + items, files.count)
        }
        // The folder part of a path, as given (relative paths stay relative).
        func folder(of path: String) -> String { path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "." }
        guard let writer else {
            throw PrepareError.noImages(
                path: folder(of: files[0].path), skipped: skipped.map { "\($0.path): \($0.reason)" })
        }
        if let empty = perClass.firstIndex(of: 0) {
            writer.abandon()
            let emptyFolder = folder(of: files.first { $0.label == empty }!.path)
            throw PrepareError.emptyClassFolder(
                path: emptyFolder,
                skipped: skipped.filter { folder(of: $0.path) == emptyFolder }.map { "\($0.path): \($0.reason)" })
        }
        let fingerprint = try writer.finish()
        return summarise(writer, perClass: perClass, skipped: skipped, fingerprint: fingerprint)
    }

    private static func decode(path: String, side: Int?) -> Outcome {
        guard let data = FileManager.default.contents(atPath: path) else { return .skipped("cannot be read") }
        do {
            let image = try ImageCodec.decode([UInt8](data))
            guard let side else { return .image(image) }
            return .image(RGBImage(width: side, height: side, pixels: Resampler.resizeAndCenterCrop(image, side: side)))
        } catch {
            return .skipped(error.reason)
        }
    }
}

/// A pointer handed to parallel workers that write disjoint elements; the hand-off back to the
/// caller happens when `parallelFor` returns.
struct SharedPointer<Element>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Element>
    init(_ pointer: UnsafeMutablePointer<Element>) { self.pointer = pointer }
}

/// Runs `body(item)` for `0..<count` on up to `threads` threads and returns when all are done.
func parallelFor(_ count: Int, threads: Int, _ body: @Sendable (Int) -> Void) {
    let workers = max(1, min(threads, count))
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        var item = worker
        while item < count {
            body(item)
            item += workers
        }
    }
}
