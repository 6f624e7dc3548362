// `simclr prepare`: packs a source of images into the project's dataset file, showing progress on
// stderr and a summary at the end (or JSON on stdout with --json). The work is DatasetPreparer's.

import Datasets
import Foundation

enum PrepareCommand: Command {
    static let name = "prepare"
    static let summary = "pack images into a dataset file"
    static let usage = """
        Usage: simclr prepare SOURCE --output FILE [--image-size N] [--split train|test] [--seed S]
                              [--threads N] [--json]

        SOURCE is one of:
          synthetic:N        N procedurally drawn images of 10 shape classes, each repeated across
                             the frame in random muted colours (--seed picks the set; use two
                             seeds for a train and a test set)
          a CIFAR-10 folder  data_batch_1..5.bin (train) and test_batch.bin (test)
          a CIFAR-100 folder train.bin and test.bin, fine labels
          an image folder    JPEG/PNG files in one subfolder per class (labeled), or directly in
                             the folder (an unlabeled pool); a folder holding train/ and test/
                             is split: SOURCE/train by default, SOURCE/test with --split test

        --split picks train (default) or test of a CIFAR or split folder. --image-size N resizes
        every image (shorter side to N, centre crop to N x N); without it the source's own size is
        kept, which all images must share. Unreadable or corrupt files are skipped and listed in the summary; a
        class folder with no usable image is an error. The output appears only when complete.
        """

    static func run(_ argv: [String]) throws {
        let arguments = try Arguments(argv, booleanFlags: ["json"])
        let output = try arguments.require("output")
        guard !output.isEmpty else { throw UsageError("--output needs a file name") }
        let imageSize = try arguments.int("image-size")
        let splitText = arguments.string("split")
        let seed = try arguments.int("seed") ?? 0
        let threads = try arguments.int("threads") ?? ProcessInfo.processInfo.activeProcessorCount
        let json = arguments.flag("json")
        try arguments.finish(allowPositionals: 1)
        guard let sourceText = arguments.positionals.first else { throw UsageError("missing SOURCE") }
        if let imageSize, imageSize < 8 || imageSize > 4096 { throw UsageError("--image-size must be in 8...4096") }
        guard threads > 0 else { throw UsageError("--threads must be positive") }
        guard seed >= 0 else { throw UsageError("--seed must not be negative") }
        var split: DatasetSplit?
        if let splitText {
            split = try DatasetSplit(rawValue: splitText).orThrow(UsageError("--split must be train or test"))
        }

        let source = try DatasetSource.recognise(sourceText, split: split)
        let options = PrepareOptions(imageSize: imageSize, split: split, seed: UInt64(seed), threads: threads)
        let bar = ProgressBar(label: "prepare")
        let summary = try DatasetPreparer.prepare(source: source, output: output, options: options) { done, total in
            bar.update(done: done, total: total)
        }
        bar.finish()

        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            return
        }
        var lines = [
            String(
                format: "%@: %d images of %dx%d in %.1f s, fingerprint %@", summary.output, summary.count,
                summary.height, summary.width, summary.seconds, summary.fingerprint)
        ]
        for (name, count) in zip(summary.classNames, summary.imagesPerClass) { lines.append("  \(name): \(count)") }
        if summary.classNames.isEmpty { lines.append("  unlabeled") }
        if !summary.skipped.isEmpty {
            lines.append("skipped \(summary.skipped.count) file(s):")
            for file in summary.skipped { lines.append("  \(file.path): \(file.reason)") }
        }
        print(lines.joined(separator: "\n"))
    }
}

/// A progress line on stderr: redrawn in place on a terminal, one line per 10% otherwise so that
/// CI logs stay short.
final class ProgressBar {
    private let label: String
    private let interactive = isatty(2) == 1
    private var lastTenth = -1
    private var drawn = false

    init(label: String) { self.label = label }

    func update(done: Int, total: Int) {
        guard total > 0 else { return }
        let fraction = Double(done) / Double(total)
        if interactive {
            let filled = Int(fraction * 30)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
            write("\r\(label) [\(bar)] \(done)/\(total)")
            drawn = true
        } else if Int(fraction * 10) > lastTenth {
            lastTenth = Int(fraction * 10)
            write("\(label): \(done)/\(total)\n")
        }
    }

    func finish() {
        if drawn { write("\n") }
        drawn = false
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
