// Moving model state to a joining worker, and reporting the run's status to an operator's tool.
// The state's bytes are not in these messages: they follow a StateHeader as raw ZeroMQ frames.

extension ControlMessage {
    /// The coordinator asks a worker for its model state at a committed step.
    public struct StateRequest: Sendable, Equatable {
        public var generation: UInt64
        public var step: UInt64

        public init(generation: UInt64, step: UInt64) {
            self.generation = generation
            self.step = step
        }
    }

    /// Model state follows: `frames` raw frames after this envelope, `byteCount` bytes in all.
    public struct StateHeader: Sendable, Equatable {
        public var generation: UInt64
        public var step: UInt64
        /// Total bytes in the raw frames.
        public var byteCount: UInt64
        /// Checksum of those bytes; the algorithm is the sender's and receiver's agreement.
        public var checksum: UInt64
        /// Number of raw frames after the envelope.
        public var frames: UInt32

        public init(generation: UInt64, step: UInt64, byteCount: UInt64, checksum: UInt64, frames: UInt32) {
            self.generation = generation
            self.step = step
            self.byteCount = byteCount
            self.checksum = checksum
            self.frames = frames
        }
    }

    /// A tool asks the coordinator how the run is going.
    public struct StatusRequest: Sendable, Equatable {
        public init() {}
    }

    /// The coordinator's answer to a ``StatusRequest``.
    public struct Status: Sendable, Equatable {
        /// One worker of the current generation.
        public struct Worker: Sendable, Equatable {
            public var name: String
            public var rank: UInt32
            public var imagesPerSecond: Double
            /// Seconds since the coordinator last heard from this worker.
            public var lastHeartbeatAgeSeconds: Double

            public init(name: String, rank: UInt32, imagesPerSecond: Double, lastHeartbeatAgeSeconds: Double) {
                self.name = name
                self.rank = rank
                self.imagesPerSecond = imagesPerSecond
                self.lastHeartbeatAgeSeconds = lastHeartbeatAgeSeconds
            }
        }

        public var runDirectory: String
        /// The last committed step.
        public var step: UInt64
        public var epoch: UInt64
        public var generation: UInt64
        /// The workers of the current generation, in rank order.
        public var workers: [Worker]
        /// The step of the newest checkpoint, nil before the first.
        public var lastCheckpointStep: UInt64?
        /// The loss of the last committed step, nil before the first.
        public var loss: Double?

        public init(
            runDirectory: String, step: UInt64, epoch: UInt64, generation: UInt64, workers: [Worker],
            lastCheckpointStep: UInt64?, loss: Double?
        ) {
            self.runDirectory = runDirectory
            self.step = step
            self.epoch = epoch
            self.generation = generation
            self.workers = workers
            self.lastCheckpointStep = lastCheckpointStep
            self.loss = loss
        }
    }
}
