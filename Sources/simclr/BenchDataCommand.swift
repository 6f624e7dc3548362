// `simclr bench-data`: measures how fast the loader makes augmented views from a dataset file, in
// views per second in total and per thread, to compare with what a training step consumes. With
// --views-digest it instead prints a checksum of chosen views (used to compare processes).

import Compute
import Datasets
import Foundation

enum BenchDataCommand: Command {
    static let name = "bench-data"
    static let summary = "time loading and augmentation (views per second)"
    static let usage = """
        Usage: simclr bench-data --data FILE [--threads N] [--batch-size N] [--seconds N]
                                 [--image-size N] [--mode simclr|crop-flip|evaluation] [--blur]
                                 [--seed S] [--json]
               simclr bench-data --data FILE --views-digest --indices I,J,... [--epoch E] [--seed S]

        Runs the prefetching loader on random batches of `--batch-size` samples (two views each) for
        `--seconds` seconds and reports views per second, in total and per loader thread. Defaults:
        all cores, batch 256, 5 seconds, the dataset's own size, SimCLR augmentations.
        --views-digest prints a checksum of both views of the listed samples instead.
        """

    static func run(_ argv: [String]) throws {
        let arguments = try Arguments(argv, booleanFlags: ["json", "views-digest", "blur"])
        let path = try arguments.require("data")
        let threads = try arguments.int("threads") ?? ProcessInfo.processInfo.activeProcessorCount
        var batch = try arguments.int("batch-size") ?? 256
        let seconds = try arguments.float("seconds") ?? 5
        let seed = try arguments.int("seed") ?? 0
        let epoch = try arguments.int("epoch") ?? 0
        let imageSize = try arguments.int("image-size")
        let modeText = arguments.string("mode", default: "simclr")
        let blur = arguments.flag("blur")
        let json = arguments.flag("json")
        let digest = arguments.flag("views-digest")
        let indicesText = arguments.string("indices")
        try arguments.finish()
        guard threads > 0, batch > 0, seconds > 0, seed >= 0 else {
            throw UsageError("threads, batch size, seconds must be positive and the seed not negative")
        }
        let modes: [String: AugmentationConfiguration.Mode] = [
            "simclr": .simclr, "crop-flip": .cropAndFlip, "evaluation": .evaluation,
        ]
        let mode = try modes[modeText].orThrow(UsageError("--mode must be simclr, crop-flip or evaluation"))

        let dataset = try PackedDataset(path: path)
        // A batch cannot hold more samples than the dataset has.
        batch = min(batch, dataset.count)
        var configuration = AugmentationConfiguration(mode: mode, imageSize: imageSize ?? dataset.height)
        if blur { configuration.blur = true }

        if digest {
            let text = try indicesText.orThrow(UsageError("--views-digest needs --indices"))
            let indices = try text.split(separator: ",").map {
                try Int($0).orThrow(UsageError("--indices expects integers separated by commas"))
            }
            let augmenter = Augmenter(dataset: dataset, configuration: configuration, seed: UInt64(seed))
            print(try augmenter.viewsDigest(indices: indices, epoch: epoch, viewsPerSample: 2))
            return
        }

        let loader = BatchLoader(
            dataset: dataset, configuration: configuration, seed: UInt64(seed), threads: threads,
            maximumBatchSize: batch)
        var generator = SeededGenerator(seed: UInt64(seed), 0xBE4C)
        var order = Array(0..<dataset.count)
        var cursor = order.count
        func nextIndices() -> [Int] {
            if cursor + batch > order.count {
                order.shuffle(using: &generator)
                cursor = 0
            }
            defer { cursor += batch }
            return Array(order[cursor..<min(order.count, cursor + batch)])
        }

        // Keep two batches in flight, as a training loop would, and take batches as fast as they come.
        try loader.submit(indices: nextIndices(), epoch: 0)
        try loader.submit(indices: nextIndices(), epoch: 0)
        _ = try loader.next()  // warm-up
        let before = loader.statistics
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        var batches = 0
        while elapsed < Double(seconds) {
            try loader.submit(indices: nextIndices(), epoch: 0)
            _ = try loader.next()
            batches += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        let after = loader.statistics
        loader.close()

        let views = after.views - before.views
        let total = Double(views) / elapsed
        let busy = after.busySeconds - before.busySeconds
        let perThread = busy > 0 ? Double(views) / busy : 0
        let cores = min(threads, ProcessInfo.processInfo.activeProcessorCount)
        let figures: [String: Any] = [
            "data": path, "threads": threads, "cores": cores, "batch_size": batch,
            "image_size": configuration.imageSize,
            "mode": modeText, "blur": configuration.blur, "batches": batches, "seconds": elapsed,
            "views_per_second": total, "views_per_second_per_core": total / Double(cores),
            "views_per_busy_thread_second": perThread,
            "batch_ms": 1000 * (after.preparationSeconds - before.preparationSeconds) / Double(batches),
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(
                String(
                    format:
                        "%d threads, batch %d (%d views of %dpx): %.0f views/s total, %.0f per core, "
                        + "%.0f per busy thread-second; %.1f ms per batch",
                    threads, batch, 2 * batch, configuration.imageSize, total, total / Double(cores), perThread,
                    figures["batch_ms"] as! Double))
        }
    }
}
