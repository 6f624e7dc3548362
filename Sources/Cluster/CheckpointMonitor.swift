// The kNN monitor of a cluster run. The coordinator never computes a step, but it receives the
// training state at every checkpoint; this evaluates the kNN monitor on those states on a thread
// of its own, so that the control loop keeps committing steps while it runs.

import Foundation
import Training

/// Evaluates states handed over by `submit` one at a time, in the background. At most one state
/// waits: a newer one replaces it, so a slow monitor skips checkpoints rather than falling behind.
final class CheckpointMonitor: @unchecked Sendable {
    /// An evaluation's outcome: the step of the state and its accuracy, or why there is none.
    typealias Outcome = (step: Int, accuracy: Result<Double, Error>)

    /// Used by the evaluation thread only.
    private let monitor: KNNMonitor
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var waiting: TrainingState?
    private var outcomes: [Outcome] = []
    private var closing = false
    private var finished = false

    /// Starts the evaluation thread, which builds an engine of `configuration` to load states into.
    init(monitor: KNNMonitor, configuration: TrainingConfiguration, stepsPerEpoch: Int, threads: Int) {
        self.monitor = monitor
        let thread = Thread { [self] in
            let engine = SimCLRStep(configuration: configuration, stepsPerEpoch: stepsPerEpoch, threads: threads)
            while let state = next() {
                let accuracy = Result {
                    try engine.restore(state, path: "the state of step \(state.step)")
                    return try self.monitor.accuracy(engine: engine, threads: threads)
                }
                condition.withLock { outcomes.append((state.step, accuracy)) }
            }
            condition.withLock {
                finished = true
                condition.broadcast()
            }
        }
        thread.name = "knn-monitor"
        thread.start()
    }

    /// Queues `state` for evaluation, replacing one that has not started.
    func submit(_ state: TrainingState) {
        condition.withLock {
            waiting = state
            condition.broadcast()
        }
    }

    /// The evaluations finished since the last call, oldest first.
    func takeOutcomes() -> [Outcome] {
        condition.withLock {
            defer { outcomes.removeAll() }
            return outcomes
        }
    }

    /// Waits for the queued and running evaluations, stops the thread and returns what they gave.
    func finish() -> [Outcome] {
        condition.withLock {
            closing = true
            condition.broadcast()
            while !finished { condition.wait() }
        }
        return takeOutcomes()
    }

    /// The next state to evaluate, waiting for one; nil once `finish` was called and none waits.
    private func next() -> TrainingState? {
        condition.withLock {
            while waiting == nil && !closing { condition.wait() }
            defer { waiting = nil }
            return waiting
        }
    }
}
