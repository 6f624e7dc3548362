// The execution settings every layer receives: how many compute threads to use, per-thread
// scratch memory, training or inference mode, and the hook through which batch-norm statistics
// can be reduced across workers. Layers never start threads of their own.

import CBLAS
import Dispatch
import Foundation

/// Whether batch norm uses batch statistics (and updates its running ones) or the running ones.
public enum Mode: Sendable {
    case training
    case inference
}

/// Sums per-channel batch statistics across the processes that share one global batch.
///
/// Batch norm calls `reduce` in forward with `[count, sum, sum of squares]` per channel and in
/// backward with `[sum dy, sum dy*xhat]` per channel, in `Double`. The local implementation does
/// nothing; the cluster's synchronised batch norm replaces the values with their sums over all
/// workers, which makes a step on W workers compute what one process with the whole batch would.
public protocol BatchStatisticsReducer: AnyObject {
    func reduce(_ values: UnsafeMutableBufferPointer<Double>)
}

/// Settings and scratch shared by the layers of one model. Owned by one driving thread.
public final class ComputeContext {
    /// Number of compute threads `parallelFor` spreads work over.
    public let threads: Int
    /// Training or inference; read by batch norm.
    public var mode: Mode = .training
    /// Where batch-norm statistics are summed across workers; `nil` means per-process statistics.
    public var batchStatisticsReducer: BatchStatisticsReducer?

    private var scratch: [FloatBuffer]

    /// - Parameter threads: compute threads; OpenBLAS itself is kept single-threaded so that each
    ///   of our threads owns its GEMMs and its scratch.
    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        precondition(threads >= 1, "ComputeContext: threads must be at least 1, got \(threads)")
        self.threads = threads
        scratch = (0..<threads).map { _ in FloatBuffer(count: 0) }
        openblas_set_num_threads(1)
    }

    /// Scratch storage private to compute thread `thread`, at least `count` floats, which an
    /// earlier `reserveScratch` must have provided. Callers must not keep it across layers.
    public func scratch(thread: Int, count: Int) -> UnsafeMutablePointer<Float> {
        precondition(scratch[thread].count >= count, "scratch: \(count) floats requested, reserve first")
        return scratch[thread].base
    }

    /// Makes sure every thread's scratch holds `count` floats. Call before `parallelFor`, from the
    /// driving thread; it allocates only while warming up.
    public func reserveScratch(count: Int) {
        for thread in 0..<threads where scratch[thread].count < count {
            scratch[thread] = FloatBuffer(count: count)
        }
    }

    /// Splits `0..<count` into at most `threads` contiguous ranges and runs `body(range, thread)`
    /// on each concurrently; returns when all are done.
    public func parallelFor(_ count: Int, _ body: (Range<Int>, Int) -> Void) {
        let parts = min(threads, count)
        if parts <= 1 {
            if count > 0 { body(0..<count, 0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let task = ParallelTask(body: body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                task.body(count * part / parts..<count * (part + 1) / parts, part)
            }
        }
    }
}

/// Carries a `parallelFor` body onto the compute threads. Sound because every caller's body
/// writes only the part of its outputs that its range names, and `parallelFor` returns only after
/// every part has finished.
private struct ParallelTask: @unchecked Sendable {
    let body: (Range<Int>, Int) -> Void
}
