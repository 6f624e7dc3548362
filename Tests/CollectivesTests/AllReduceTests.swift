// Ring all-reduce against the directly computed sum, over a grid of world sizes, element counts
// and transports, with every rank a thread of this process; and the bitwise agreement of ranks.

import Collectives
import Testing

@Suite(.serialized) struct AllReduceTests {
    /// World sizes 1-5 against counts that are empty, tiny, smaller than W, on the small-message path
    /// (1000), chunked and not divisible by W (1_000_003), and a few megabytes (3_000_017 floats, 12 MB).
    static let grid: [(Int, Int)] = [1, 2, 3, 4, 5].flatMap { worldSize in
        [0, 1, max(worldSize - 1, 0), 1000, 1_000_003, 3_000_017].map { (worldSize, $0) }
    }

    @Test(
        "integer-valued floats sum exactly, every rank ends with identical bytes", arguments: grid,
        [Transport.inproc, .tcp])
    func sumsIntegersExactly(shape: (Int, Int), transport: Transport) throws {
        let (worldSize, count) = shape
        let results = try values(
            onRing(worldSize, transport: transport) { ring in
                var values = TestData.integers(rank: ring.rank, count: count)
                try values.withUnsafeMutableBufferPointer { try ring.allReduce($0.baseAddress!, count: count) }
                return values
            })

        // Exact: every partial sum is an integer below 2^24 in magnitude.
        var expected = [Float](repeating: 0, count: count)
        for rank in 0..<worldSize {
            for (index, value) in TestData.integers(rank: rank, count: count).enumerated() { expected[index] += value }
        }
        #expect(results[0] == expected)
        for rank in 1..<worldSize { #expect(results[rank].map(\.bitPattern) == results[0].map(\.bitPattern)) }
    }

    @Test("random floats match the sum within the summation error bound", arguments: [2, 3, 5], [1000, 1_000_003])
    func sumsRandomFloats(worldSize: Int, count: Int) throws {
        let results = try values(
            onRing(worldSize, transport: .tcp) { ring in
                var values = TestData.uniform(rank: ring.rank, count: count)
                try ring.allReduce(&values)
                return values
            })

        // Reference in Double. A sum of W floats in any order errs by at most (W-1)·u·Σ|x| with
        // u = 2^-24; allow twice that, plus the rounding of the reference to Float.
        var exact = [Double](repeating: 0, count: count)
        var magnitude = [Double](repeating: 0, count: count)
        for rank in 0..<worldSize {
            for (index, value) in TestData.uniform(rank: rank, count: count).enumerated() {
                exact[index] += Double(value)
                magnitude[index] += Double(value.magnitude)
            }
        }
        let unit = 1.0 / Double(1 << 24)
        var worst = 0.0
        for index in 0..<count {
            let bound = 2 * Double(worldSize) * unit * magnitude[index] + unit * exact[index].magnitude
            worst = max(worst, (Double(results[0][index]) - exact[index]).magnitude / max(bound, .leastNormalMagnitude))
        }
        #expect(worst <= 1, "worst error is \(worst) times the bound")
        for rank in 1..<worldSize { #expect(results[rank].map(\.bitPattern) == results[0].map(\.bitPattern)) }
    }

    @Test("ipc:// carries the chunked path too", arguments: [2, 4])
    func sumsOverIPC(worldSize: Int) throws {
        let count = 2_000_001
        let results = try values(
            onRing(worldSize, transport: .ipc) { ring in
                var values = TestData.integers(rank: ring.rank, count: count)
                try ring.allReduce(&values)
                return values
            })
        var expected = [Float](repeating: 0, count: count)
        for rank in 0..<worldSize {
            for (index, value) in TestData.integers(rank: rank, count: count).enumerated() { expected[index] += value }
        }
        for rank in 0..<worldSize { #expect(results[rank] == expected) }
    }

    @Test("copying sends (zero-copy off) and small chunks give the same sums")
    func sumsWithCopyingSendsAndSmallChunks() throws {
        var configuration = RingConfiguration()
        configuration.zeroCopy = false
        configuration.chunkBytes = 4096
        configuration.inFlightChunks = 2
        let count = 100_003
        let results = try values(
            onRing(3, transport: .tcp, configuration: configuration) { ring in
                var values = TestData.integers(rank: ring.rank, count: count)
                try ring.allReduce(&values)
                return values
            })
        var expected = [Float](repeating: 0, count: count)
        for rank in 0..<3 {
            for (index, value) in TestData.integers(rank: rank, count: count).enumerated() { expected[index] += value }
        }
        for rank in 0..<3 { #expect(results[rank] == expected) }
    }

    @Test("Double all-reduce, many small calls in a row as sync batch norm makes them", arguments: [1, 2, 4])
    func sumsDoublesRepeatedly(worldSize: Int) throws {
        let results = try values(
            onRing(worldSize, transport: .tcp) { ring in
                var last: [Double] = []
                for call in 0..<40 {
                    ring.step = UInt64(call / 10)
                    var values = (0..<2000).map { Double($0 * (ring.rank + 1) + call) }
                    try ring.allReduce(&values)
                    last = values
                }
                return last
            })
        let ranks = Double(worldSize * (worldSize + 1) / 2)
        let expected = (0..<2000).map { Double($0) * ranks + Double(39 * worldSize) }
        for rank in 0..<worldSize { #expect(results[rank] == expected) }
    }
}
