// Which byte ranges a rank sends to its right neighbour and receives from its left, in which
// order, and which receive each send waits for: the ring algorithms as plain data. Moving the
// bytes is RingCommunicator's (the pipeline); this file does no I/O.

/// One rank's stream of chunks for a ring operation. Chunk `i` of the send stream may go once the
/// first `sendNeeds[i]` chunks of the receive stream have been applied; both streams are in the
/// order the neighbours use, so sender and receiver agree on every index.
struct RingSchedule {
    /// Byte ranges of the operation's buffer to send, in order.
    var sends: [Range<Int>] = []
    var sendNeeds: [Int] = []
    /// Byte ranges of the buffer that received chunks land in, in order.
    var receives: [Range<Int>] = []
    /// The first `addingReceives` received chunks are added into the buffer; the rest replace it.
    var addingReceives = 0

    /// Ring all-reduce of `count` elements: W-1 reduce-scatter steps then W-1 all-gather steps.
    /// Segment k is elements [count*k/W, count*(k+1)/W); each is cut into the same number of chunks
    /// so that chunk j of step t can go as soon as chunk j of step t-1 arrived. After step W-2 rank r
    /// holds the full sum of segment r+1, which the all-gather copies everywhere unchanged: every rank
    /// ends with the same bytes.
    static func allReduce(rank: Int, worldSize: Int, count: Int, elementSize: Int, chunkBytes: Int) -> RingSchedule {
        let segments = (0..<worldSize).map { count * $0 / worldSize..<count * ($0 + 1) / worldSize }
        let largest = segments.map(\.count).max() ?? 0
        let chunksPerSegment = max(1, (largest * elementSize + chunkBytes - 1) / chunkBytes)
        let chunks = segments.map { split($0, into: chunksPerSegment, elementSize: elementSize) }
        var schedule = RingSchedule()
        for step in 0..<(2 * (worldSize - 1)) {
            let reducing = step < worldSize - 1
            let gatherStep = step - (worldSize - 1)
            // Reduce-scatter sends segment r-t and adds into r-t-1; all-gather sends r+1-s, copies into r-s.
            let sent = reducing ? rank - step : rank + 1 - gatherStep
            let received = reducing ? rank - step - 1 : rank - gatherStep
            for chunk in 0..<chunksPerSegment {
                let index = step * chunksPerSegment + chunk
                schedule.sends.append(chunks[modulo(sent, worldSize)][chunk])
                schedule.sendNeeds.append(step == 0 ? 0 : index - chunksPerSegment + 1)
                schedule.receives.append(chunks[modulo(received, worldSize)][chunk])
            }
        }
        schedule.addingReceives = (worldSize - 1) * chunksPerSegment
        return schedule
    }

    /// Ring all-gather: rank k's block is `blocks[k]` (byte ranges of the output, in rank order). In
    /// step s a rank forwards block r-s (its own in step 0) and receives block r-s-1.
    static func allGather(rank: Int, blocks: [Range<Int>], elementSize: Int, chunkBytes: Int) -> RingSchedule {
        let worldSize = blocks.count
        let chunks = blocks.map { block in
            let elements = (block.lowerBound / elementSize)..<(block.upperBound / elementSize)
            let parts = max(1, (block.count + chunkBytes - 1) / chunkBytes)
            return split(elements, into: parts, elementSize: elementSize)
        }
        var schedule = RingSchedule()
        var receivedBefore = 0
        for step in 0..<(worldSize - 1) {
            let sent = chunks[modulo(rank - step, worldSize)]
            for (chunk, range) in sent.enumerated() {
                schedule.sends.append(range)
                schedule.sendNeeds.append(step == 0 ? 0 : receivedBefore + chunk + 1)
            }
            // The block received now is the one sent in the next step.
            receivedBefore = schedule.receives.count
            schedule.receives += chunks[modulo(rank - step - 1, worldSize)]
        }
        return schedule
    }

    /// Ring broadcast of `byteCount` bytes from `root`: each rank passes every chunk on as soon as it
    /// arrived, except the last rank before the root.
    static func broadcast(rank: Int, worldSize: Int, root: Int, byteCount: Int, chunkBytes: Int) -> RingSchedule {
        let chunks = split(0..<byteCount, into: max(1, (byteCount + chunkBytes - 1) / chunkBytes), elementSize: 1)
        let position = modulo(rank - root, worldSize)
        var schedule = RingSchedule()
        if position > 0 { schedule.receives = chunks }
        if position < worldSize - 1 {
            schedule.sends = chunks
            schedule.sendNeeds = position == 0 ? chunks.map { _ in 0 } : chunks.indices.map { $0 + 1 }
        }
        return schedule
    }

    /// `elements` cut into `parts` near-equal consecutive pieces, as byte ranges (some may be empty).
    static func split(_ elements: Range<Int>, into parts: Int, elementSize: Int) -> [Range<Int>] {
        (0..<parts).map { part in
            let lower = elements.lowerBound + elements.count * part / parts
            let upper = elements.lowerBound + elements.count * (part + 1) / parts
            return (lower * elementSize)..<(upper * elementSize)
        }
    }
}

func modulo(_ value: Int, _ divisor: Int) -> Int {
    let remainder = value % divisor
    return remainder < 0 ? remainder + divisor : remainder
}
