// What makes a cluster step atomic on a worker: the training state before each step that the
// coordinator has not committed yet, so that an aborted step can be undone. The buffers are
// allocated once; saving a step copies the parameters, batch-norm statistics and optimizer state
// into a free slot, which is a copy of a few megabytes next to a step of seconds.

import Compute

/// The states before a worker's uncommitted steps, oldest first, at most `depth` of them.
public final class UncommittedSteps {
    private struct Slot {
        var step: Int?
        var optimizerSteps = 0
        let values: FloatBuffer
        let state: FloatBuffer
        let optimizerState: FloatBuffer
    }

    private let engine: SimCLRStep
    private var slots: [Slot]

    /// - Parameter depth: how many steps may be uncommitted at once (the coordinator plans one
    ///   step ahead, so a worker can finish step s + 1 before s is committed: 2).
    public init(engine: SimCLRStep, depth: Int = 2) {
        precondition(depth >= 1, "UncommittedSteps: depth must be at least 1")
        self.engine = engine
        slots = (0..<depth).map { _ in
            Slot(
                values: FloatBuffer(count: engine.model.store.count),
                state: FloatBuffer(count: engine.model.store.state.count),
                optimizerState: FloatBuffer(count: engine.optimizer.state.count))
        }
    }

    /// The steps whose starting state is held, oldest first.
    public var steps: [Int] { slots.compactMap(\.step).sorted() }

    /// Whether `depth` steps are uncommitted already, so that another cannot be saved.
    public var isFull: Bool { slots.allSatisfy { $0.step != nil } }

    /// Saves the current state as the state before `step`. Not when `isFull`.
    public func save(before step: Int) {
        guard let index = slots.firstIndex(where: { $0.step == nil }) else {
            preconditionFailure("UncommittedSteps: more than \(slots.count) uncommitted steps (saving \(step))")
        }
        let store = engine.model.store
        slots[index].values.base.update(from: store.values.base, count: store.count)
        slots[index].state.base.update(from: store.state.base, count: store.state.count)
        slots[index].optimizerState.base.update(from: engine.optimizer.state.base, count: engine.optimizer.state.count)
        slots[index].optimizerSteps = engine.optimizer.stepCount
        slots[index].step = step
    }

    /// Step `step` and all before it are committed: their saved states are no longer needed.
    public func commit(through step: Int) {
        for index in slots.indices where (slots[index].step ?? .max) <= step { slots[index].step = nil }
    }

    /// Puts back the state before `step`, undoing it and every later step, and forgets them.
    ///
    /// - Returns: false when no state before `step` is held; the engine is then left as it is
    ///   (it has not run `step` yet, or `step` was committed).
    @discardableResult
    public func rollBack(to step: Int) -> Bool {
        guard let index = slots.firstIndex(where: { $0.step == step }) else { return false }
        let store = engine.model.store
        store.values.base.update(from: slots[index].values.base, count: store.count)
        store.state.base.update(from: slots[index].state.base, count: store.state.count)
        engine.optimizer.state.base.update(from: slots[index].optimizerState.base, count: engine.optimizer.state.count)
        engine.optimizer.stepCount = slots[index].optimizerSteps
        for other in slots.indices where (slots[other].step ?? .min) >= step { slots[other].step = nil }
        return true
    }
}
