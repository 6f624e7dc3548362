// The engine every ring collective runs on: streams a RingSchedule's chunks to the right
// neighbour while applying those arriving from the left, never blocking on either side (one
// poll covers both), with a no-progress deadline; and the failure path that tells the ring an
// operation was given up. Which chunks go where is RingSchedule's.

extension RingCommunicator {
    /// Adds `byteCount` bytes of elements at the source into the destination (both aligned).
    typealias Adder = (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void

    /// Payloads below this are copied even with zero-copy on: the bookkeeping costs more than a copy.
    static let zeroCopyMinimumBytes = 16 << 10

    /// Runs `body` as operation `operation`: refuses on a broken communicator, numbers it, and on
    /// failure breaks the communicator and tells the ring (`settle`).
    func perform(_ operation: CollectiveOperation, _ body: () throws -> Void) throws {
        currentOperation = operation
        guard !isBroken else {
            throw failure(.broken, peer: nil, "an earlier error broke this ring; form a new generation")
        }
        sequence += 1
        do {
            try body()
        } catch {
            isBroken = true
            throw settle(wrap(error, peer: nil))
        }
    }

    /// Streams `schedule` over the ring on `buffer` (sends read it, receives add into or overwrite
    /// it). Fails when nothing moves in either direction for `timeout`.
    func runPipeline(
        _ schedule: RingSchedule, buffer: UnsafeMutableRawPointer, zeroCopy: Bool, timeout: Duration, add: Adder
    ) throws {
        var sent = 0
        var received = 0
        var lastProgress = ContinuousClock.now
        while sent < schedule.sends.count || received < schedule.receives.count {
            var progressed = false

            // Queue every chunk whose inputs have arrived, until the high-water mark says stop.
            while sent < schedule.sends.count && received >= schedule.sendNeeds[sent] {
                let range = schedule.sends[sent]
                let bytes = UnsafeRawBufferPointer(start: buffer + range.lowerBound, count: range.count)
                guard try sendChunk(index: sent, bytes: bytes, zeroCopy: zeroCopy) else { break }
                sent += 1
                progressed = true
            }

            // Apply one arrived chunk, then look at sends again: it may have unblocked one.
            if received < schedule.receives.count, let header = try receiveFrame() {
                let range = schedule.receives[received]
                try accept(header, index: received, expectedBytes: range.count)
                payloadMessage.withUnsafeBytes { payload in
                    guard let source = payload.baseAddress, !payload.isEmpty else { return }
                    if received < schedule.addingReceives {
                        combine(into: buffer + range.lowerBound, from: payload, add: add)
                    } else {
                        (buffer + range.lowerBound).copyMemory(from: source, byteCount: payload.count)
                    }
                }
                // Release the frame now: for inproc zero-copy it is the sender's buffer.
                payloadMessage.clear()
                received += 1
                progressed = true
            }
            if progressed {
                lastProgress = .now
                continue
            }

            // Nothing moved: wait for either direction, within what is left of the deadline.
            let canSend = sent < schedule.sends.count && received >= schedule.sendNeeds[sent]
            let remaining = timeout - (ContinuousClock.now - lastProgress)
            guard remaining > .zero else {
                if received < schedule.receives.count {
                    throw failure(
                        .timeout, peer: leftRank,
                        "no data from rank \(leftRank) for \(timeout) (chunk \(received) of "
                            + "\(schedule.receives.count))")
                }
                throw failure(
                    .timeout, peer: rightRank,
                    "rank \(rightRank) took no data for \(timeout) (chunk \(sent) of \(schedule.sends.count))")
            }
            poller.setEvents(received < schedule.receives.count ? .readable : [], at: 0)
            poller.setEvents(canSend ? .writable : [], at: 1)
            try poller.poll(timeout: remaining)
        }
        try waitForPendingSends(timeout: timeout)
    }

    /// Queues one data chunk; false when the high-water mark is reached (nothing was queued).
    private func sendChunk(index: Int, bytes: UnsafeRawBufferPointer, zeroCopy: Bool) throws -> Bool {
        let header = FrameHeader(
            kind: .data, operation: currentOperation, sourceRank: rank, index: index, generation: generation,
            sequence: sequence, step: step)
        guard try trySendHeader(header) else { return false }
        guard zeroCopy && bytes.count >= Self.zeroCopyMinimumBytes else {
            try outbound!.send(bytes)
            return true
        }
        // libzmq reads the caller's buffer until its free callback runs; runPipeline does not
        // return before every such callback ran (waitForPendingSends).
        let pending = pendingSends
        pending.count.add(1, ordering: .relaxed)
        let message: ZeroMQMessage
        do {
            message = try ZeroMQMessage(unsafeNoCopy: bytes) { pending.count.subtract(1, ordering: .releasing) }
        } catch {
            pending.count.subtract(1, ordering: .relaxed)
            throw error
        }
        try outbound!.send(message)
        return true
    }

    /// Checks that a received frame is chunk `index` of this operation from the left neighbour.
    private func accept(_ header: FrameHeader, index: Int, expectedBytes: Int) throws {
        let sender = Int(header.sourceRank)
        if header.kind == .abort && header.generation == generation && header.sequence == sequence {
            throw failure(
                .abortedByPeer(reporter: sender), peer: Int(header.index),
                "rank \(sender) gave up on this operation, blaming rank \(header.index)")
        }
        guard header.kind == .data, header.generation == generation else {
            throw failure(
                .unexpectedFrame, peer: sender,
                "a \(header.kind) frame of generation \(header.generation) from rank \(sender) "
                    + "(this ring is generation \(generation))")
        }
        guard header.sequence == sequence, header.operation == currentOperation, header.step == step else {
            throw failure(
                .unexpectedFrame, peer: sender,
                "rank \(sender) sent \(header.operation) #\(header.sequence) of step \(header.step); this rank is "
                    + "in \(currentOperation) #\(sequence) of step \(step) (ranks called different collectives)")
        }
        guard sender == leftRank, header.index == UInt32(truncatingIfNeeded: index) else {
            throw failure(
                .unexpectedFrame, peer: sender,
                "chunk \(header.index) from rank \(sender); expected chunk \(index) from rank \(leftRank)")
        }
        guard payloadMessage.count == expectedBytes else {
            throw failure(
                .unexpectedFrame, peer: sender,
                "chunk \(index) from rank \(sender) has \(payloadMessage.count) bytes, expected \(expectedBytes) "
                    + "(do all ranks pass the same sizes?)")
        }
    }

    /// Adds a received payload into the buffer, via an aligned copy when libzmq handed it out
    /// unaligned (small frames are cut from its receive batch at any offset).
    private func combine(into destination: UnsafeMutableRawPointer, from payload: UnsafeRawBufferPointer, add: Adder) {
        let source = payload.baseAddress!
        if Int(bitPattern: source) % 8 == 0 {
            add(destination, source, payload.count)
            return
        }
        withUnsafeTemporaryAllocation(byteCount: payload.count, alignment: 16) { aligned in
            aligned.copyMemory(from: payload)
            add(destination, aligned.baseAddress!, payload.count)
        }
    }

    /// Waits until libzmq released every zero-copy chunk, so the caller may reuse its buffer.
    private func waitForPendingSends(timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        while pendingSends.count.load(ordering: .acquiring) > 0 {
            guard ContinuousClock.now < deadline else {
                throw failure(.timeout, peer: rightRank, "rank \(rightRank) did not take the last chunks in \(timeout)")
            }
            sleepBriefly()
        }
    }

    /// After a failure: pass an abort notice to the right neighbour, naming the rank blamed, so ranks
    /// further down fail fast and name the same culprit. A rank that timed out (or got a notice) then
    /// listens a moment for notices from the left: a notice proves the left neighbour alive, and the
    /// last one names the rank furthest up the ring that gave no data. Best effort throughout.
    func settle(_ error: CollectiveError) -> CollectiveError {
        guard worldSize > 1, outbound != nil else { return error }
        var error = error
        var reporter = rank
        if case .abortedByPeer(let original) = error.kind { reporter = original }
        sendAbort(blaming: error.peer ?? leftRank, reporter: reporter)
        switch error.kind {
        case .timeout, .abortedByPeer: break
        default: return error
        }

        let deadline = ContinuousClock.now + min(configuration.timeout / 2, .seconds(1))
        while (try? waitReadable(until: deadline)) == true {
            guard let header = try? receiveFrame() else { continue }
            payloadMessage.clear()
            guard header.kind == .abort, header.generation == generation, header.sequence == sequence else {
                continue
            }
            let sender = Int(header.sourceRank)
            error = failure(
                .abortedByPeer(reporter: sender), peer: Int(header.index),
                "rank \(sender) gave up on this operation, blaming rank \(header.index)")
            sendAbort(blaming: Int(header.index), reporter: sender)
        }
        return error
    }

    private func sendAbort(blaming culprit: Int, reporter: Int) {
        let header = FrameHeader(
            kind: .abort, operation: currentOperation, sourceRank: reporter, index: culprit, generation: generation,
            sequence: sequence, step: step)
        guard (try? trySendHeader(header)) == true else { return }
        _ = try? outbound!.send([UInt8]())
    }
}

/// Element-wise `destination += source` over `byteCount` bytes of Floats.
func addFloats(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ byteCount: Int) {
    let count = byteCount / MemoryLayout<Float>.stride
    let target = destination.assumingMemoryBound(to: Float.self)
    let values = source.assumingMemoryBound(to: Float.self)
    for index in 0..<count { target[index] += values[index] }
}

/// Element-wise `destination += source` over `byteCount` bytes of Doubles.
func addDoubles(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ byteCount: Int) {
    let count = byteCount / MemoryLayout<Double>.stride
    let target = destination.assumingMemoryBound(to: Double.self)
    let values = source.assumingMemoryBound(to: Double.self)
    for index in 0..<count { target[index] += values[index] }
}
