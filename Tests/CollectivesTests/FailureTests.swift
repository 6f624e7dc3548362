// What survivors see when a peer is missing, dies, belongs to another generation or disagrees
// about sizes: a typed CollectiveError naming the peer, within the deadline, never a hang.

import Collectives
import Foundation
import Testing

@Suite(.serialized) struct FailureTests {
    static var shortDeadlines: RingConfiguration {
        var configuration = RingConfiguration()
        configuration.timeout = .milliseconds(500)
        configuration.setupTimeout = .milliseconds(500)
        return configuration
    }

    @Test("a peer that never shows up fails setup with a timeout naming it")
    func missingPeerTimesOutSetup() throws {
        let context = try ZeroMQContext()
        let alone = try RingBinding(context: context, endpoint: "tcp://127.0.0.1:*")
        let absent = "tcp://127.0.0.1:9"  // discard port: nobody listens
        let clock = ContinuousClock()
        let start = clock.now
        let error = #expect(throws: CollectiveError.self) {
            _ = try RingCommunicator(
                binding: alone, context: context, rank: 0, endpoints: [alone.endpoint, absent], generation: 1,
                configuration: Self.shortDeadlines)
        }
        #expect(error?.kind == .timeout)
        #expect(error?.peer == 1)
        #expect(error?.operation == .setup)
        #expect(clock.now - start < .seconds(3))
    }

    @Test(
        "a rank that dies mid-run: survivors fail within the deadline, naming it", arguments: [Transport.tcp, .inproc])
    func deadPeerIsNamed(transport: Transport) throws {
        let clock = ContinuousClock()
        let results = try onRing(3, transport: transport, configuration: Self.shortDeadlines) { ring in
            ring.step = 42
            if ring.rank == 2 {
                ring.close()  // dies right after the ring formed
                return Duration.zero
            }
            var values = [Float](repeating: 1, count: 1_000_000)
            let start = clock.now
            do {
                try ring.allReduce(&values)
            } catch let error as CollectiveError {
                let elapsed = clock.now - start
                guard error.peer == 2, error.step == 42, error.operation == .allReduce else { throw error }
                // A second call is refused at once.
                #expect(throws: CollectiveError.self) { try ring.allReduce(&values) }
                return elapsed
            }
            return .seconds(1000)
        }
        for rank in 0..<2 {
            let elapsed = try results[rank].get()
            // Deadline 0.5 s, plus at most 0.25 s listening for abort notices, plus scheduling slack.
            #expect(elapsed > .milliseconds(400) && elapsed < .seconds(3), "rank \(rank) took \(elapsed)")
        }
    }

    @Test("a peer of another generation is refused at the handshake")
    func staleGenerationIsRefused() throws {
        let results = try onRing(2, transport: .tcp, configuration: Self.shortDeadlines, generation: { UInt64($0 + 7) })
        {
            _ in 0
        }
        for (rank, result) in results.enumerated() {
            #expect(throws: CollectiveError.self) { try result.get() }
            if case .failure(let error as CollectiveError) = result {
                #expect(error.kind == .handshakeMismatch)
                #expect(error.peer == 1 - rank)
            }
        }
    }

    @Test("ranks that disagree about the size get an unexpected-frame error, not mixed data", arguments: [10, 300_000])
    func sizeMismatchIsReported(count: Int) throws {
        let results = try onRing(2, transport: .tcp, configuration: Self.shortDeadlines) { ring in
            var values = [Float](repeating: 1, count: count + ring.rank)
            try ring.allReduce(&values)
            return values.count
        }
        var kinds: [CollectiveError.Kind] = []
        for result in results {
            if case .failure(let error as CollectiveError) = result { kinds.append(error.kind) }
        }
        #expect(kinds.count == 2)
        #expect(kinds.contains(.unexpectedFrame))
    }

    @Test("ranks that call different collectives are told so")
    func differentOperationsAreReported() throws {
        let results = try onRing(2, transport: .inproc, configuration: Self.shortDeadlines) { ring in
            if ring.rank == 0 {
                var values = [Double](repeating: 1, count: 4)
                try ring.allReduce(&values)
            } else {
                _ = try ring.allGather([1, 2, 3, 4])
            }
            return 0
        }
        for result in results {
            #expect(throws: CollectiveError.self) { try result.get() }
        }
    }
}
