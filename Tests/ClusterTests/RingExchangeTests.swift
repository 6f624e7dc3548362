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

    /// Each of five steps, run by 1, 2 and 3 ranks from the single process's state before that
    /// step, gives the single process's loss (relative 1e-6; seen: at most 2e-8) and its update of
    /// the parameters and batch-norm statistics (relative 1e-5 of the update; seen: at most 7e-7).
    /// The ranks sum gradients and statistics in another order than one process; nothing else
    /// may differ.
    ///
    /// Why every step starts from the reference state rather than from the ranks' own previous
    /// step: at width 4 a random relative change of 1e-5 in the parameters changes the gradient by
    /// 3e-3 to 2e-2 (measured), and rounding that moves a ReLU input across zero changes it by a
    /// fixed amount, so free-running trajectories that differ by 1e-7 after one step part by 1e-4
    /// to 1e-2 within five: one process on 1 and on 2 threads as much as a cluster against one
    /// process. Comparing each step from one state tests the exchange, not that chaos.
    @Test(arguments: [1, 2, 3])
    func ranksTrainLikeOneProcess(worldSize: Int) throws {
        let single = try TrainingRun.single()
        let cluster = try TrainingRun.cluster(
            worldSize: worldSize, synchronizeBatchNorm: true, startingFrom: single.before)
        #expect(cluster.losses.count == TrainingRun.steps)
        for step in 0..<min(cluster.losses.count, TrainingRun.steps) {
            let (a, b) = (single.losses[step], cluster.losses[step])
            #expect(abs(a - b) <= 1e-6 * abs(a), "step \(step + 1): single \(a), \(worldSize) ranks \(b)")
            let start = single.before[step]
            let parameters = relativeDifference(
                update(cluster.after[step].parameters, from: start.parameters),
                update(single.after[step].parameters, from: start.parameters))
            #expect(parameters <= 1e-5, "step \(step + 1): parameter update differs by \(parameters) relative")
            let statistics = relativeDifference(
                update(cluster.after[step].state, from: start.state),
                update(single.after[step].state, from: start.state))
            #expect(statistics <= 1e-5, "step \(step + 1): batch-norm statistics differ by \(statistics) relative")
        }
    }

    /// One rank over the ring, free-running, is the single-process computation bit for bit.
    @Test func oneRankIsOneProcess() throws {
        let single = try TrainingRun.single()
        let ring = try TrainingRun.cluster(worldSize: 1, synchronizeBatchNorm: true)
        #expect(ring.losses == single.losses)
        #expect(ring.after.last?.parameters == single.after.last?.parameters)
    }

    /// Without synchronised batch norm each rank normalises with its own half of the batch, which
    /// is a different computation: the comparison above must be able to fail.
    @Test func unsynchronisedBatchNormDiffers() throws {
        let single = try TrainingRun.single()
        let cluster = try TrainingRun.cluster(worldSize: 2, synchronizeBatchNorm: false)
        let worst = zip(single.losses, cluster.losses).map { abs($0 - $1) / abs($0) }.max() ?? 0
        #expect(worst > 1e-3, "losses differ by at most \(worst) relative")
        let parameters = try #require(cluster.after.last?.parameters)
        #expect(relativeDifference(parameters, try #require(single.after.last?.parameters)) > 1e-4)
    }
}

/// `after - before`, entry by entry.
func update(_ after: [Float], from before: [Float]) -> [Float] {
    precondition(after.count == before.count)
    return zip(after, before).map { $0 - $1 }
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
    /// The state before each step (the single process records them for the ranks to start from).
    var before: [TrainingState] = []
    /// The state after each step.
    var after: [TrainingState] = []

    static let steps = 5
    /// 56 samples in batches of 14: five steps cross an epoch boundary with full batches only.
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
    /// same SimCLR step, from `startingFrom[step]` when given, else from its own previous step;
    /// with `useRing` false a single rank uses the local exchange instead.
    static func cluster(
        worldSize: Int, synchronizeBatchNorm: Bool, startingFrom: [TrainingState]? = nil, useRing: Bool = true
    ) throws -> TrainingRun {
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
                if let startingFrom { try engine.restore(startingFrom[step], path: "reference state") }
                run.before.append(engine.snapshot(step: step))
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
                run.after.append(engine.snapshot(step: step + 1))
            }
            return run
        }
        if !useRing { return try body(nil) }
        let runs = try outcomes(onRing(worldSize) { try body($0) })
        // Every rank holds the same model; rank 0 speaks for the cluster.
        for run in runs.dropFirst() {
            #expect(run.after.last?.parameters == runs[0].after.last?.parameters, "ranks disagree on the parameters")
        }
        return runs[0]
    }
}
