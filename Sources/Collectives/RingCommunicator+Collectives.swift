// The collectives callers use: all-reduce (sum) of Floats and Doubles, all-gather of
// variable-size contributions, broadcast, barrier. Each picks a RingSchedule and runs it on the
// pipeline; none allocates per call except the small all-reduce path's reused scratch.

import Compute

extension RingCommunicator {
    // MARK: All-reduce

    /// Sums `buffer[0..<count]` over all ranks, in place. Every rank ends with the same bytes.
    ///
    /// Up to `configuration.smallMessageBytes` every rank gathers all vectors and sums them in rank
    /// order; above, ring reduce-scatter then all-gather, chunked and pipelined, each rank sending
    /// 2(W-1)/W of the buffer. Either way the summation order differs from a sequential sum, so
    /// results match it up to rounding. With zero-copy on, libzmq reads `buffer` directly; it is not
    /// referenced after the call returns (or throws).
    public func allReduce(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        try allReduce(UnsafeMutableRawPointer(buffer), count: count, elementSize: 4, add: addFloats)
    }

    /// Sums a `FloatBuffer` (e.g. the flat gradient buffer) over all ranks, in place.
    public func allReduce(_ buffer: FloatBuffer) throws {
        try allReduce(buffer.base, count: buffer.count)
    }

    /// Sums `buffer[0..<count]` of Doubles over all ranks, in place (batch-norm statistics, losses).
    public func allReduce(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {
        try allReduce(UnsafeMutableRawPointer(buffer), count: count, elementSize: 8, add: addDoubles)
    }

    /// Sums `values` over all ranks, in place.
    public func allReduce(_ values: inout [Double]) throws {
        let count = values.count
        try values.withUnsafeMutableBytes { bytes in
            try withBase(bytes) { try allReduce($0, count: count, elementSize: 8, add: addDoubles) }
        }
    }

    /// Sums `values` over all ranks, in place.
    public func allReduce(_ values: inout [Float]) throws {
        let count = values.count
        try values.withUnsafeMutableBytes { bytes in
            try withBase(bytes) { try allReduce($0, count: count, elementSize: 4, add: addFloats) }
        }
    }

    private func allReduce(_ buffer: UnsafeMutableRawPointer, count: Int, elementSize: Int, add: Adder) throws {
        precondition(count >= 0, "allReduce: negative count \(count)")
        try perform(.allReduce) {
            guard worldSize > 1 else { return }
            if count * elementSize <= configuration.smallMessageBytes {
                try gatherAndSum(buffer, count: count, elementSize: elementSize, add: add)
                return
            }
            let schedule = RingSchedule.allReduce(
                rank: rank, worldSize: worldSize, count: count, elementSize: elementSize,
                chunkBytes: configuration.chunkBytes)
            try runPipeline(
                schedule, buffer: buffer, zeroCopy: configuration.zeroCopy, timeout: configuration.timeout, add: add)
        }
    }

    /// The small-message all-reduce: gather every rank's vector, then sum them in rank order, which
    /// every rank does identically.
    private func gatherAndSum(_ buffer: UnsafeMutableRawPointer, count: Int, elementSize: Int, add: Adder) throws {
        let blockBytes = count * elementSize
        let scratch = scratchSpace(byteCount: worldSize * blockBytes)
        (scratch + rank * blockBytes).copyMemory(from: buffer, byteCount: blockBytes)
        let blocks = (0..<worldSize).map { $0 * blockBytes..<($0 + 1) * blockBytes }
        let schedule = RingSchedule.allGather(
            rank: rank, blocks: blocks, elementSize: elementSize, chunkBytes: configuration.chunkBytes)
        try runPipeline(schedule, buffer: scratch, zeroCopy: false, timeout: configuration.timeout, add: add)

        buffer.copyMemory(from: scratch, byteCount: blockBytes)
        for source in 1..<worldSize {
            add(buffer, scratch + source * blockBytes, blockBytes)
        }
    }

    /// A 64-byte aligned scratch area of at least `byteCount` bytes, kept between calls.
    private func scratchSpace(byteCount: Int) -> UnsafeMutableRawPointer {
        if scratchCapacity < byteCount || scratchCapacity == 0 {
            scratchStorage?.deallocate()
            scratchCapacity = max(byteCount, 64)
            scratchStorage = .allocate(byteCount: scratchCapacity, alignment: 64)
        }
        return scratchStorage!
    }

    // MARK: All-gather

    /// Concatenates every rank's contribution in rank order into `output` on every rank.
    /// - Parameters:
    ///   - contribution: this rank's `counts[rank]` floats.
    ///   - output: `counts.reduce(0, +)` floats; rank k's part starts at `counts[..<k].reduce(0, +)`.
    ///   - counts: every rank's contribution size, the same on all ranks (a rank whose peers disagree
    ///     gets `.unexpectedFrame`). Zero is allowed.
    public func allGather(
        _ contribution: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>, counts: [Int]
    ) throws {
        precondition(counts.count == worldSize, "allGather: \(counts.count) counts for \(worldSize) ranks")
        precondition(counts.allSatisfy { $0 >= 0 }, "allGather: negative count in \(counts)")
        precondition(contribution.count == counts[rank], "allGather: contribution size differs from counts[rank]")
        precondition(output.count == counts.reduce(0, +), "allGather: output size differs from the sum of counts")
        try perform(.allGather) {
            let offset = counts[..<rank].reduce(0, +)
            if let source = contribution.baseAddress, let target = output.baseAddress, source != target + offset {
                (target + offset).update(from: source, count: contribution.count)
            }
            guard worldSize > 1, let base = output.baseAddress else { return }
            var blocks: [Range<Int>] = []
            var lower = 0
            for count in counts {
                blocks.append(lower * 4..<(lower + count) * 4)
                lower += count
            }
            let schedule = RingSchedule.allGather(
                rank: rank, blocks: blocks, elementSize: 4, chunkBytes: configuration.chunkBytes)
            try runPipeline(
                schedule, buffer: UnsafeMutableRawPointer(base), zeroCopy: configuration.zeroCopy,
                timeout: configuration.timeout, add: addFloats)
        }
    }

    /// Gathers contributions whose sizes only their owners know: first the sizes, then the values.
    /// - Returns: the concatenation in rank order and every rank's count.
    public func allGather(_ contribution: [Float]) throws -> (values: [Float], counts: [Int]) {
        let counts = try allGatherCounts(contribution.count)
        var output = [Float](repeating: 0, count: counts.reduce(0, +))
        try contribution.withUnsafeBufferPointer { source in
            try output.withUnsafeMutableBufferPointer { try allGather(source, into: $0, counts: counts) }
        }
        return (output, counts)
    }

    /// Every rank's `count`, in rank order.
    public func allGatherCounts(_ count: Int) throws -> [Int] {
        precondition(count >= 0, "allGatherCounts: negative count \(count)")
        var values = [Int64](repeating: 0, count: worldSize)
        values[rank] = Int64(count)
        try perform(.allGather) {
            guard worldSize > 1 else { return }
            let blocks = (0..<worldSize).map { $0 * 8..<($0 + 1) * 8 }
            let schedule = RingSchedule.allGather(rank: rank, blocks: blocks, elementSize: 8, chunkBytes: 64)
            try values.withUnsafeMutableBytes { bytes in
                try runPipeline(
                    schedule, buffer: bytes.baseAddress!, zeroCopy: false, timeout: configuration.timeout,
                    add: addDoubles)
            }
            if let bad = values.firstIndex(where: { $0 < 0 }) {
                throw failure(.unexpectedFrame, peer: bad, "rank \(bad) announced \(values[bad]) elements")
            }
        }
        return values.map { Int($0) }
    }

    // MARK: Broadcast

    /// Copies `root`'s bytes into `bytes` on every other rank (state for a joining worker). Every
    /// rank passes a buffer of the same size.
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws {
        precondition((0..<worldSize).contains(root), "broadcast: root \(root) not in 0..<\(worldSize)")
        try perform(.broadcast) {
            guard worldSize > 1 else { return }
            let schedule = RingSchedule.broadcast(
                rank: rank, worldSize: worldSize, root: root, byteCount: bytes.count,
                chunkBytes: configuration.chunkBytes)
            try withBase(bytes) { base in
                try runPipeline(
                    schedule, buffer: base, zeroCopy: configuration.zeroCopy, timeout: configuration.timeout,
                    add: addFloats)
            }
        }
    }

    /// Copies `root`'s `buffer[0..<count]` to every other rank.
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, from root: Int) throws {
        try broadcast(UnsafeMutableRawBufferPointer(start: buffer, count: count * 4), from: root)
    }

    /// Copies `root`'s `FloatBuffer` to every other rank.
    public func broadcast(_ buffer: FloatBuffer, from root: Int) throws {
        try broadcast(buffer.base, count: buffer.count, from: root)
    }

    // MARK: Barrier

    /// Returns once every rank has entered the barrier.
    public func barrier() throws {
        try barrier(timeout: configuration.timeout)
    }

    func barrier(timeout: Duration) throws {
        try perform(.barrier) {
            // An all-gather of empty blocks: a rank's last message started W-1 ranks up the ring.
            let schedule = RingSchedule.allGather(
                rank: rank, blocks: Array(repeating: 0..<0, count: worldSize), elementSize: 1, chunkBytes: 64)
            var none: UInt64 = 0
            try withUnsafeMutableBytes(of: &none) { bytes in
                try runPipeline(schedule, buffer: bytes.baseAddress!, zeroCopy: false, timeout: timeout, add: addFloats)
            }
        }
    }
}

/// Runs `body` with the buffer's start, or with a dummy address for an empty buffer without one.
private func withBase<Result>(
    _ bytes: UnsafeMutableRawBufferPointer, _ body: (UnsafeMutableRawPointer) throws -> Result
) rethrows -> Result {
    if let base = bytes.baseAddress { return try body(base) }
    var dummy: UInt64 = 0
    return try withUnsafeMutableBytes(of: &dummy) { try body($0.baseAddress!) }
}
