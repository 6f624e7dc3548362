// The cluster's step against the single-process step, with every rank a thread of this process
// over real ZeroMQ sockets (inproc): the gathered NT-Xent gradient is exactly the global one, and
// W ranks with synchronised batch norm train like one process holding the whole global batch.

import Cluster
import Collectives
import Compute
import Datasets
import Foundation
import Testing
import Training

@Suite("Ring exchange", .serialized)
struct RingExchangeTests {
    /// Each rank's embedding gradient after the exchange equals the rows of the single-process
    /// gradient of the global loss. Tolerance 1e-6 absolute on entries of order 1e-2: the only
    /// difference is the order in which the ranks' contributions to each entry are summed.
    @Test(arguments: [2, 3])
    func gatheredGradientIsTheGlobalGradient(worldSize: Int) throws {
        let samples = 7
        let width = 6
        var generator = SeededGenerator(seed: 11)
        let values = (0..<(2 * samples * width)).map { _ in Float.random(in: -1...1, using: &generator) }
        let unit = L2Normalize().forward(Tensor(values, shape: Shape(2 * samples, width)), context: ComputeContext())
        let reference = ContrastiveLoss(temperature: 0.5)
        let globalLoss = reference.forward(unit, rows: 0..<2 * samples)
        let globalGradient = reference.backward().array

        let shares = GlobalBatchPlan.evenSplit(count: samples, parts: worldSize)
        let unitValues = unit.array
        let results = try outcomes(
            onRing(worldSize) { ring in
                let exchange = RingExchange(ring: ring, synchronizeBatchNorm: true)
                exchange.setRows(shares.map { 2 * $0.count })
                let mine = shares[ring.rank]
                let local = Tensor(
                    Array(unitValues[(2 * mine.lowerBound * width)..<(2 * mine.upperBound * width)]),
                    shape: Shape(2 * mine.count, width))
                let loss = ContrastiveLoss(temperature: 0.5)
                let (global, rows) = try exchange.gather(local)
                let partial = loss.forward(global, rows: rows)
                let gradient = try exchange.reduceGradient(loss.backward(), rows: rows)
                return (try exchange.reduceLoss(partial), gradient.array)
            })

        for (rank, (loss, gradient)) in results.enumerated() {
            #expect(abs(loss - globalLoss) <= 1e-6 * abs(globalLoss))
            let rows = (2 * shares[rank].lowerBound * width)..<(2 * shares[rank].upperBound * width)
            let expected = Array(globalGradient[rows])
            #expect(gradient.count == expected.count)
            let worst = zip(gradient, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-6, "rank \(rank): worst difference \(worst)")
        }
    }

    /// Five steps on 1, 2 and 3 ranks give the single-process losses and parameters. Relative
    /// 1e-4: the ranks sum gradients and batch-norm statistics in another order than one process
    /// does, and five SGD steps amplify those rounding differences only mildly.
    @Test(arguments: [1, 2, 3])
    func ranksTrainLikeOneProcess(worldSize: Int) throws {
        let single = try TrainingRun.single()
        let cluster = try TrainingRun.cluster(worldSize: worldSize, synchronizeBatchNorm: true)
        for (step, (a, b)) in zip(single.losses, cluster.losses).enumerated() {
            #expect(abs(a - b) <= 1e-4 * abs(a), "step \(step + 1): single \(a), \(worldSize) ranks \(b)")
        }
        #expect(cluster.losses.count == single.losses.count)
        #expect(relativeDifference(cluster.parameters, single.parameters) <= 1e-4)
        #expect(relativeDifference(cluster.state, single.state) <= 1e-4)
    }

    /// Without synchronised batch norm each rank normalises with its own half of the batch, which
    /// is a different computation: the comparison above must be able to fail.
    @Test func unsynchronisedBatchNormDiffers() throws {
        let single = try TrainingRun.single()
        let cluster = try TrainingRun.cluster(worldSize: 2, synchronizeBatchNorm: false)
        let worst = zip(single.losses, cluster.losses).map { abs($0 - $1) / abs($0) }.max() ?? 0
        #expect(worst > 1e-3, "losses differ by at most \(worst) relative")
        #expect(relativeDifference(cluster.parameters, single.parameters) > 1e-4)
    }
}

/// ||a - b|| / ||b||.
func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var difference = 0.0
    var norm = 0.0
    for (x, y) in zip(a, b) {
        difference += Double(x - y) * Double(x - y)
        norm += Double(y) * Double(y)
    }
    return (difference / max(norm, .leastNormalMagnitude)).squareRoot()
}

/// A five-step run on a small synthetic set, by one process or by ranks on threads.
struct TrainingRun: Sendable {
    var losses: [Double] = []
    var parameters: [Float] = []
    var state: [Float] = []

    static let steps = 5
    /// 56 samples in batches of 14: five steps cross an epoch boundary with full batches only. A
    /// short last batch (4 samples split over 3 ranks) normalises with so few values that rounding
    /// differences of 1e-7 grow to 1e-2 within a step, which says nothing about the exchange.
    static let data: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "simclr-cluster-tests-\(getpid()).simclr"
        ).path
        _ = try! DatasetPreparer.prepare(
            source: .synthetic(count: 56), output: path, options: PrepareOptions(imageSize: 16, seed: 5))
        return path
    }()

    static var configuration: TrainingConfiguration {
        var configuration = TrainingConfiguration()
        configuration.width = 4
        configuration.batchSize = 14
        configuration.epochs = 2
        configuration.learningRate = 0.1
        configuration.learningRateScaling = .none
        configuration.headHidden = 16
        configuration.projectionDim = 8
        configuration.seed = 9
        return configuration
    }

    static func single() throws -> TrainingRun {
        try cluster(worldSize: 1, synchronizeBatchNorm: true, useRing: false)
    }

    /// Every rank loads the views of its consecutive share of each step's samples and runs the
    /// same SimCLR step; with `useRing` false a single rank uses the local exchange instead.
    static func cluster(worldSize: Int, synchronizeBatchNorm: Bool, useRing: Bool = true) throws -> TrainingRun {
        let configuration = configuration
        let body: @Sendable (RingCommunicator?) throws -> TrainingRun = { ring in
            let rank = ring?.rank ?? 0
            let dataset = try PackedDataset(path: data)
            let plan = GlobalBatchPlan(
                sampleCount: dataset.count, batchSize: configuration.batchSize, seed: configuration.seed)
            let engine = SimCLRStep(configuration: configuration, stepsPerEpoch: plan.stepsPerEpoch, threads: 1)
            let loader = BatchLoader(
                dataset: dataset, configuration: Trainer.augmentation(configuration, imageSize: dataset.height),
                seed: configuration.seed, threads: 1, maximumBatchSize: plan.batchSize + 1)
            defer { loader.close() }
            let exchange = ring.map { RingExchange(ring: $0, synchronizeBatchNorm: synchronizeBatchNorm) }
            exchange?.attach(to: engine.context)
            var run = TrainingRun()
            for step in 0..<steps {
                let epoch = plan.epoch(of: step)
                let indices = plan.indices(step: step, permutation: plan.permutation(epoch: epoch))
                let shares = GlobalBatchPlan.evenSplit(count: indices.count, parts: worldSize)
                try loader.submit(indices: Array(indices[shares[rank]]), epoch: epoch)
                let batch = try loader.next()
                let loss: Double
                if let exchange {
                    exchange.setRows(shares.map { 2 * $0.count })
                    loss = try engine.run(views: batch.images, step: step, exchange: exchange, reduction: exchange).loss
                } else {
                    let local = LocalExchange()
                    loss = try engine.run(views: batch.images, step: step, exchange: local, reduction: local).loss
                }
                run.losses.append(loss)
            }
            run.parameters = engine.model.store.values.array
            run.state = engine.model.store.state.array
            return run
        }
        if !useRing { return try body(nil) }
        let runs = try outcomes(onRing(worldSize) { try body($0) })
        // Every rank holds the same model; rank 0 speaks for the cluster.
        for run in runs.dropFirst() {
            #expect(run.parameters == runs[0].parameters, "ranks disagree on the parameters")
        }
        return runs[0]
    }
}
