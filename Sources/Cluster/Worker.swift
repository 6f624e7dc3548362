// A cluster worker: registers with the coordinator over a DEALER socket, forms the ring with the
// other workers of its generation, and runs the steps the coordinator plans on its share of each
// global batch, reading the samples from its local copy of the dataset. A step it has run stays
// undoable until the coordinator commits it: an abort puts back the state before the step.
// Membership, the plan and checkpoints are the coordinator's; the collectives are the ring's.

import Collectives
import ControlProtocol
import Datasets
import Foundation
import Training

public struct WorkerOptions: Sendable {
    /// The coordinator's control endpoint, e.g. "tcp://10.0.0.5:5555".
    public var coordinator: String
    /// This worker's copy of the dataset file (the coordinator checks its fingerprint).
    public var data: URL
    /// A stable name, unique in the cluster.
    public var name: String
    public var threads: Int
    public var loaderThreads: Int
    /// Where the other workers reach this one's ring socket: "tcp://HOST:*" (any free port) or an
    /// "ipc://" path for workers on one host.
    public var ringBind: String
    /// The configuration this worker was started with, if any: it then refuses to train another,
    /// and the refusal names the fields that differ.
    public var configuration: TrainingConfiguration?
    /// How long to wait for the coordinator before giving up.
    public var coordinatorTimeout: Duration = .seconds(120)
    /// How long a collective may make no progress before the step is given up (a neighbour died).
    public var ringTimeout: Duration = RingConfiguration().timeout

    public init(
        coordinator: String, data: URL, name: String, threads: Int, loaderThreads: Int, ringBind: String,
        configuration: TrainingConfiguration? = nil
    ) {
        self.coordinator = coordinator
        self.data = data
        self.name = name
        self.threads = threads
        self.loaderThreads = loaderThreads
        self.ringBind = ringBind
        self.configuration = configuration
    }
}

/// What a worker tells its caller as it goes.
public enum WorkerEvent: Sendable {
    case registered(coordinator: String, ringEndpoint: String)
    case welcomed(rank: Int, worldSize: Int, generation: UInt64, startStep: Int)
    case ringFormed(rank: Int, worldSize: Int)
    case dropped(reason: String, count: Int)
    /// This worker could not finish step `step` and told the coordinator, which will abort it.
    case failed(step: Int, reason: String)
    /// The coordinator gave step `step` up and the state before it is back (`restored`, or the
    /// worker had not started it); the worker registers again for the next generation.
    case aborted(step: Int, reason: String, restored: Bool)
    case stopping(reason: String, step: Int)
}

/// Why a worker stopped before the coordinator told it to.
public struct WorkerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public final class Worker {
    public let options: WorkerOptions
    private let context: ZeroMQContext
    private let control: ControlChannel
    private let dataset: PackedDataset
    /// Messages that were malformed, unknown or stale, dropped with a log line each.
    public private(set) var droppedMessages = 0

    public init(options: WorkerOptions) throws {
        self.options = options
        dataset = try PackedDataset(path: options.data.path)
        context = try ZeroMQContext()
        control = try ControlChannel(dealerTo: options.coordinator, context: context)
    }

    /// Joins, trains until the coordinator says stop, and returns. `report` hears of every event.
    ///
    /// Each pass of the loop is one generation of the cluster: register (with a fresh ring socket),
    /// be welcomed, train. When the coordinator aborts a step, this worker puts back the state
    /// before it and registers again, so that the coordinator can regroup the workers that are
    /// still alive into the next generation and run the same step again.
    public func run(_ report: (WorkerEvent) -> Void) throws {
        var ringConfiguration = RingConfiguration()
        ringConfiguration.timeout = options.ringTimeout
        // Forming a ring is a few small messages among workers the coordinator has just heard from.
        ringConfiguration.setupTimeout = options.ringTimeout
        var training: Training?
        while true {
            let binding = try Self.bind(options.ringBind, context: context, configuration: ringConfiguration)
            let ringEndpoint = Self.reachable(binding.endpoint, bind: options.ringBind)
            try control.send(
                .register(
                    Register(
                        protocolVersion: ControlMessage.protocolVersion, name: options.name,
                        threads: UInt32(options.threads), configurationHash: options.configuration?.hash ?? "",
                        datasetFingerprint: dataset.fingerprint, ringEndpoint: ringEndpoint, hasDataset: true,
                        configurationJSON: try options.configuration.map {
                            String(decoding: try JSONEncoder().encode($0), as: UTF8.self)
                        } ?? "")))
            report(.registered(coordinator: options.coordinator, ringEndpoint: ringEndpoint))
            guard let welcome = try awaitWelcome(rejoiningAt: training?.nextStep, report) else { return }
            if training == nil { training = try Training(welcome: welcome, dataset: dataset, options: options) }
            guard let training else { return }
            if welcome.stateFollows { try receiveState(into: training.engine, report) }
            guard Int(welcome.startStep) == training.nextStep || training.nextStep == nil else {
                throw WorkerError(
                    "welcomed at step \(welcome.startStep) but this worker holds the state before step "
                        + "\(training.nextStep ?? 0)")
            }
            report(
                .welcomed(
                    rank: Int(welcome.rank), worldSize: Int(welcome.worldSize), generation: welcome.generation,
                    startStep: Int(welcome.startStep)))
            guard
                try train(
                    training, welcome: welcome, binding: binding, ringConfiguration: ringConfiguration, report)
            else { return }
        }
    }

    /// What a worker keeps from one generation to the next: the configuration, the plan and the
    /// model with its optimizer state.
    final class Training {
        let configuration: TrainingConfiguration
        let plan: GlobalBatchPlan
        let engine: SimCLRStep
        /// The step the state is before; nil until the first generation sets it.
        var nextStep: Int?

        init(welcome: Welcome, dataset: PackedDataset, options: WorkerOptions) throws {
            do {
                configuration = try JSONDecoder().decode(
                    TrainingConfiguration.self, from: Data(welcome.configurationJSON.utf8))
            } catch {
                throw WorkerError("the coordinator's configuration is unreadable: \(error)")
            }
            plan = GlobalBatchPlan(
                sampleCount: dataset.count, batchSize: configuration.batchSize, seed: configuration.seed)
            engine = SimCLRStep(
                configuration: configuration, stepsPerEpoch: plan.stepsPerEpoch, threads: options.threads)
        }
    }

    /// Binds the ring's receiving end. A fixed port that the previous generation's socket held may
    /// take libzmq a moment to release, so a failed bind is retried for up to five seconds.
    static func bind(
        _ endpoint: String, context: ZeroMQContext, configuration: RingConfiguration
    ) throws -> RingBinding {
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            do {
                return try RingBinding(context: context, endpoint: endpoint, configuration: configuration)
            } catch  where ContinuousClock.now < deadline {
                usleep(100_000)
            }
        }
    }

    /// The coordinator's welcome; nil when it says stop to a worker that has trained already.
    private func awaitWelcome(rejoiningAt step: Int?, _ report: (WorkerEvent) -> Void) throws -> Welcome? {
        while true {
            guard let (message, _) = try receive(timeout: options.coordinatorTimeout, report) else {
                throw WorkerError(
                    "no answer from the coordinator at \(options.coordinator) within \(options.coordinatorTimeout)")
            }
            switch message {
            case .welcome(let welcome): return welcome
            case .refuse(let refusal):
                throw WorkerError("the coordinator refused this worker: \(refusal.reason) (field \(refusal.field))")
            case .stop(let stop):
                if let step {
                    report(.stopping(reason: stop.reason, step: step))
                    return nil
                }
                throw WorkerError("the coordinator stopped before training: \(stop.reason)")
            default: drop("\(message.kind) before the welcome", report)
            }
        }
    }

    /// After a ring that could not be formed: waits for the coordinator's abort of `generation`
    /// (true: register again) or its stop (false).
    private func awaitAbort(of generation: UInt64, at step: Int, _ report: (WorkerEvent) -> Void) throws -> Bool {
        while true {
            guard let (message, _) = try receive(timeout: options.coordinatorTimeout, report) else {
                throw WorkerError("the coordinator has been silent for \(options.coordinatorTimeout)")
            }
            switch message {
            case .abort(let abort) where abort.generation == generation:
                report(.aborted(step: Int(abort.step), reason: abort.reason, restored: false))
                return true
            case .stop(let stop):
                report(.stopping(reason: stop.reason, step: step))
                return false
            default: drop("\(message.kind) while waiting for the coordinator to regroup", report)
            }
        }
    }

    /// Receives a state transfer and loads it into `engine`.
    private func receiveState(into engine: SimCLRStep, _ report: (WorkerEvent) -> Void) throws {
        guard let (message, frames) = try receive(timeout: options.coordinatorTimeout, report),
            case .stateHeader(let header) = message
        else { throw WorkerError("the coordinator announced a state transfer but sent none") }
        let bytes = Array(frames.joined())
        guard bytes.count == Int(header.byteCount), Checksum.fnv1a64(bytes) == header.checksum else {
            throw WorkerError("the state transfer arrived damaged (\(bytes.count) of \(header.byteCount) bytes)")
        }
        try engine.restore(try Checkpoint.decode(bytes, path: "state from the coordinator"), path: "coordinator")
    }

    /// Trains one generation: true when it ended in an abort (the state before the aborted step is
    /// back and the worker should register again), false when the coordinator said stop.
    private func train(
        _ training: Training, welcome: Welcome, binding: RingBinding, ringConfiguration: RingConfiguration,
        _ report: (WorkerEvent) -> Void
    ) throws -> Bool {
        let engine = training.engine
        let configuration = training.configuration
        let rank = Int(welcome.rank)
        let generation = welcome.generation

        // The ring of this generation, and the exchange the step runs on.
        let ring: RingCommunicator
        do {
            ring = try RingCommunicator(
                binding: binding, context: context, rank: rank, endpoints: welcome.ringEndpoints,
                generation: generation, configuration: ringConfiguration)
        } catch {
            // A member of the new generation is gone already: have the coordinator regroup again.
            let step = UInt64(welcome.startStep)
            try control.send(
                .abort(Abort(generation: generation, step: step, reason: "\(options.name): \(error)")))
            report(.failed(step: Int(step), reason: "\(error)"))
            return try awaitAbort(of: generation, at: Int(step), report)
        }
        defer { ring.close() }
        let exchange = RingExchange(ring: ring, synchronizeBatchNorm: configuration.synchronizeBatchNorm)
        exchange.attach(to: engine.context)
        let loader = BatchLoader(
            dataset: dataset, configuration: Trainer.augmentation(configuration, imageSize: dataset.height),
            seed: configuration.seed, threads: options.loaderThreads, maximumBatchSize: training.plan.batchSize + 1,
            slots: 4)
        defer { loader.close() }
        report(.ringFormed(rank: rank, worldSize: welcome.ringEndpoints.count))

        // Work through the coordinator's messages in order; plans are handed to the loader as
        // soon as they arrive so that the next batch is prepared while this one computes. Until
        // a step is committed, the state before it is kept so that an abort can undo it.
        let uncommitted = UncommittedSteps(engine: engine)
        var gaveUp = false
        // A failed step may have changed the batch-norm statistics: no state leaves this worker
        // until the coordinator's abort has put back a whole one.
        var stateIsPartial = false
        var nextStep = Int(welcome.startStep)
        training.nextStep = nextStep
        defer { training.nextStep = nextStep }
        var queue: [(ControlMessage, [[UInt8]])] = []
        var lastHeartbeat = ContinuousClock.now
        var lastImagesPerSecond = 0.0
        var lastStepMilliseconds = 0.0
        var lastHeard = ContinuousClock.now
        while true {
            // Take in everything waiting (or wait a little when there is nothing to do).
            var wait: Duration = queue.isEmpty ? .seconds(1) : .zero
            while let (message, frames) = try receive(timeout: wait, once: true, report) {
                wait = .zero
                lastHeard = .now
                switch message {
                case .stepPlan(let stepPlan):
                    guard stepPlan.generation == generation, !gaveUp else {
                        drop("plan of step \(stepPlan.step) (generation \(stepPlan.generation)) after an abort", report)
                        continue
                    }
                    let share = Self.share(of: stepPlan, rank: rank)
                    try loader.submit(indices: share.map { Int($0) }, epoch: Int(stepPlan.epoch))
                    queue.append((message, frames))
                case .stateRequest, .stop: queue.append((message, frames))
                case .commit(let commit):
                    guard commit.generation == generation else {
                        drop("commit of generation \(commit.generation)", report)
                        continue
                    }
                    uncommitted.commit(through: Int(commit.step))
                case .abort(let abort):
                    guard abort.generation == generation else {
                        drop("abort of generation \(abort.generation)", report)
                        continue
                    }
                    // Everything queued belongs to the abandoned step or later. Put back the
                    // state before it, and go register for the next generation.
                    let restored = uncommitted.rollBack(to: Int(abort.step))
                    if restored {
                        nextStep = Int(abort.step)
                        stateIsPartial = false
                    }
                    report(.aborted(step: Int(abort.step), reason: abort.reason, restored: restored))
                    guard nextStep == Int(abort.step), !stateIsPartial else {
                        throw WorkerError("step \(abort.step + 1) was aborted and its state could not be put back")
                    }
                    return true
                default: drop("unexpected \(message.kind)", report)
                }
            }
            if ContinuousClock.now - lastHeartbeat > .seconds(2) {
                try control.send(
                    .heartbeat(
                        Heartbeat(
                            generation: generation, step: UInt64(nextStep), imagesPerSecond: lastImagesPerSecond,
                            stepMilliseconds: lastStepMilliseconds, residentBytes: ResidentMemory.bytes)))
                lastHeartbeat = .now
            }
            guard !queue.isEmpty else {
                if ContinuousClock.now - lastHeard > options.coordinatorTimeout {
                    throw WorkerError("the coordinator has been silent for \(options.coordinatorTimeout)")
                }
                continue
            }

            let (message, _) = queue.removeFirst()
            switch message {
            case .stepPlan(let stepPlan):
                guard Int(stepPlan.step) == nextStep else {
                    throw WorkerError("planned for step \(stepPlan.step) but this worker is at step \(nextStep)")
                }
                let started = ContinuousClock.now
                let batch = try loader.next()
                let dataMilliseconds = (ContinuousClock.now - started).milliseconds
                exchange.setRows(stepPlan.counts.map { 2 * Int($0) })
                ring.step = stepPlan.step
                guard !uncommitted.isFull else {
                    throw WorkerError(
                        "planned for step \(stepPlan.step) while steps \(uncommitted.steps) are not committed")
                }
                uncommitted.save(before: nextStep)
                let outcome: (loss: Double, timings: StepTimings)
                do {
                    outcome = try engine.run(
                        views: batch.images, step: nextStep, exchange: exchange, reduction: exchange)
                } catch {
                    // Give the step up and wait for the coordinator's abort, which names the step
                    // to go back to: a commit of the step before may still be on its way.
                    try control.send(
                        .abort(Abort(generation: generation, step: stepPlan.step, reason: "\(options.name): \(error)")))
                    queue.removeAll { if case .stepPlan = $0.0 { true } else { false } }
                    gaveUp = true
                    stateIsPartial = true
                    report(.failed(step: Int(stepPlan.step), reason: "\(error)"))
                    continue
                }
                var timings = outcome.timings
                timings.data = dataMilliseconds
                try control.send(
                    .stepDone(
                        StepDone(
                            generation: generation, step: stepPlan.step, rank: UInt32(rank), loss: outcome.loss,
                            samples: UInt32(batch.indices.count), timings: Self.wire(timings))))
                lastStepMilliseconds = timings.total
                lastImagesPerSecond = Double(batch.images.shape.n) / (timings.total / 1000)
                nextStep += 1

            case .stateRequest(let request):
                guard request.generation == generation, Int(request.step) == nextStep, !stateIsPartial else {
                    drop("a request for the state before step \(request.step) at step \(nextStep)", report)
                    continue
                }
                if let bad = engine.firstNonFiniteTensor() { throw NonFiniteError(step: nextStep, tensor: bad) }
                var state = engine.snapshot(step: nextStep)
                state.record(dataset)
                let bytes = try Checkpoint.encode(state)
                let frames = Self.frames(of: bytes)
                try control.send(
                    .stateHeader(
                        StateHeader(
                            generation: generation, step: request.step, byteCount: UInt64(bytes.count),
                            checksum: Checksum.fnv1a64(bytes), frames: UInt32(frames.count))),
                    frames: frames)

            case .stop(let stop):
                report(.stopping(reason: stop.reason, step: nextStep))
                return false

            default: break
            }
        }
    }

    /// The indices rank `rank` takes from a plan: the `counts[rank]` after those of lower ranks.
    static func share(of plan: StepPlan, rank: Int) -> ArraySlice<Int64> {
        let start = plan.counts[..<rank].reduce(0) { $0 + Int($1) }
        return plan.indices[start..<(start + Int(plan.counts[rank]))]
    }

    static func wire(_ timings: StepTimings) -> StepDone.Timings {
        StepDone.Timings(
            data: timings.data, forward: timings.forward, exchange: timings.exchange, backward: timings.backward,
            allReduce: timings.allReduce, optimizer: timings.optimizer)
    }

    /// A state split into frames of at most 16 MB, so no single frame dwarfs the socket buffers.
    static func frames(of bytes: [UInt8]) -> [[UInt8]] {
        stride(from: 0, to: max(bytes.count, 1), by: 16 << 20).map {
            Array(bytes[$0..<min($0 + (16 << 20), bytes.count)])
        }
    }

    /// The bound endpoint as the others can reach it: a wildcard host is replaced by this
    /// machine's name.
    static func reachable(_ endpoint: String, bind: String) -> String {
        guard endpoint.hasPrefix("tcp://0.0.0.0:") else { return endpoint }
        return endpoint.replacingOccurrences(of: "0.0.0.0", with: ProcessInfo.processInfo.hostName)
    }

    private func receive(
        timeout: Duration, once: Bool = false, _ report: (WorkerEvent) -> Void
    ) throws -> (ControlMessage, [[UInt8]])? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let (_, received) = try control.receive(timeout: max(deadline - .now, .zero)) {
                switch received {
                case .message(let message, let frames): return (message, frames)
                case .malformed(let reason): drop("malformed: \(reason)", report)
                }
            }
            if once || ContinuousClock.now >= deadline { return nil }
        }
    }

    private func drop(_ what: String, _ report: (WorkerEvent) -> Void) {
        droppedMessages += 1
        report(.dropped(reason: what, count: droppedMessages))
    }
}

extension Duration {
    /// The duration in milliseconds, as a Double.
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}

/// This process's resident set size, read from /proc (0 where that is unavailable).
enum ResidentMemory {
    static var bytes: UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
