// Joining, staying and leaving: the messages by which workers register, are welcomed or refused,
// report that they are alive, and are told to stop. Plain values mirroring proto/simclr.proto.

extension ControlMessage {
    /// A worker asks to join; sent first, and again after every reconnect.
    public struct Register: Sendable, Equatable {
        /// ``ControlMessage/protocolVersion`` of the sender.
        public var protocolVersion: UInt32
        /// Stable worker id, unique in the cluster; membership rests on it, not on socket identities.
        public var name: String
        /// Compute threads the worker will use.
        public var threads: UInt32
        /// Fingerprint of the worker's resolved configuration.
        public var configurationHash: String
        /// Fingerprint of the packed dataset the worker can read.
        public var datasetFingerprint: String
        /// Where this worker's ring PULL socket is bound, e.g. `tcp://10.0.0.7:5601`.
        public var ringEndpoint: String
        /// Whether the worker has a local copy of the dataset.
        public var hasDataset: Bool
        /// The worker's own configuration as JSON when it was started with one (empty otherwise),
        /// so that a refusal can name the fields that differ.
        public var configurationJSON: String

        public init(
            protocolVersion: UInt32 = ControlMessage.protocolVersion, name: String, threads: UInt32,
            configurationHash: String, datasetFingerprint: String, ringEndpoint: String, hasDataset: Bool,
            configurationJSON: String = ""
        ) {
            self.protocolVersion = protocolVersion
            self.name = name
            self.threads = threads
            self.configurationHash = configurationHash
            self.datasetFingerprint = datasetFingerprint
            self.ringEndpoint = ringEndpoint
            self.hasDataset = hasDataset
            self.configurationJSON = configurationJSON
        }
    }

    /// The coordinator admits a worker into a generation.
    public struct Welcome: Sendable, Equatable {
        public var rank: UInt32
        public var worldSize: UInt32
        public var generation: UInt64
        /// Every rank's ring endpoint, in rank order.
        public var ringEndpoints: [String]
        /// The run's resolved configuration, as JSON.
        public var configurationJSON: String
        /// The first step the worker will be planned for.
        public var startStep: UInt64
        /// Whether a ``StateHeader`` with the model state comes next.
        public var stateFollows: Bool

        public init(
            rank: UInt32, worldSize: UInt32, generation: UInt64, ringEndpoints: [String], configurationJSON: String,
            startStep: UInt64, stateFollows: Bool
        ) {
            self.rank = rank
            self.worldSize = worldSize
            self.generation = generation
            self.ringEndpoints = ringEndpoints
            self.configurationJSON = configurationJSON
            self.startStep = startStep
            self.stateFollows = stateFollows
        }
    }

    /// The coordinator turns a worker away, naming the first field that differs.
    public struct Refuse: Sendable, Equatable {
        /// What differs, for a person: both values and what to do.
        public var reason: String
        /// Which field differs, e.g. `protocol_version`, `configuration.temperature`, `dataset_fingerprint`.
        public var field: String

        public init(reason: String, field: String) {
            self.reason = reason
            self.field = field
        }
    }

    /// A worker is alive; sent on a timer, also between steps.
    public struct Heartbeat: Sendable, Equatable {
        public var generation: UInt64
        /// The last step the worker finished.
        public var step: UInt64
        public var imagesPerSecond: Double
        public var stepMilliseconds: Double
        /// The worker's resident memory.
        public var residentBytes: UInt64

        public init(
            generation: UInt64, step: UInt64, imagesPerSecond: Double, stepMilliseconds: Double, residentBytes: UInt64
        ) {
            self.generation = generation
            self.step = step
            self.imagesPerSecond = imagesPerSecond
            self.stepMilliseconds = stepMilliseconds
            self.residentBytes = residentBytes
        }
    }

    /// The coordinator tells a worker to exit, or a tool tells the coordinator.
    public struct Stop: Sendable, Equatable {
        public var reason: String

        public init(reason: String) {
            self.reason = reason
        }
    }
}
