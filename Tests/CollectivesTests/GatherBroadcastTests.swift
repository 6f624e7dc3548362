// All-gather of unequal contributions (one of them empty), broadcast from any root, and the
// barrier, with every rank a thread of this process.

import Collectives
import Compute
import Testing

@Suite(.serialized) struct GatherBroadcastTests {
    static func contribution(rank: Int, count: Int) -> [Float] {
        (0..<count).map { Float(rank * 1_000_000 + $0) }
    }

    @Test("all-gather concatenates unequal contributions in rank order", arguments: Transport.allCases)
    func gathersUnequalContributions(transport: Transport) throws {
        let counts = [3, 0, 300_001, 7]
        let results = try values(
            onRing(counts.count, transport: transport) { ring in
                let mine = Self.contribution(rank: ring.rank, count: counts[ring.rank])
                var output = [Float](repeating: -1, count: counts.reduce(0, +))
                try mine.withUnsafeBufferPointer { source in
                    try output.withUnsafeMutableBufferPointer { try ring.allGather(source, into: $0, counts: counts) }
                }
                return output
            })
        let expected = counts.enumerated().flatMap { Self.contribution(rank: $0.offset, count: $0.element) }
        for output in results { #expect(output == expected) }
    }

    @Test("all-gather finds out the counts itself when only owners know them")
    func gathersWithUnknownCounts() throws {
        let counts = [0, 5, 1, 70_000, 2]
        let results = try values(
            onRing(counts.count, transport: .tcp) { ring in
                try ring.allGather(Self.contribution(rank: ring.rank, count: counts[ring.rank]))
            })
        let expected = counts.enumerated().flatMap { Self.contribution(rank: $0.offset, count: $0.element) }
        for (values, gatheredCounts) in results {
            #expect(values == expected)
            #expect(gatheredCounts == counts)
        }
    }

    @Test("broadcast copies the root's buffer to every rank", arguments: [(1, 0), (2, 1), (3, 1), (4, 3), (5, 0)])
    func broadcastsFromRoot(shape: (Int, Int)) throws {
        let (worldSize, root) = shape
        let count = 1_300_001
        let results = try values(
            onRing(worldSize, transport: .tcp) { ring in
                let buffer = FloatBuffer(count: count)
                if ring.rank == root {
                    for index in 0..<count { buffer.base[index] = Float(index % 4093) - 17 }
                }
                try ring.broadcast(buffer, from: root)
                return buffer.array
            })
        let expected = (0..<count).map { Float($0 % 4093) - 17 }
        for output in results { #expect(output == expected) }
    }

    @Test("broadcast of raw bytes of odd size")
    func broadcastsOddByteCounts() throws {
        let results = try values(
            onRing(3, transport: .inproc) { ring in
                var bytes = [UInt8](repeating: ring.rank == 2 ? 0 : 0xAA, count: 1001)
                if ring.rank == 2 { for index in bytes.indices { bytes[index] = UInt8(index % 251) } }
                try bytes.withUnsafeMutableBytes { try ring.broadcast($0, from: 2) }
                return bytes
            })
        for output in results { #expect(output == (0..<1001).map { UInt8($0 % 251) }) }
    }

    @Test("mixed collectives in sequence keep their order and sequence numbers")
    func runsMixedSequences() throws {
        let results = try values(
            onRing(3, transport: .tcp) { ring in
                var sums: [Double] = [Double(ring.rank)]
                try ring.barrier()
                try ring.allReduce(&sums)
                let gathered = try ring.allGather([Float(ring.rank)])
                try ring.barrier()
                return (sums, gathered.values, ring.sequence)
            })
        for (sums, gathered, sequence) in results {
            #expect(sums == [3])
            #expect(gathered == [0, 1, 2])
            #expect(sequence == 6)  // setup barrier, barrier, all-reduce, counts, all-gather, barrier
        }
    }
}
