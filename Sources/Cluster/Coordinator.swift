// The coordinator of a cluster run: owns the configuration, the global batch plan, membership,
// the commit of every step, checkpoints, metrics and the ledger of which samples each committed
// step used. It never computes a gradient; workers do (Worker.swift), over their ring.
//
// Membership is a numbered generation fixed at a step boundary, and a step counts only when every
// rank of its generation reported it (commit). When a step fails, every worker puts back the state
// before it (abort) and registers again; those that do within the regroup timeout form the next
// generation, which runs the same step again with the same samples split among fewer workers.

import Collectives
import ControlProtocol
import Datasets
import Foundation
import Optimization
import Training

public struct CoordinatorOptions: Sendable {
    /// The control endpoint to bind, e.g. "tcp://*:5555" or "tcp://127.0.0.1:*".
    public var bind: String
    public var data: URL
    public var runDirectory: URL
    /// Workers that form the first generation; training starts when that many have registered.
    public var workers: Int
    public var resume: Bool
    /// A checkpoint also after this many minutes since the last one (besides every N steps).
    public var checkpointMinutes: Double?
    /// How long a step may take before the run is stopped as stuck (a worker died or hangs).
    public var stepTimeout: Duration = .seconds(600)
    /// How long to wait for the first generation's workers to register.
    public var registrationTimeout: Duration = .seconds(600)
    /// After an abort, how long to wait for the workers to register again. Longer than the
    /// workers' ring timeout, since a worker stuck in a collective answers only after it.
    public var regroupTimeout: Duration = .seconds(60)
    /// Labeled sets for the kNN monitor (train = memory bank, test = queries), evaluated on the
    /// state of every checkpoint; nil for none.
    public var monitorTrain: URL?
    public var monitorTest: URL?
    /// Compute threads of the monitor; it shares the machine with whatever else runs there.
    public var monitorThreads = 1

    public init(bind: String, data: URL, runDirectory: URL, workers: Int, resume: Bool = false) {
        self.bind = bind
        self.data = data
        self.runDirectory = runDirectory
        self.workers = workers
        self.resume = resume
    }
}

/// Why a cluster run stopped early.
public struct CoordinatorError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What a coordinator tells its caller as the run goes.
public enum CoordinatorEvent: Sendable {
    case listening(endpoint: String)
    case refused(worker: String, reason: String)
    case joined(worker: String, rank: Int)
    case started(stepsPerEpoch: Int, totalSteps: Int, firstStep: Int, generation: UInt64, workers: Int)
    case resumed(from: String, step: Int, skipped: [String])
    case step(StepReport)
    case checkpoint(path: String, step: Int)
    /// The checkpoint after `step` steps could not be written; training goes on.
    case checkpointFailed(step: Int, reason: String)
    /// The kNN monitor's accuracy on the checkpointed state after `step` steps, or why it failed.
    case monitor(step: Int, accuracy: Double)
    case monitorFailed(step: Int, reason: String)
    case dropped(reason: String, count: Int)
    /// Step `step` (0-based) is given up; workers put back the state before it.
    case aborting(step: Int, reason: String)
    /// The workers that came back after an abort (and any that joined) form generation
    /// `generation`; `lost` did not come back.
    case regrouped(generation: UInt64, workers: [String], lost: [String])
    /// A worker registered during training; it joins at the next step boundary.
    case joining(worker: String, step: Int)
}

public final class Coordinator {
    public let configuration: TrainingConfiguration
    public let options: CoordinatorOptions
    public let dataset: PackedDataset
    public let plan: GlobalBatchPlan
    public let lastStep: Int
    /// Messages that were malformed, unknown, or for another step or generation.
    public private(set) var droppedMessages = 0

    private struct Member {
        var identity: [UInt8]
        var name: String
        var ringEndpoint: String
        var lastHeard: ContinuousClock.Instant
        var imagesPerSecond: Double = 0
    }

    private let context: ZeroMQContext
    private let control: ControlChannel
    private var members: [Member] = []
    private var generation: UInt64 = 0
    private var committedStep = 0
    private var lastLoss: Double?
    private var lastCheckpointStep: Int?
    /// The configuration as sent in every welcome.
    private var configurationJSON = ""
    private let knnMonitor: KNNMonitor?
    private var checkpointMonitor: CheckpointMonitor?

    public init(configuration: TrainingConfiguration, options: CoordinatorOptions) throws {
        try configuration.validate()
        precondition(options.workers >= 1, "Coordinator: at least one worker")
        self.configuration = configuration
        self.options = options
        dataset = try PackedDataset(path: options.data.path)
        plan = GlobalBatchPlan(sampleCount: dataset.count, batchSize: configuration.batchSize, seed: configuration.seed)
        let scheduled = configuration.epochs * plan.stepsPerEpoch
        lastStep = min(scheduled, configuration.steps ?? scheduled)
        guard plan.batchSize >= 2 * options.workers else {
            throw ConfigurationError(
                "batch-size \(plan.batchSize) leaves some of the \(options.workers) workers fewer than 2 samples")
        }
        let imageSize = dataset.height
        knnMonitor = try options.monitorTrain.flatMap { train in
            try options.monitorTest.map { try KNNMonitor(train: train, test: $0, imageSize: imageSize) }
        }
        context = try ZeroMQContext()
        control = try ControlChannel(routerAt: options.bind, context: context)
    }

    /// The bound control endpoint, with the port chosen for a "*" bind.
    public var endpoint: String { control.boundEndpoint }

    /// Runs the job to its last step: admits the first generation, plans and commits every step,
    /// keeps checkpoints, and tells the workers to stop.
    public func run(_ report: (CoordinatorEvent) -> Void) throws {
        let directory = options.runDirectory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        report(.listening(endpoint: endpoint))
        try? Data(endpoint.utf8).write(to: directory.appendingPathComponent("coordinator.endpoint"), options: .atomic)

        // Resume, or start a fresh run directory.
        var state: TrainingState?
        if options.resume {
            let (saved, url, skipped) = try Checkpoint.latestGood(in: directory)
            try saved.checkDataset(dataset, path: url.path)
            let differences = configuration.differences(from: saved.configuration)
            guard differences.isEmpty else {
                throw CoordinatorError(
                    "\(url.path) was written with another configuration: " + differences.joined(separator: ", "))
            }
            state = saved
            committedStep = saved.step
            lastCheckpointStep = saved.step
            report(.resumed(from: url.path, step: saved.step, skipped: skipped.map { "\($0)" }))
        } else if !Checkpoint.list(in: directory).isEmpty {
            throw ConfigurationError(
                "\(directory.path) already holds checkpoints; pass --resume to continue it or choose a new --run-dir")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let configurationData = try encoder.encode(configuration)
        try configurationData.write(to: directory.appendingPathComponent("config.json"), options: .atomic)
        configurationJSON = String(decoding: configurationData, as: UTF8.self)
        let metrics = try MetricsLog(
            url: directory.appendingPathComponent("metrics.jsonl"), truncateAfterStep: committedStep)
        let ledger = try MetricsLog(
            url: directory.appendingPathComponent("ledger.jsonl"), truncateAfterStep: committedStep)

        checkpointMonitor = knnMonitor.map {
            CheckpointMonitor(
                monitor: $0, configuration: configuration, stepsPerEpoch: plan.stepsPerEpoch,
                threads: options.monitorThreads)
        }
        try admitFirstGeneration(state: state, report)
        report(
            .started(
                stepsPerEpoch: plan.stepsPerEpoch, totalSteps: lastStep, firstStep: committedStep,
                generation: generation, workers: members.count))
        do {
            try train(metrics: metrics, ledger: ledger, report)
        } catch {
            // Whatever stopped the run, the workers should not wait for a coordinator that is gone.
            for member in members {
                try? control.send(.stop(Stop(reason: "the coordinator stopped: \(error)")), to: member.identity)
            }
            throw error
        }
        for member in members {
            try? control.send(.stop(Stop(reason: "the run reached step \(lastStep)")), to: member.identity)
        }
        // The workers are done; the monitor may still be evaluating the last checkpoint.
        if let checkpointMonitor { try record(checkpointMonitor.finish(), metrics: metrics, report) }
        guard lastCheckpointStep == lastStep else {
            throw CoordinatorError(
                "the run reached step \(lastStep) but its last checkpoint could not be written (see the log); the "
                    + "newest checkpoint is at step \(lastCheckpointStep.map(String.init) ?? "none")")
        }
    }

    // MARK: Membership

    /// Waits for `options.workers` acceptable registrations, then welcomes them as generation 1
    /// (ranks in order of registration) and sends the resumed state to each.
    private func admitFirstGeneration(state: TrainingState?, _ report: (CoordinatorEvent) -> Void) throws {
        let deadline = ContinuousClock.now + options.registrationTimeout
        while members.count < options.workers {
            guard let (identity, received) = try control.receive(timeout: min(deadline - .now, .seconds(1))) else {
                if ContinuousClock.now >= deadline {
                    throw CoordinatorError(
                        "only \(members.count) of \(options.workers) workers registered within \(options.registrationTimeout)"
                    )
                }
                continue
            }
            guard case .message(let message, _) = received else {
                drop(received, report)
                continue
            }
            switch message {
            case .register(let registration):
                guard let member = admissible(registration, from: identity, report) else { continue }
                members.removeAll { $0.identity == identity || $0.name == registration.name }
                members.append(member)
            case .statusRequest: try answerStatus(to: identity)
            case .heartbeat: break
            default: drop(.malformed("\(message.kind) from an unregistered peer"), report)
            }
        }

        try welcomeGeneration(newFrom: 0, state: try state.map { try Checkpoint.encode($0) }, report)
    }

    /// Welcomes `members` as the next generation at `committedStep`. The members from rank
    /// `newFrom` on are new to the run: they are reported as joined and, when `state` is given,
    /// sent it; the others keep the state they hold.
    private func welcomeGeneration(newFrom: Int, state: [UInt8]?, _ report: (CoordinatorEvent) -> Void) throws {
        generation += 1
        let endpoints = members.map(\.ringEndpoint)
        for (rank, member) in members.enumerated() {
            let isNew = rank >= newFrom
            try control.send(
                .welcome(
                    Welcome(
                        rank: UInt32(rank), worldSize: UInt32(members.count), generation: generation,
                        ringEndpoints: endpoints, configurationJSON: configurationJSON,
                        startStep: UInt64(committedStep), stateFollows: isNew && state != nil)),
                to: member.identity)
            if isNew, let state {
                let frames = Self.frames(of: state)
                try control.send(
                    .stateHeader(
                        StateHeader(
                            generation: generation, step: UInt64(committedStep), byteCount: UInt64(state.count),
                            checksum: Checksum.fnv1a64(state), frames: UInt32(frames.count))),
                    frames: frames, to: member.identity)
            }
            if isNew { report(.joined(worker: member.name, rank: rank)) }
        }
    }

    /// A member for `registration`, or nil after refusing it and reporting why.
    private func admissible(
        _ registration: Register, from identity: [UInt8], _ report: (CoordinatorEvent) -> Void
    ) -> Member? {
        if let refusal = refusal(of: registration) {
            try? control.send(.refuse(refusal), to: identity)
            report(.refused(worker: registration.name, reason: refusal.reason))
            return nil
        }
        return Member(
            identity: identity, name: registration.name, ringEndpoint: registration.ringEndpoint, lastHeard: .now)
    }

    /// Why `registration` cannot join this run, naming the field that differs; nil if it can.
    private func refusal(of registration: Register) -> Refuse? {
        if registration.protocolVersion != ControlMessage.protocolVersion {
            return Refuse(
                reason: "worker \(registration.name) speaks protocol version \(registration.protocolVersion), this "
                    + "coordinator \(ControlMessage.protocolVersion): run the same simclr build everywhere",
                field: "protocol_version")
        }
        if !registration.configurationHash.isEmpty && registration.configurationHash != configuration.hash {
            let theirs = try? JSONDecoder().decode(
                TrainingConfiguration.self, from: Data(registration.configurationJSON.utf8))
            let differences = theirs.map { configuration.differences(from: $0) } ?? []
            return Refuse(
                reason: "worker \(registration.name) was started with another configuration ("
                    + (differences.isEmpty
                        ? "hash \(registration.configurationHash), the run's is \(configuration.hash)"
                        : "differs in "
                            + differences.joined(separator: ", ").replacingOccurrences(
                                of: " here,", with: " in the run,"
                            ).replacingOccurrences(of: " there)", with: " in the worker)"))
                    + "): start it without --config, or with the run's config.json",
                field: differences.first.map {
                    "configuration." + ($0.split(separator: " ").first.map(String.init) ?? "")
                }
                    ?? "configuration_hash")
        }
        if !registration.hasDataset {
            return Refuse(
                reason: "worker \(registration.name) has no copy of the dataset; start it with --data FILE "
                    + "(receiving samples from the coordinator is not built yet)",
                field: "has_dataset")
        }
        if registration.datasetFingerprint != dataset.fingerprint {
            return Refuse(
                reason: "worker \(registration.name) reads dataset \(registration.datasetFingerprint), the run's is "
                    + "\(dataset.fingerprint) (\(dataset.path)): give it a copy of the same prepared file",
                field: "dataset_fingerprint")
        }
        return nil
    }

    // MARK: Steps

    /// Plans, collects and commits every step to `lastStep`. Plans go out one step ahead so that
    /// workers prepare the next batch while the current one computes; a state request for a
    /// checkpoint goes to rank 0 right after the plan of the step before it, so it is answered
    /// at exactly that boundary.
    private func train(metrics: MetricsLog, ledger: MetricsLog, _ report: (CoordinatorEvent) -> Void) throws {
        var permutations: [Int: [Int]] = [:]
        var planned = committedStep
        var sharesOfStep: [Int: [[Int]]] = [:]
        var done: [Int: [StepDone]] = [:]
        var pendingCheckpoints = Set<Int>()
        var lastCheckpointTime = ContinuousClock.now
        var lastProgress = ContinuousClock.now

        func sendPlan(_ step: Int) throws {
            let epoch = plan.epoch(of: step)
            if permutations[epoch] == nil {
                permutations = permutations.filter { $0.key >= epoch - 1 }
                permutations[epoch] = plan.permutation(epoch: epoch)
            }
            let indices = plan.indices(step: step, permutation: permutations[epoch]!)
            let shares = GlobalBatchPlan.evenSplit(count: indices.count, parts: members.count)
            sharesOfStep[step] = shares.map { Array(indices[$0]) }
            let message = ControlMessage.stepPlan(
                StepPlan(
                    generation: generation, step: UInt64(step), epoch: UInt64(epoch),
                    learningRate: 0, indices: indices.map { Int64($0) }, counts: shares.map { UInt32($0.count) }))
            for member in members { try control.send(message, to: member.identity) }

            // A checkpoint after this step: every N steps, after M minutes, and at the end.
            let boundary = step + 1
            let minutesDue = options.checkpointMinutes.map {
                ContinuousClock.now - lastCheckpointTime > .seconds($0 * 60)
            }
            if boundary % configuration.checkpointEvery == 0 || boundary == lastStep || minutesDue == true {
                pendingCheckpoints.insert(boundary)
                lastCheckpointTime = .now
                try control.send(
                    .stateRequest(StateRequest(generation: generation, step: UInt64(boundary))), to: members[0].identity
                )
            }
        }

        // After an abort: the next generation replans from the first step not committed, and a
        // checkpoint of the committed state still owed is asked of its rank 0.
        func regroup(reason: String, joining: [Member] = [], state: [UInt8]? = nil) throws {
            try regroupMembers(reason: reason, joining: joining, state: state, report)
            planned = committedStep
            done.removeAll()
            sharesOfStep.removeAll()
            pendingCheckpoints = pendingCheckpoints.filter { $0 == committedStep }
            for boundary in pendingCheckpoints {
                try control.send(
                    .stateRequest(StateRequest(generation: generation, step: UInt64(boundary))), to: members[0].identity
                )
            }
            lastProgress = .now
        }

        // Workers waiting to join, and whether the state they start from has been asked for.
        var joiners: [Member] = []
        var awaitingJoinState = false

        while committedStep < lastStep || !pendingCheckpoints.isEmpty {
            if let checkpointMonitor { try record(checkpointMonitor.takeOutcomes(), metrics: metrics, report) }
            // Planning pauses while workers wait to join; once every planned step is committed,
            // rank 0's state at that boundary is checkpointed and sent to them with the welcome.
            while planned < lastStep && planned <= committedStep + 1 && joiners.isEmpty {
                try sendPlan(planned)
                planned += 1
            }
            if !joiners.isEmpty && !awaitingJoinState && planned == committedStep && committedStep < lastStep
                && pendingCheckpoints.isEmpty
            {
                awaitingJoinState = true
                pendingCheckpoints.insert(committedStep)
                try control.send(
                    .stateRequest(StateRequest(generation: generation, step: UInt64(committedStep))),
                    to: members[0].identity)
            }
            guard let (identity, received) = try control.receive(timeout: .seconds(1)) else {
                if ContinuousClock.now - lastProgress > options.stepTimeout {
                    let missing = members.enumerated().filter { rank, _ in
                        !(done[committedStep] ?? []).contains { Int($0.rank) == rank }
                    }.map(\.element.name)
                    try regroup(
                        reason: "step \(committedStep + 1) made no progress for \(options.stepTimeout); no report from "
                            + missing.joined(separator: ", ") + " (see their logs)")
                }
                continue
            }
            guard case .message(let message, let frames) = received else {
                drop(received, report)
                continue
            }
            let rank = members.firstIndex { $0.identity == identity }
            if let rank { members[rank].lastHeard = .now }

            switch message {
            case .stepDone(let stepDone):
                // A rank may report the next step before a slower one's report of this step arrives.
                guard let rank, stepDone.generation == generation, Int(stepDone.rank) == rank,
                    (committedStep...committedStep + 1).contains(Int(stepDone.step)),
                    !(done[Int(stepDone.step)] ?? []).contains(where: { $0.rank == stepDone.rank })
                else {
                    drop(
                        .malformed("a step report for step \(stepDone.step) of generation \(stepDone.generation)"),
                        report)
                    continue
                }
                done[Int(stepDone.step), default: []].append(stepDone)
                members[rank].imagesPerSecond = 2 * Double(stepDone.samples) / (total(stepDone.timings) / 1000)
                guard done[committedStep]?.count == members.count else { continue }

                // Every rank reported: the step counts.
                let reports = done.removeValue(forKey: committedStep)!.sorted { $0.rank < $1.rank }
                let loss = reports[0].loss
                if let disagreeing = reports.first(where: { $0.loss != loss }) {
                    throw CoordinatorError(
                        "ranks disagree on the loss of step \(committedStep + 1) (\(loss) and \(disagreeing.loss)): "
                            + "their collectives went out of step")
                }
                for member in members {
                    try control.send(
                        .commit(Commit(generation: generation, step: UInt64(committedStep))), to: member.identity)
                }
                try record(
                    step: committedStep, reports: reports, shares: sharesOfStep.removeValue(forKey: committedStep)!,
                    metrics: metrics, ledger: ledger, report)
                lastLoss = loss
                committedStep += 1
                lastProgress = .now

            case .stateHeader(let header):
                guard rank == 0, header.generation == generation, pendingCheckpoints.contains(Int(header.step)) else {
                    drop(.malformed("an unrequested state for step \(header.step)"), report)
                    continue
                }
                let state = try saveCheckpoint(header, frames: frames, from: members[0].name, report)
                pendingCheckpoints.remove(Int(header.step))
                lastProgress = .now
                if awaitingJoinState && Int(header.step) == committedStep {
                    awaitingJoinState = false
                    try regroup(
                        reason: "admitting " + joiners.map(\.name).joined(separator: ", "), joining: joiners,
                        state: state)
                    joiners.removeAll()
                }

            case .abort(let abort):
                guard let rank, abort.generation == generation else {
                    drop(.malformed("an abort of step \(abort.step) from an unknown peer or generation"), report)
                    continue
                }
                try regroup(reason: "\(members[rank].name) gave up step \(abort.step + 1): \(abort.reason)")

            case .heartbeat(let heartbeat):
                if let rank, heartbeat.imagesPerSecond > 0 { members[rank].imagesPerSecond = heartbeat.imagesPerSecond }
            case .statusRequest: try answerStatus(to: identity)
            case .register(let registration):
                // A new worker joins at the next step boundary (see the top of the loop).
                guard let joiner = admissible(registration, from: identity, report) else { continue }
                guard !members.contains(where: { $0.identity == identity || $0.name == registration.name }) else {
                    let reason =
                        "a worker named \(registration.name) is already in the run; give each worker its own "
                        + "--name (a restarted worker is let in once the run has dropped its old self)"
                    try? control.send(.refuse(Refuse(reason: reason, field: "name")), to: identity)
                    report(.refused(worker: registration.name, reason: reason))
                    continue
                }
                joiners.removeAll { $0.identity == identity || $0.name == registration.name }
                joiners.append(joiner)
                report(.joining(worker: registration.name, step: committedStep))
            default: drop(.malformed("unexpected \(message.kind)"), report)
            }
        }
        for joiner in joiners {
            try? control.send(
                .stop(Stop(reason: "the run ended before \(joiner.name) could join")), to: joiner.identity)
        }
    }

    /// Checks a state transfer against its header and this run, and writes it as the checkpoint
    /// before step `header.step`. A checkpoint that cannot be written (a full disk, say) is
    /// reported and training goes on: the older checkpoints stay, and the next one is tried again.
    @discardableResult
    private func saveCheckpoint(
        _ header: StateHeader, frames: [[UInt8]], from worker: String, _ report: (CoordinatorEvent) -> Void
    ) throws -> [UInt8] {
        let bytes = Array(frames.joined())
        guard frames.count == Int(header.frames), bytes.count == Int(header.byteCount),
            Checksum.fnv1a64(bytes) == header.checksum
        else {
            throw CoordinatorError(
                "the state for step \(header.step) from \(worker) arrived damaged (\(bytes.count) of "
                    + "\(header.byteCount) bytes)")
        }
        let state = try Checkpoint.decode(bytes, path: "state of step \(header.step) from \(worker)")
        guard state.configuration.hash == configuration.hash, state.step == Int(header.step) else {
            throw CoordinatorError("\(worker) sent the state of another run or step (\(state.step))")
        }
        do {
            let url = try Checkpoint.write(state, to: options.runDirectory, keep: configuration.keepCheckpoints)
            lastCheckpointStep = Int(header.step)
            report(.checkpoint(path: url.path, step: Int(header.step)))
        } catch {
            report(.checkpointFailed(step: Int(header.step), reason: "\(error)"))
        }
        checkpointMonitor?.submit(state)
        return bytes
    }

    /// Gives up the step in flight and regroups: every worker puts back the state before it and
    /// registers again with a fresh ring endpoint; those that do within `regroupTimeout` are
    /// welcomed, in their old rank order, as the next generation at the same step. Throws, after
    /// telling everyone to stop, when none comes back; the newest checkpoint is then where the
    /// run can resume.
    private func regroupMembers(
        reason: String, joining: [Member], state: [UInt8]?, _ report: (CoordinatorEvent) -> Void
    ) throws {
        if joining.isEmpty { report(.aborting(step: committedStep, reason: reason)) }
        for member in members {
            try? control.send(
                .abort(Abort(generation: generation, step: UInt64(committedStep), reason: reason)), to: member.identity)
        }

        var back: [[UInt8]: String] = [:]
        let deadline = ContinuousClock.now + options.regroupTimeout
        while back.count < members.count && ContinuousClock.now < deadline {
            guard let (identity, received) = try control.receive(timeout: min(deadline - .now, .seconds(1))),
                case .message(let message, _) = received
            else { continue }
            switch message {
            case .register(let registration):
                guard members.contains(where: { $0.identity == identity && $0.name == registration.name }) else {
                    try? control.send(
                        .refuse(
                            Refuse(
                                reason: "the cluster is regrouping after a failed step; start the worker again",
                                field: "generation")), to: identity)
                    report(.refused(worker: registration.name, reason: "registered while the cluster regrouped"))
                    continue
                }
                back[identity] = registration.ringEndpoint
            case .statusRequest: try answerStatus(to: identity)
            default: break  // the failed generation's reports and heartbeats
            }
        }

        let lost = members.filter { back[$0.identity] == nil }.map(\.name)
        members = members.filter { back[$0.identity] != nil }
        guard !members.isEmpty else {
            throw CoordinatorError(
                "\(reason); no worker registered again within \(options.regroupTimeout); the newest checkpoint is at "
                    + "step \(lastCheckpointStep.map(String.init) ?? "none"); continue with simclr coordinator "
                    + "--resume \(options.runDirectory.path)")
        }
        for index in members.indices {
            members[index].ringEndpoint = back[members[index].identity]!
            members[index].lastHeard = .now
        }
        let stayed = members.count
        if state != nil { members += joining }
        try welcomeGeneration(newFrom: stayed, state: state, report)
        report(.regrouped(generation: generation, workers: members.map(\.name), lost: lost))
    }

    /// Writes a committed step to the ledger (always) and the metrics (every `logEvery` steps, the
    /// first and the last, as `simclr train` does).
    private func record(
        step: Int, reports: [StepDone], shares: [[Int]], metrics: MetricsLog, ledger: MetricsLog,
        _ report: (CoordinatorEvent) -> Void
    ) throws {
        let epoch = plan.epoch(of: step)
        try ledger.write(["step": step + 1, "epoch": epoch, "generation": Int(generation), "samples": shares])

        // The slowest rank sets the pace: phase by phase, the largest time over ranks.
        var timings = StepTimings()
        for done in reports {
            timings.data = max(timings.data, done.timings.data)
            timings.forward = max(timings.forward, done.timings.forward)
            timings.exchange = max(timings.exchange, done.timings.exchange)
            timings.backward = max(timings.backward, done.timings.backward)
            timings.allReduce = max(timings.allReduce, done.timings.allReduce)
            timings.optimizer = max(timings.optimizer, done.timings.optimizer)
        }
        let views = 2 * shares.reduce(0) { $0 + $1.count }
        let learningRate = LearningRateSchedule(
            peak: configuration.learningRateScaling.peak(
                base: configuration.learningRate, batchSize: configuration.batchSize),
            warmupSteps: Int((configuration.warmupEpochs * Double(plan.stepsPerEpoch)).rounded()),
            totalSteps: configuration.epochs * plan.stepsPerEpoch
        ).rate(at: step)
        let stepReport = StepReport(
            step: step + 1, epoch: epoch, loss: reports[0].loss, learningRate: learningRate,
            imagesPerSecond: Double(views) / (timings.total / 1000), timings: timings)
        if (step + 1) % configuration.logEvery == 0 || step == 0 || step + 1 == lastStep {
            try metrics.append(stepReport)
            report(.step(stepReport))
        }
    }

    /// Writes the kNN monitor's finished evaluations to the metrics.
    private func record(
        _ outcomes: [CheckpointMonitor.Outcome], metrics: MetricsLog, _ report: (CoordinatorEvent) -> Void
    ) throws {
        for (step, accuracy) in outcomes {
            switch accuracy {
            case .success(let accuracy):
                try metrics.appendMonitor(step: step, accuracy: accuracy)
                report(.monitor(step: step, accuracy: accuracy))
            case .failure(let error): report(.monitorFailed(step: step, reason: "\(error)"))
            }
        }
    }

    private func total(_ timings: StepDone.Timings) -> Double {
        timings.data + timings.forward + timings.exchange + timings.backward + timings.allReduce
            + timings.optimizer
    }

    // MARK: Status and bookkeeping

    private func answerStatus(to identity: [UInt8]) throws {
        let now = ContinuousClock.now
        let workers = members.enumerated().map { rank, member in
            ControlMessage.Status.Worker(
                name: member.name, rank: UInt32(rank), imagesPerSecond: member.imagesPerSecond,
                lastHeartbeatAgeSeconds: (now - member.lastHeard).milliseconds / 1000)
        }
        try control.send(
            .status(
                ControlMessage.Status(
                    runDirectory: options.runDirectory.path, step: UInt64(committedStep),
                    epoch: UInt64(plan.epoch(of: committedStep)), generation: generation, workers: workers,
                    lastCheckpointStep: lastCheckpointStep.map { UInt64($0) }, loss: lastLoss)),
            to: identity)
    }

    private func drop(_ received: ControlChannel.Received, _ report: (CoordinatorEvent) -> Void) {
        droppedMessages += 1
        if case .malformed(let reason) = received { report(.dropped(reason: reason, count: droppedMessages)) }
    }

    static func frames(of bytes: [UInt8]) -> [[UInt8]] { Worker.frames(of: bytes) }
}
