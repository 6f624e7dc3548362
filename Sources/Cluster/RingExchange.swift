// The SimCLR step's exchange hooks over a ZeroMQ ring: the all-gather of unit embeddings for
// the global-batch NT-Xent loss, the sum of the embedding gradients and of the loss, the
// all-reduce of the flat parameter gradient, and synchronised batch norm. Which samples a rank
// holds is the plan's (`setRows`); forming the ring and recovering from its failures is the
// caller's.

import Collectives
import Compute
import Training

/// One rank's exchange with the others for one step after another.
///
/// Rows of the global batch are in rank order: rank k's `rows[k]` views follow those of ranks
/// `0..<k`, which is the single-process order when the plan hands each rank consecutive samples.
public final class RingExchange: EmbeddingExchange, GradientReduction, BatchStatisticsReducer {
    public let ring: RingCommunicator
    /// Batch-norm statistics are summed over the ring when set (the default with several ranks);
    /// otherwise each rank normalises with its own batch, as in data-parallel training without it.
    public let synchronizeBatchNorm: Bool
    /// Views each rank computes this step, in rank order.
    public private(set) var rows: [Int]
    /// The first failure inside a batch-norm reduction, which cannot throw through the layer; the
    /// step reports it (`checkFailure`) once the layer returns.
    private var failure: Error?
    /// Reused from step to step; they grow only when a step's batch is larger than any before.
    private var globalStorage = FloatBuffer(count: 0)
    private var localStorage = FloatBuffer(count: 0)
    private var lossScratch = [Double](repeating: 0, count: 1)

    public init(ring: RingCommunicator, synchronizeBatchNorm: Bool) {
        self.ring = ring
        self.synchronizeBatchNorm = synchronizeBatchNorm
        rows = [Int](repeating: 0, count: ring.worldSize)
    }

    /// Sets the number of views (twice the samples) of every rank for the coming step.
    public func setRows(_ rows: [Int]) {
        precondition(rows.count == ring.worldSize, "RingExchange: \(rows.count) row counts for \(ring.worldSize) ranks")
        self.rows = rows
    }

    /// Installs this exchange as the context's batch-statistics reducer (or removes it when batch
    /// norm is not synchronised).
    public func attach(to context: ComputeContext) {
        context.batchStatisticsReducer = synchronizeBatchNorm && ring.worldSize > 1 ? self : nil
    }

    /// Throws the failure of a batch-norm reduction met since the last call.
    public func checkFailure() throws {
        if let failure {
            self.failure = nil
            throw failure
        }
    }

    // MARK: EmbeddingExchange

    /// `local: [2b, D]` → `global: [2B, D]` in rank order, and this rank's rows of it.
    public func gather(_ local: Tensor) throws -> (global: Tensor, rows: Range<Int>) {
        try checkFailure()
        let width = local.shape.sampleCount
        precondition(
            local.shape.n == rows[ring.rank], "RingExchange: \(local.shape.n) local rows, plan says \(rows[ring.rank])")
        let total = rows.reduce(0, +)
        if globalStorage.count < total * width { globalStorage = FloatBuffer(count: total * width) }
        try ring.allGather(
            UnsafeBufferPointer(start: local.pointer, count: local.shape.count),
            into: UnsafeMutableBufferPointer(start: globalStorage.base, count: total * width),
            counts: rows.map { $0 * width })
        let first = rows[..<ring.rank].reduce(0, +)
        return (Tensor(storage: globalStorage, shape: Shape(total, width)), first..<first + rows[ring.rank])
    }

    /// Sums every rank's `[2B, D]` gradient of its own loss terms and returns this rank's rows: the
    /// gradient of the global loss with respect to its embeddings, other ranks' terms included.
    public func reduceGradient(_ global: Tensor, rows: Range<Int>) throws -> Tensor {
        try ring.allReduce(global.pointer, count: global.shape.count)
        let width = global.shape.sampleCount
        if localStorage.count < rows.count * width { localStorage = FloatBuffer(count: rows.count * width) }
        let local = Tensor(storage: localStorage, shape: Shape(rows.count, width))
        local.pointer.update(from: global.pointer + rows.lowerBound * width, count: rows.count * width)
        return local
    }

    public func reduceLoss(_ partial: Double) throws -> Double {
        lossScratch[0] = partial
        try ring.allReduce(&lossScratch)
        return lossScratch[0]
    }

    // MARK: GradientReduction

    public func allReduce(_ gradients: FloatBuffer) throws {
        try checkFailure()
        try ring.allReduce(gradients)
    }

    // MARK: BatchStatisticsReducer

    public func reduce(_ values: UnsafeMutableBufferPointer<Double>) {
        guard failure == nil, let base = values.baseAddress else { return }
        do {
            try ring.allReduce(base, count: values.count)
        } catch {
            failure = error
        }
    }
}
