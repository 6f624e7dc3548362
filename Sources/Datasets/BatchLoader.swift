// The prefetching loader: the caller names the samples of future batches, background threads make
// their views into a fixed ring of preallocated batch tensors, and the caller takes finished batches
// in submission order. Memory is bounded by the ring; only index lists queue without bound.

import Compute
import Foundation

/// One finished batch. `images` is a view into a loader slot: it stays valid until the next call
/// of `next()` (or `close()`), after which the slot is refilled.
public struct LoadedBatch: Sendable {
    /// `[V * B, 3, S, S]`: with two views per sample, rows `2i` and `2i + 1` are the two views of
    /// `indices[i]` (the interleaved order NT-Xent expects); with one view, row `i` is `indices[i]`.
    public let images: Tensor
    public let indices: [Int]
    /// Label per sample (`B` entries), -1 for an unlabeled dataset.
    public let labels: [Int32]
    public let epoch: Int
    public let viewsPerSample: Int
    /// How long `next()` blocked waiting for this batch, in seconds.
    public let waitSeconds: Double
    /// From the moment the loader started this batch until its last view was written, in seconds.
    public let preparationSeconds: Double
}

/// The loader's counters since it was created.
public struct LoaderStatistics: Sendable, Equatable {
    public var batches = 0
    public var views = 0
    /// Sum over background threads of the time spent making views.
    public var busySeconds = 0.0
    /// Sum of `LoadedBatch.preparationSeconds` over the batches handed out.
    public var preparationSeconds = 0.0
    /// Total time the caller waited in `next()`.
    public var waitSeconds = 0.0

    /// Views made per second of one thread's work: the per-core throughput.
    public var viewsPerBusySecond: Double { busySeconds > 0 ? Double(views) / busySeconds : 0 }
    public var millisecondsPerBatch: Double { batches > 0 ? 1000 * preparationSeconds / Double(batches) : 0 }
}

/// Prepares batches of augmented views on `threads` background threads while the caller computes.
public final class BatchLoader {
    public let augmenter: Augmenter
    public let viewsPerSample: Int
    public let maximumBatchSize: Int
    private let state: LoaderState

    /// - Parameters:
    ///   - threads: background threads making views (at least 1).
    ///   - maximumBatchSize: the largest `B` that `submit` accepts; slots are sized for it.
    ///   - viewsPerSample: 2 for SimCLR pretraining, 1 for evaluation or supervised training.
    ///   - slots: batches held at once, including the one the caller is using (at least 2).
    public init(
        dataset: PackedDataset, configuration: AugmentationConfiguration, seed: UInt64, threads: Int,
        maximumBatchSize: Int, viewsPerSample: Int = 2, slots: Int = 3
    ) {
        precondition(threads >= 1 && maximumBatchSize >= 1 && slots >= 2, "BatchLoader: bad sizes")
        precondition(viewsPerSample == 1 || viewsPerSample == 2, "BatchLoader: 1 or 2 views per sample")
        augmenter = Augmenter(dataset: dataset, configuration: configuration, seed: seed)
        self.viewsPerSample = viewsPerSample
        self.maximumBatchSize = maximumBatchSize
        let slotCount = viewsPerSample * maximumBatchSize * augmenter.viewCount
        state = LoaderState(
            slots: (0..<slots).map { _ in FloatBuffer(count: slotCount) }, augmenter: augmenter,
            viewsPerSample: viewsPerSample)
        for number in 0..<threads {
            let state = self.state
            let thread = Thread { state.work() }
            thread.name = "BatchLoader-\(number)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    deinit { close() }

    /// Queues the samples of a future batch; `next()` returns batches in the order submitted.
    public func submit(indices: [Int], epoch: Int) throws {
        guard indices.count <= maximumBatchSize else {
            throw LoaderError.batchTooLarge(size: indices.count, maximum: maximumBatchSize)
        }
        let count = augmenter.dataset.count
        if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
            throw LoaderError.indexOutOfRange(index: bad, count: count)
        }
        try state.submit(indices: indices, epoch: epoch)
    }

    /// The oldest submitted batch, waiting for it if needed. Releases the previous batch's slot.
    public func next() throws -> LoadedBatch {
        let (slot, request, waited, prepared) = try state.next()
        let shape = Shape(
            viewsPerSample * request.indices.count, 3, augmenter.configuration.imageSize,
            augmenter.configuration.imageSize)
        let dataset = augmenter.dataset
        let labels = request.indices.map { Int32(dataset.label(at: $0) ?? -1) }
        return LoadedBatch(
            images: Tensor(storage: slot, shape: shape), indices: request.indices, labels: labels,
            epoch: request.epoch, viewsPerSample: viewsPerSample, waitSeconds: waited, preparationSeconds: prepared)
    }

    public var statistics: LoaderStatistics { state.statistics() }

    /// Stops the background threads after their current piece of work; later calls throw `.closed`.
    public func close() { state.close() }
}

/// The shared state of a loader and its threads. Every stored property is read and written only
/// with `condition` locked (the invariant behind `@unchecked Sendable`); slot memory is written by
/// one thread per disjoint chunk and read by the caller only after the batch is marked ready.
private final class LoaderState: @unchecked Sendable {
    struct Request {
        var indices: [Int]
        var epoch: Int
    }

    private struct Chunk {
        var slot: Int
        var samples: Range<Int>
    }

    private struct Batch {
        var request: Request
        var slot: Int?
        var remainingChunks = 0
        var started: UInt64 = 0
        var finished: UInt64 = 0
    }

    private let condition = NSCondition()
    private let slots: [FloatBuffer]
    private let augmenter: Augmenter
    private let viewsPerSample: Int
    private var freeSlots: [Int]
    private var heldSlot: Int?
    /// Submitted batches not yet handed out, oldest first; the first ones own slots.
    private var batches: [Batch] = []
    private var chunks: [Chunk] = []
    private var closed = false
    private var counters = LoaderStatistics()

    init(slots: [FloatBuffer], augmenter: Augmenter, viewsPerSample: Int) {
        self.slots = slots
        self.augmenter = augmenter
        self.viewsPerSample = viewsPerSample
        freeSlots = Array(slots.indices.reversed())
    }

    func submit(indices: [Int], epoch: Int) throws {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { throw LoaderError.closed }
        batches.append(Batch(request: Request(indices: indices, epoch: epoch)))
        startWaitingBatches()
    }

    func next() throws -> (FloatBuffer, Request, Double, Double) {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { throw LoaderError.closed }

        // The caller is done with the previous batch: its slot can take the next request.
        if let held = heldSlot {
            freeSlots.append(held)
            heldSlot = nil
            startWaitingBatches()
        }
        guard !batches.isEmpty else { throw LoaderError.nothingSubmitted }

        let waitStart = DispatchTime.now().uptimeNanoseconds
        while !closed && !(batches[0].slot != nil && batches[0].remainingChunks == 0) { condition.wait() }
        guard !closed else { throw LoaderError.closed }
        let waited = Double(DispatchTime.now().uptimeNanoseconds - waitStart) / 1e9

        let batch = batches.removeFirst()
        heldSlot = batch.slot
        let prepared = Double(batch.finished - batch.started) / 1e9
        counters.batches += 1
        counters.views += viewsPerSample * batch.request.indices.count
        counters.preparationSeconds += prepared
        counters.waitSeconds += waited
        return (slots[batch.slot!], batch.request, waited, prepared)
    }

    func statistics() -> LoaderStatistics {
        condition.lock()
        defer { condition.unlock() }
        return counters
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Gives free slots to the oldest batches without one and queues their chunks. Lock held.
    private func startWaitingBatches() {
        var started = false
        for position in batches.indices where batches[position].slot == nil {
            guard let slot = freeSlots.popLast() else { break }
            let count = batches[position].request.indices.count
            // Chunks of 8 samples: small enough to balance threads, large enough to amortise locking.
            let pieces = stride(from: 0, to: count, by: 8).map { Chunk(slot: slot, samples: $0..<min(count, $0 + 8)) }
            batches[position].slot = slot
            batches[position].remainingChunks = pieces.count
            batches[position].started = DispatchTime.now().uptimeNanoseconds
            batches[position].finished = batches[position].started
            chunks += pieces
            started = true
        }
        if started { condition.broadcast() }
    }

    /// The body of a background thread: take a chunk, make its views, report, repeat.
    func work() {
        let viewFloats = augmenter.viewCount
        while true {
            condition.lock()
            while !closed && chunks.isEmpty { condition.wait() }
            if closed {
                condition.unlock()
                return
            }
            let chunk = chunks.removeFirst()
            guard let position = batches.firstIndex(where: { $0.slot == chunk.slot }) else {
                preconditionFailure("BatchLoader: chunk for a slot without a batch")
            }
            let request = batches[position].request
            condition.unlock()

            let start = DispatchTime.now().uptimeNanoseconds
            let output = slots[chunk.slot].base
            for sample in chunk.samples {
                for view in 0..<viewsPerSample {
                    augmenter.writeView(
                        index: request.indices[sample], epoch: request.epoch, view: view,
                        into: output + (sample * viewsPerSample + view) * viewFloats)
                }
            }
            let end = DispatchTime.now().uptimeNanoseconds

            condition.lock()
            counters.busySeconds += Double(end - start) / 1e9
            if let position = batches.firstIndex(where: { $0.slot == chunk.slot }) {
                batches[position].remainingChunks -= 1
                if batches[position].remainingChunks == 0 {
                    batches[position].finished = end
                    condition.broadcast()
                }
            }
            condition.unlock()
        }
    }
}
