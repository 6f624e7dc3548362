// The loader and the determinism the cluster relies on: a view is the same bytes whatever the
// number of loader threads, the split of a batch into local batches, or the process that makes it.

import Compute
import Datasets
import Foundation
import Testing

@Suite struct BatchLoaderTests {
    func syntheticDataset(_ folder: ScratchFolder, count: Int = 200) throws -> PackedDataset {
        _ = try DatasetPreparer.prepare(
            source: .synthetic(count: count), output: folder.file("s.simclr"), options: PrepareOptions(seed: 7))
        return try PackedDataset(path: folder.file("s.simclr"))
    }

    /// The bytes of rows `rows` of a batch.
    func rows(_ batch: LoadedBatch, _ rows: Range<Int>) -> [Float] {
        let count = batch.images.shape.sampleCount
        return Array(UnsafeBufferPointer(start: batch.images.sample(rows.lowerBound), count: rows.count * count))
    }

    @Test func batchesComeInOrderWithInterleavedViewsAndLabels() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        let dataset = try syntheticDataset(folder)
        let configuration = AugmentationConfiguration.simclr(imageSize: 32)
        let loader = BatchLoader(
            dataset: dataset, configuration: configuration, seed: 11, threads: 2, maximumBatchSize: 16, slots: 2)
        let requests = [Array(0..<16), [199, 3, 3, 50], Array(100..<110)]
        for (epoch, indices) in requests.enumerated() { try loader.submit(indices: indices, epoch: epoch) }

        let augmenter = Augmenter(dataset: dataset, configuration: configuration, seed: 11)
        var view = [Float](repeating: 0, count: augmenter.viewCount)
        for (epoch, indices) in requests.enumerated() {
            let batch = try loader.next()
            #expect(batch.indices == indices && batch.epoch == epoch)
            #expect(batch.images.shape == Shape(2 * indices.count, 3, 32, 32))
            #expect(batch.labels == indices.map { Int32(SyntheticDataset.label(of: $0)) })
            for (position, index) in indices.enumerated() {
                for number in 0..<2 {
                    view.withUnsafeMutableBufferPointer {
                        augmenter.writeView(index: index, epoch: epoch, view: number, into: $0.baseAddress!)
                    }
                    #expect(rows(batch, (2 * position + number)..<(2 * position + number + 1)) == view)
                }
            }
            // The two views of a sample differ (different random streams).
            #expect(rows(batch, 0..<1) != rows(batch, 1..<2))
        }
        let statistics = loader.statistics
        #expect(statistics.batches == 3 && statistics.views == 2 * 30 && statistics.busySeconds > 0)
        #expect(throws: LoaderError.nothingSubmitted) { try loader.next() }
        #expect(throws: LoaderError.indexOutOfRange(index: 200, count: 200)) {
            try loader.submit(indices: [200], epoch: 0)
        }
        #expect(throws: LoaderError.batchTooLarge(size: 17, maximum: 16)) {
            try loader.submit(indices: Array(0..<17), epoch: 0)
        }
        loader.close()
        #expect(throws: LoaderError.closed) { try loader.submit(indices: [1], epoch: 0) }
    }

    @Test func viewsAreIdenticalAcrossThreadCountsAndBatchSplits() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        let dataset = try syntheticDataset(folder)
        var configuration = AugmentationConfiguration.simclr(imageSize: 32)
        configuration.blur = true  // exercise every operation
        let indices = Array((0..<48).map { ($0 * 37) % 200 })

        // One batch on one thread: the reference.
        let single = BatchLoader(
            dataset: dataset, configuration: configuration, seed: 5, threads: 1, maximumBatchSize: 48)
        try single.submit(indices: indices, epoch: 3)
        let reference = rows(try single.next(), 0..<96)

        // The same global batch split 3 ways (like 3 workers) on 3 threads, and 2 ways on 2 threads.
        for (threads, cuts) in [(3, [0, 10, 31, 48]), (2, [0, 24, 48])] {
            let loader = BatchLoader(
                dataset: dataset, configuration: configuration, seed: 5, threads: threads, maximumBatchSize: 48)
            for part in 0..<(cuts.count - 1) {
                try loader.submit(indices: Array(indices[cuts[part]..<cuts[part + 1]]), epoch: 3)
            }
            var gathered: [Float] = []
            for part in 0..<(cuts.count - 1) {
                gathered += rows(try loader.next(), 0..<(2 * (cuts[part + 1] - cuts[part])))
            }
            #expect(gathered == reference, "threads \(threads), cuts \(cuts)")
        }
    }

    @Test func oneViewPerSampleForEvaluation() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        let dataset = try syntheticDataset(folder)
        let loader = BatchLoader(
            dataset: dataset, configuration: .evaluation(imageSize: 32), seed: 0, threads: 2, maximumBatchSize: 8,
            viewsPerSample: 1)
        try loader.submit(indices: [4, 2], epoch: 0)
        let batch = try loader.next()
        #expect(batch.images.shape == Shape(2, 3, 32, 32) && batch.viewsPerSample == 1)
        // Row 1 is sample 2 normalised: check its first red value (tolerance 1e-5).
        let red = Float(dataset.pixels(at: 2)[0]) / 255
        #expect(abs(batch.images.sample(1)[0] - (red - 0.4914) / 0.2470) < 1e-5)
    }

    @Test func viewsAreIdenticalAcrossProcesses() throws {
        guard let simclr = simclrExecutable() else {
            Issue.record("the simclr executable is not built next to the tests; run `swift build` first")
            return
        }
        let folder = ScratchFolder()
        defer { folder.remove() }
        let dataset = try syntheticDataset(folder)
        let indices = [0, 17, 199, 64, 3]
        let augmenter = Augmenter(dataset: dataset, configuration: .simclr(imageSize: 32), seed: 21)
        let here = try augmenter.viewsDigest(indices: indices, epoch: 6, viewsPerSample: 2)
        let (status, output, error) = try run(
            simclr,
            [
                "bench-data", "--data", folder.file("s.simclr"), "--views-digest", "--indices", "0,17,199,64,3",
                "--epoch", "6", "--seed", "21",
            ])
        #expect(status == 0, "\(error)")
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == here)
        // And the digest does see a change of epoch.
        #expect(try augmenter.viewsDigest(indices: indices, epoch: 7, viewsPerSample: 2) != here)
    }
}
