// The SimCLR step learns: on one fixed batch, repeated steps drive the NT-Xent loss down, a
// non-finite loss stops the step before any parameter changes, and a step that is not committed
// can be undone exactly.

import Compute
import Foundation
import Testing
import Training

@Suite("SimCLR step")
struct StepTests {
    func smallConfiguration() -> TrainingConfiguration {
        var configuration = TrainingConfiguration()
        configuration.width = 4
        configuration.batchSize = 8
        configuration.epochs = 1
        configuration.learningRate = 0.1
        configuration.learningRateScaling = .none
        configuration.weightDecay = 0
        return configuration
    }

    // 16 views of 8 random "samples" where the two views of a sample are the same image plus a
    // little noise: matching the pairs is easy, so 40 steps must at least halve the loss.
    @Test func lossFallsOnAFixedBatch() throws {
        let step = SimCLRStep(configuration: smallConfiguration(), stepsPerEpoch: 1000, threads: 2)
        var generator = SeededGenerator(seed: 5)
        let base = (0..<(8 * 3 * 16 * 16)).map { _ in generator.normal() }
        var values: [Float] = []
        for sample in 0..<8 {
            let image = base[(sample * 768)..<((sample + 1) * 768)]
            for _ in 0..<2 { values += image.map { $0 + 0.1 * generator.normal() } }
        }
        let views = Tensor(values, shape: Shape(16, 3, 16, 16))
        let exchange = LocalExchange()
        var losses: [Double] = []
        for index in 0..<40 {
            losses.append(try step.run(views: views, step: index, exchange: exchange, reduction: exchange).loss)
        }
        #expect(losses[0] > 1.0)
        #expect(losses.last! < 0.5 * losses[0], "losses: \(losses)")
    }

    @Test func nonFiniteInputStopsBeforeTheUpdate() throws {
        let step = SimCLRStep(configuration: smallConfiguration(), stepsPerEpoch: 10, threads: 1)
        let before = step.model.store.values.array
        var values = [Float](repeating: 0.5, count: 4 * 3 * 8 * 8)
        values[17] = .nan
        let exchange = LocalExchange()
        #expect(throws: NonFiniteError.self) {
            try step.run(
                views: Tensor(values, shape: Shape(4, 3, 8, 8)), step: 0, exchange: exchange, reduction: exchange)
        }
        #expect(step.model.store.values.array == before)
    }

    /// Two uncommitted steps undone: parameters, batch-norm statistics, optimizer state and its
    /// step count are bitwise those before the first; a committed step is no longer held.
    @Test func uncommittedStepsRollBackExactly() throws {
        let step = SimCLRStep(configuration: smallConfiguration(), stepsPerEpoch: 10, threads: 1)
        var generator = SeededGenerator(seed: 8)
        let views = Tensor((0..<(8 * 3 * 8 * 8)).map { _ in generator.normal() }, shape: Shape(8, 3, 8, 8))
        let exchange = LocalExchange()
        _ = try step.run(views: views, step: 0, exchange: exchange, reduction: exchange)
        let before = step.snapshot(step: 1)

        let uncommitted = UncommittedSteps(engine: step)
        for index in 1...2 {
            uncommitted.save(before: index)
            _ = try step.run(views: views, step: index, exchange: exchange, reduction: exchange)
        }
        #expect(uncommitted.isFull && uncommitted.steps == [1, 2])
        #expect(step.model.store.values.array != before.parameters)
        #expect(uncommitted.rollBack(to: 1))
        let after = step.snapshot(step: 1)
        #expect(after.parameters == before.parameters)
        #expect(after.state == before.state)
        #expect(after.optimizerState == before.optimizerState)
        #expect(after.optimizerSteps == before.optimizerSteps)
        #expect(uncommitted.steps.isEmpty)

        uncommitted.save(before: 1)
        _ = try step.run(views: views, step: 1, exchange: exchange, reduction: exchange)
        uncommitted.commit(through: 1)
        #expect(!uncommitted.rollBack(to: 1))
    }
}
