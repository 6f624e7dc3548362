// Helpers shared by the Datasets tests: scratch folders under /tmp, small dataset files written
// from given pixels, and the location of the shared CIFAR-10 copy and the built `simclr` tool.

import Datasets
import Foundation

/// A fresh folder under /tmp, removed by `remove()`.
struct ScratchFolder {
    let path: String

    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "/simclr-datasets-\(safe)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ bytes: [UInt8], to name: String) {
        let full = file(name)
        try! FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: full).deletingLastPathComponent().path, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: full, contents: Data(bytes))
    }

    /// Names in the folder, hidden ones included.
    func contents() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path).sorted()) ?? [] }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Writes a dataset of `images` (each `[height, width, 3]`) and returns it opened.
func makeDataset(
    at path: String, height: Int, width: Int, images: [[UInt8]], labels: [Int]? = nil, classNames: [String] = []
) throws -> PackedDataset {
    let writer = try PackedDatasetWriter(path: path, height: height, width: width, classNames: classNames)
    for (number, image) in images.enumerated() {
        try image.withUnsafeBufferPointer { try writer.append(pixels: $0, label: labels?[number]) }
    }
    try writer.finish()
    return try PackedDataset(path: path)
}

/// Deterministic pseudo-random bytes (a smooth pattern plus noise, so JPEG keeps it well).
func testImage(width: Int, height: Int, seed: Int) -> [UInt8] {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            for channel in 0..<3 {
                let value = (x * (3 + channel) + y * (5 - channel) + seed * 17) % 256
                pixels[(y * width + x) * 3 + channel] = UInt8(value)
            }
        }
    }
    return pixels
}

/// The shared datasets folder: $SIMCLR_SHARED_DATASETS, or `../shared/datasets` next to the
/// repository (found by walking up from this file). nil when absent.
func sharedDatasetsFolder() -> String? {
    if let path = ProcessInfo.processInfo.environment["SIMCLR_SHARED_DATASETS"],
        FileManager.default.fileExists(atPath: path)
    {
        return path
    }
    var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while folder.path != "/" {
        let candidate = folder.appendingPathComponent("shared/datasets").path
        if FileManager.default.fileExists(atPath: candidate + "/cifar10-jpeg.tar.gz") { return candidate }
        folder.deleteLastPathComponent()
    }
    return nil
}

/// The `simclr` executable built next to the test bundle, if any.
func simclrExecutable() -> String? {
    var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        folder = URL(fileURLWithPath: resolved).deletingLastPathComponent()
    }
    let candidate = folder.appendingPathComponent("simclr").path
    return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
}

/// Runs `executable` with `arguments`; returns (exit status, stdout, stderr).
func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (
        process.terminationStatus, String(decoding: outputData, as: UTF8.self),
        String(decoding: errorData, as: UTF8.self)
    )
}
