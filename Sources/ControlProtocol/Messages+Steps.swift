// One training step on the control plane: the coordinator's plan, each worker's report, and the
// commit or abort that settles it. The embeddings and gradients themselves travel on the ring.

extension ControlMessage {
    /// The coordinator plans one step for every rank of a generation.
    public struct StepPlan: Sendable, Equatable {
        public var generation: UInt64
        public var step: UInt64
        public var epoch: UInt64
        public var learningRate: Double
        /// The global batch's sample indices, in global order.
        public var indices: [Int64]
        /// How many samples each rank takes, in rank order: rank k takes the next `counts[k]` indices.
        public var counts: [UInt32]

        public init(
            generation: UInt64, step: UInt64, epoch: UInt64, learningRate: Double, indices: [Int64], counts: [UInt32]
        ) {
            self.generation = generation
            self.step = step
            self.epoch = epoch
            self.learningRate = learningRate
            self.indices = indices
            self.counts = counts
        }

        /// The positions in ``indices`` that `rank` takes, or nil when the plan does not hold together:
        /// `rank` has no count, or the counts do not add up to the number of indices.
        public func positions(ofRank rank: Int) -> Range<Int>? {
            guard counts.indices.contains(rank) else { return nil }
            guard counts.reduce(0, { $0 + Int($1) }) == indices.count else { return nil }
            let start = counts[..<rank].reduce(0) { $0 + Int($1) }
            return start..<(start + Int(counts[rank]))
        }
    }

    /// A worker finished its part of a step.
    public struct StepDone: Sendable, Equatable {
        /// Milliseconds spent in each phase of the step, as the worker measured them.
        public struct Timings: Sendable, Equatable {
            public var data: Double
            public var forward: Double
            public var exchange: Double
            public var backward: Double
            public var allReduce: Double
            public var optimizer: Double

            public init(
                data: Double = 0, forward: Double = 0, exchange: Double = 0, backward: Double = 0,
                allReduce: Double = 0, optimizer: Double = 0
            ) {
                self.data = data
                self.forward = forward
                self.exchange = exchange
                self.backward = backward
                self.allReduce = allReduce
                self.optimizer = optimizer
            }
        }

        public var generation: UInt64
        public var step: UInt64
        public var rank: UInt32
        /// The step's loss as this rank computed it.
        public var loss: Double
        /// How many samples this rank processed.
        public var samples: UInt32
        public var timings: Timings

        public init(
            generation: UInt64, step: UInt64, rank: UInt32, loss: Double, samples: UInt32, timings: Timings = Timings()
        ) {
            self.generation = generation
            self.step = step
            self.rank = rank
            self.loss = loss
            self.samples = samples
            self.timings = timings
        }
    }

    /// Every rank reported the step: it counts.
    public struct Commit: Sendable, Equatable {
        public var generation: UInt64
        public var step: UInt64

        public init(generation: UInt64, step: UInt64) {
            self.generation = generation
            self.step = step
        }
    }

    /// The step is abandoned; workers go back to the last committed state.
    public struct Abort: Sendable, Equatable {
        public var generation: UInt64
        public var step: UInt64
        public var reason: String

        public init(generation: UInt64, step: UInt64, reason: String) {
            self.generation = generation
            self.step = step
            self.reason = reason
        }
    }
}
