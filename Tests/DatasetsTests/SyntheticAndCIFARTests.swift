// The built-in synthetic dataset (deterministic, balanced, fast) and the shared CIFAR-10 copy,
// which must prepare to its published counts; that test skips when the shared folder is absent.

import Datasets
import Foundation
import Testing

@Suite struct SyntheticAndCIFARTests {
    @Test func syntheticDatasetIsDeterministicAndBalanced() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        let first = try DatasetPreparer.prepare(
            source: .synthetic(count: 1000), output: folder.file("a.simclr"), options: PrepareOptions(seed: 1))
        let again = try DatasetPreparer.prepare(
            source: .synthetic(count: 1000), output: folder.file("b.simclr"),
            options: PrepareOptions(seed: 1, threads: 1))
        let other = try DatasetPreparer.prepare(
            source: .synthetic(count: 1000), output: folder.file("c.simclr"), options: PrepareOptions(seed: 2))
        #expect(first.fingerprint == again.fingerprint && first.fingerprint != other.fingerprint)
        #expect(first.imagesPerClass == [Int](repeating: 100, count: 10))
        #expect(first.classNames == SyntheticDataset.classNames)

        // Colour does not give the class away: the mean colour of each class is near the overall
        // mean. Over 100 images of independent random colours a class mean varies by about
        // 0.25 / sqrt(100) = 0.025 of the range; 0.1 is 4 such deviations.
        let dataset = try PackedDataset(path: folder.file("a.simclr"))
        var sums = [[Double]](repeating: [0, 0, 0], count: 10)
        for index in 0..<dataset.count {
            let pixels = dataset.pixels(at: index)
            for channel in 0..<3 {
                var total = 0
                for position in stride(from: channel, to: pixels.count, by: 3) { total += Int(pixels[position]) }
                sums[dataset.label(at: index)!][channel] += Double(total) / Double(pixels.count / 3) / 255
            }
        }
        let overall = (0..<3).map { channel in sums.map { $0[channel] }.reduce(0, +) / Double(dataset.count) }
        for label in 0..<10 {
            for channel in 0..<3 { #expect(abs(sums[label][channel] / 100 - overall[channel]) < 0.1) }
        }
    }

    /// Reported as skipped, not passed, where the shared folder is absent (a user's checkout).
    @Test(
        "the shared CIFAR-10 copy prepares to its published counts",
        .enabled(
            if: sharedDatasetsFolder() != nil,
            "no shared datasets folder (../shared/datasets or $SIMCLR_SHARED_DATASETS)"))
    func cifar10CopyPreparesToItsPublishedCounts() throws {
        let shared = try #require(sharedDatasetsFolder())
        // Unpack once into a cache folder under /tmp.
        let cache = NSTemporaryDirectory() + "/simclr-cifar10-jpeg-cache"
        let root = cache + "/cifar10-jpeg"
        if !FileManager.default.fileExists(atPath: root + "/test/truck") {
            try? FileManager.default.removeItem(atPath: cache)
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            let (status, _, error) = try run("/usr/bin/tar", ["-xzf", shared + "/cifar10-jpeg.tar.gz", "-C", cache])
            #expect(status == 0, "tar failed: \(error)")
        }
        let folder = ScratchFolder()
        defer { folder.remove() }
        for (split, perClass) in [(DatasetSplit.train, 5000), (.test, 1000)] {
            let summary = try DatasetPreparer.prepare(
                source: DatasetSource.recognise(root, split: split), output: folder.file("\(split).simclr"),
                options: PrepareOptions(split: split))
            #expect(summary.count == 10 * perClass && summary.skipped.isEmpty)
            #expect(summary.imagesPerClass == [Int](repeating: perClass, count: 10))
            #expect(summary.classNames.first == "airplane" && summary.classNames.last == "truck")
            let dataset = try PackedDataset(path: folder.file("\(split).simclr"))
            #expect(dataset.count == 10 * perClass && dataset.height == 32 && dataset.width == 32)
            try dataset.verify()
        }
    }
}
