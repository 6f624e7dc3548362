// Each message to and from its protoc-c struct: `packable` fills a struct for protobuf-c to pack,
// with strings and arrays in a PackingScratch; `init(_:)` copies an unpacked struct into Swift
// values before protobuf-c frees it. The only file besides the codec that speaks C names.

import CProtobufC
import CSimCLRProto

extension ControlMessage.Register {
    func packable(_ scratch: PackingScratch) -> Simclr__Register {
        var message = Simclr__Register()
        simclr__register__init(&message)
        message.protocol_version = protocolVersion
        message.name = scratch.string(name)
        message.threads = threads
        message.configuration_hash = scratch.string(configurationHash)
        message.dataset_fingerprint = scratch.string(datasetFingerprint)
        message.ring_endpoint = scratch.string(ringEndpoint)
        message.has_dataset = cBoolean(hasDataset)
        message.configuration_json = scratch.string(configurationJSON)
        return message
    }

    init(_ message: Simclr__Register) {
        self.init(
            protocolVersion: message.protocol_version, name: swiftString(message.name), threads: message.threads,
            configurationHash: swiftString(message.configuration_hash),
            datasetFingerprint: swiftString(message.dataset_fingerprint),
            ringEndpoint: swiftString(message.ring_endpoint), hasDataset: message.has_dataset != 0,
            configurationJSON: swiftString(message.configuration_json))
    }
}

extension ControlMessage.Welcome {
    func packable(_ scratch: PackingScratch) -> Simclr__Welcome {
        var message = Simclr__Welcome()
        simclr__welcome__init(&message)
        message.rank = rank
        message.world_size = worldSize
        message.generation = generation
        message.n_ring_endpoints = ringEndpoints.count
        message.ring_endpoints = scratch.strings(ringEndpoints)
        message.configuration_json = scratch.string(configurationJSON)
        message.start_step = startStep
        message.state_follows = cBoolean(stateFollows)
        return message
    }

    init(_ message: Simclr__Welcome) {
        self.init(
            rank: message.rank, worldSize: message.world_size, generation: message.generation,
            ringEndpoints: swiftArray(message.ring_endpoints, message.n_ring_endpoints).map(swiftString),
            configurationJSON: swiftString(message.configuration_json), startStep: message.start_step,
            stateFollows: message.state_follows != 0)
    }
}

extension ControlMessage.Refuse {
    func packable(_ scratch: PackingScratch) -> Simclr__Refuse {
        var message = Simclr__Refuse()
        simclr__refuse__init(&message)
        message.reason = scratch.string(reason)
        message.field = scratch.string(field)
        return message
    }

    init(_ message: Simclr__Refuse) {
        self.init(reason: swiftString(message.reason), field: swiftString(message.field))
    }
}

extension ControlMessage.Heartbeat {
    func packable() -> Simclr__Heartbeat {
        var message = Simclr__Heartbeat()
        simclr__heartbeat__init(&message)
        message.generation = generation
        message.step = step
        message.images_per_second = imagesPerSecond
        message.step_milliseconds = stepMilliseconds
        message.resident_bytes = residentBytes
        return message
    }

    init(_ message: Simclr__Heartbeat) {
        self.init(
            generation: message.generation, step: message.step, imagesPerSecond: message.images_per_second,
            stepMilliseconds: message.step_milliseconds, residentBytes: message.resident_bytes)
    }
}

extension ControlMessage.StepPlan {
    func packable(_ scratch: PackingScratch) -> Simclr__StepPlan {
        var message = Simclr__StepPlan()
        simclr__step_plan__init(&message)
        message.generation = generation
        message.step = step
        message.epoch = epoch
        message.learning_rate = learningRate
        message.n_indices = indices.count
        message.indices = scratch.array(indices)
        message.n_counts = counts.count
        message.counts = scratch.array(counts)
        return message
    }

    init(_ message: Simclr__StepPlan) {
        self.init(
            generation: message.generation, step: message.step, epoch: message.epoch,
            learningRate: message.learning_rate, indices: swiftArray(message.indices, message.n_indices),
            counts: swiftArray(message.counts, message.n_counts))
    }
}

extension ControlMessage.StepDone {
    func packable(_ scratch: PackingScratch) -> Simclr__StepDone {
        var cTimings = Simclr__StepDone__Timings()
        simclr__step_done__timings__init(&cTimings)
        cTimings.data_ms = timings.data
        cTimings.forward_ms = timings.forward
        cTimings.exchange_ms = timings.exchange
        cTimings.backward_ms = timings.backward
        cTimings.allreduce_ms = timings.allReduce
        cTimings.optimizer_ms = timings.optimizer

        var message = Simclr__StepDone()
        simclr__step_done__init(&message)
        message.generation = generation
        message.step = step
        message.rank = rank
        message.loss = loss
        message.samples = samples
        message.timings = scratch.message(cTimings)
        return message
    }

    /// Timings left out by the sender read as zeros.
    init(_ message: Simclr__StepDone) {
        var timings = Timings()
        if let cTimings = message.timings?.pointee {
            timings = Timings(
                data: cTimings.data_ms, forward: cTimings.forward_ms, exchange: cTimings.exchange_ms,
                backward: cTimings.backward_ms, allReduce: cTimings.allreduce_ms, optimizer: cTimings.optimizer_ms)
        }
        self.init(
            generation: message.generation, step: message.step, rank: message.rank, loss: message.loss,
            samples: message.samples, timings: timings)
    }
}

extension ControlMessage.Commit {
    func packable() -> Simclr__Commit {
        var message = Simclr__Commit()
        simclr__commit__init(&message)
        message.generation = generation
        message.step = step
        return message
    }

    init(_ message: Simclr__Commit) {
        self.init(generation: message.generation, step: message.step)
    }
}

extension ControlMessage.Abort {
    func packable(_ scratch: PackingScratch) -> Simclr__Abort {
        var message = Simclr__Abort()
        simclr__abort__init(&message)
        message.generation = generation
        message.step = step
        message.reason = scratch.string(reason)
        return message
    }

    init(_ message: Simclr__Abort) {
        self.init(generation: message.generation, step: message.step, reason: swiftString(message.reason))
    }
}

extension ControlMessage.StateRequest {
    func packable() -> Simclr__StateRequest {
        var message = Simclr__StateRequest()
        simclr__state_request__init(&message)
        message.generation = generation
        message.step = step
        return message
    }

    init(_ message: Simclr__StateRequest) {
        self.init(generation: message.generation, step: message.step)
    }
}

extension ControlMessage.StateHeader {
    func packable() -> Simclr__StateHeader {
        var message = Simclr__StateHeader()
        simclr__state_header__init(&message)
        message.generation = generation
        message.step = step
        message.byte_count = byteCount
        message.checksum = checksum
        message.frames = frames
        return message
    }

    init(_ message: Simclr__StateHeader) {
        self.init(
            generation: message.generation, step: message.step, byteCount: message.byte_count,
            checksum: message.checksum, frames: message.frames)
    }
}

extension ControlMessage.StatusRequest {
    func packable() -> Simclr__StatusRequest {
        var message = Simclr__StatusRequest()
        simclr__status_request__init(&message)
        return message
    }
}

extension ControlMessage.Status {
    func packable(_ scratch: PackingScratch) -> Simclr__Status {
        let cWorkers = workers.map { worker in
            var cWorker = Simclr__Status__WorkerStatus()
            simclr__status__worker_status__init(&cWorker)
            cWorker.name = scratch.string(worker.name)
            cWorker.rank = worker.rank
            cWorker.images_per_second = worker.imagesPerSecond
            cWorker.last_heartbeat_age_seconds = worker.lastHeartbeatAgeSeconds
            return Optional(scratch.message(cWorker))
        }

        var message = Simclr__Status()
        simclr__status__init(&message)
        message.run_directory = scratch.string(runDirectory)
        message.step = step
        message.epoch = epoch
        message.generation = generation
        message.n_workers = cWorkers.count
        message.workers = scratch.array(cWorkers)
        message.has_checkpoint = cBoolean(lastCheckpointStep != nil)
        message.last_checkpoint_step = lastCheckpointStep ?? 0
        message.has_loss = cBoolean(loss != nil)
        message.loss = loss ?? 0
        return message
    }

    /// A worker entry that is somehow null is left out rather than trusted.
    init(_ message: Simclr__Status) {
        let workers = swiftArray(message.workers, message.n_workers).compactMap { $0?.pointee }.map { cWorker in
            Worker(
                name: swiftString(cWorker.name), rank: cWorker.rank, imagesPerSecond: cWorker.images_per_second,
                lastHeartbeatAgeSeconds: cWorker.last_heartbeat_age_seconds)
        }
        self.init(
            runDirectory: swiftString(message.run_directory), step: message.step, epoch: message.epoch,
            generation: message.generation, workers: workers,
            lastCheckpointStep: message.has_checkpoint != 0 ? message.last_checkpoint_step : nil,
            loss: message.has_loss != 0 ? message.loss : nil)
    }
}

extension ControlMessage.Stop {
    func packable(_ scratch: PackingScratch) -> Simclr__Stop {
        var message = Simclr__Stop()
        simclr__stop__init(&message)
        message.reason = scratch.string(reason)
        return message
    }

    init(_ message: Simclr__Stop) {
        self.init(reason: swiftString(message.reason))
    }
}

/// protobuf-c's boolean is a C int.
private func cBoolean(_ value: Bool) -> protobuf_c_boolean { value ? 1 : 0 }

/// A C string as Swift; null reads as empty, and bytes that are not UTF-8 become U+FFFD.
private func swiftString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

/// A C array as Swift; a null pointer or zero count reads as empty.
private func swiftArray<Element>(_ pointer: UnsafeMutablePointer<Element>?, _ count: Int) -> [Element] {
    guard let pointer, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
}
