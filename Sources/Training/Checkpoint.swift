// Checkpoints: the full training state in one verifiable file, written atomically, the last few
// kept. A checkpoint holds the parameters, batch-norm statistics, optimizer state, the step to run
// next and the run's configuration with its hash. Loading verifies magic, lengths and checksum;
// the newest checkpoint that verifies is the one a run resumes from.
//
// Layout (little-endian):
//     "SIMCLRCP" | u32 version | u32 header length | header JSON |
//     f32 parameters | f32 state | f32 optimizer state | u64 FNV-1a of all preceding bytes

import Compute
import Datasets
import Foundation

/// The training state that a checkpoint carries.
public struct TrainingState: Sendable {
    public var configuration: TrainingConfiguration
    /// The next global step to run (steps `0..<step` are done).
    public var step: Int
    public var optimizerSteps: Int
    public var parameters: [Float]
    public var state: [Float]
    public var optimizerState: [Float]
    /// The fingerprint of the dataset file the state was trained on, and its image side; nil in
    /// states that never met one (a fresh model, or a checkpoint from before they were recorded).
    public var datasetFingerprint: String?
    public var imageSize: Int?

    public init(
        configuration: TrainingConfiguration, step: Int, optimizerSteps: Int, parameters: [Float], state: [Float],
        optimizerState: [Float], datasetFingerprint: String? = nil, imageSize: Int? = nil
    ) {
        self.configuration = configuration
        self.step = step
        self.optimizerSteps = optimizerSteps
        self.parameters = parameters
        self.state = state
        self.optimizerState = optimizerState
        self.datasetFingerprint = datasetFingerprint
        self.imageSize = imageSize
    }

    /// Records that the state was trained on `dataset`.
    public mutating func record(_ dataset: PackedDataset) {
        datasetFingerprint = dataset.fingerprint
        imageSize = dataset.height
    }

    /// Throws unless `dataset` is the file the state was trained on (when that is recorded), so
    /// that a run never resumes on other data. `path` names the checkpoint.
    public func checkDataset(_ dataset: PackedDataset, path: String) throws {
        guard let datasetFingerprint, datasetFingerprint != dataset.fingerprint else { return }
        throw CheckpointError.mismatch(
            path: path,
            reason:
                "it was trained on dataset \(datasetFingerprint) (\(imageSize.map { "\($0)x\($0)" } ?? "?") images), "
                + "but \(dataset.path) is \(dataset.fingerprint) (\(dataset.height)x\(dataset.width)): resume with the "
                + "same prepared file")
    }
}

/// Why a checkpoint could not be written or read.
public enum CheckpointError: Error, CustomStringConvertible {
    case write(path: String, reason: String)
    case corrupt(path: String, reason: String)
    /// No checkpoint in `directory` could be read; `damaged` says why each one present was not.
    case noCheckpoint(directory: String, damaged: [String] = [])
    case mismatch(path: String, reason: String)

    public var description: String {
        switch self {
        case .write(let path, let reason):
            "cannot write \(path): \(reason); nothing there was replaced, earlier checkpoints are untouched"
        case .corrupt(let path, let reason): "checkpoint \(path) is damaged: \(reason)"
        case .noCheckpoint(let directory, let damaged):
            damaged.isEmpty
                ? "no checkpoint in \(directory)"
                : "no usable checkpoint in \(directory): " + damaged.joined(separator: "; ")
        case .mismatch(let path, let reason): "checkpoint \(path) does not fit this run: \(reason)"
        }
    }
}

public enum Checkpoint {
    static let magic = Array("SIMCLRCP".utf8)
    static let version: UInt32 = 1
    static let prefix = "checkpoint-"
    static let suffix = ".simclr"

    private struct Header: Codable {
        var configuration: TrainingConfiguration
        var configurationHash: String
        var step: Int
        var optimizerSteps: Int
        var parameters: Int
        var state: Int
        var optimizerState: Int
        var datasetFingerprint: String?
        var imageSize: Int?
    }

    /// File name of the checkpoint taken before step `step`.
    public static func fileName(step: Int) -> String { prefix + String(format: "%09d", step) + suffix }

    /// Serialises `state`.
    public static func encode(_ state: TrainingState) throws -> [UInt8] {
        let header = Header(
            configuration: state.configuration, configurationHash: state.configuration.hash, step: state.step,
            optimizerSteps: state.optimizerSteps, parameters: state.parameters.count, state: state.state.count,
            optimizerState: state.optimizerState.count, datasetFingerprint: state.datasetFingerprint,
            imageSize: state.imageSize)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try encoder.encode(header)
        var bytes = magic
        bytes.reserveCapacity(16 + json.count + 4 * (header.parameters + header.state + header.optimizerState) + 8)
        withUnsafeBytes(of: version.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { bytes += $0 }
        bytes += json
        for array in [state.parameters, state.state, state.optimizerState] {
            array.withUnsafeBytes { bytes += $0 }
        }
        let checksum = Checksum.fnv1a64(bytes)
        withUnsafeBytes(of: checksum.littleEndian) { bytes += $0 }
        return bytes
    }

    /// Parses and verifies a checkpoint's bytes; `path` names it in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> TrainingState {
        guard bytes.count >= 24, Array(bytes[0..<8]) == magic else {
            throw CheckpointError.corrupt(
                path: path, reason: "not a checkpoint (bad magic or only \(bytes.count) bytes)")
        }
        func u32(_ at: Int) -> UInt32 {
            bytes[at..<(at + 4)].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        }
        guard u32(8) == version else {
            throw CheckpointError.corrupt(path: path, reason: "format version \(u32(8)), this build reads \(version)")
        }
        let stored = bytes[(bytes.count - 8)...].enumerated().reduce(UInt64(0)) {
            $0 | UInt64($1.element) << (8 * UInt64($1.offset))
        }
        let actual = Checksum.fnv1a64(bytes[0..<(bytes.count - 8)])
        guard stored == actual else {
            throw CheckpointError.corrupt(
                path: path,
                reason: String(format: "checksum %016llx, expected %016llx (truncated or altered)", actual, stored))
        }
        let headerLength = Int(u32(12))
        guard 16 + headerLength <= bytes.count - 8,
            let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[16..<(16 + headerLength)]))
        else { throw CheckpointError.corrupt(path: path, reason: "unreadable header") }
        let floats = header.parameters + header.state + header.optimizerState
        guard 16 + headerLength + 4 * floats == bytes.count - 8 else {
            throw CheckpointError.corrupt(path: path, reason: "payload length does not match the header")
        }
        guard header.configurationHash == header.configuration.hash else {
            throw CheckpointError.corrupt(path: path, reason: "configuration hash does not match its configuration")
        }
        var cursor = 16 + headerLength
        func take(_ count: Int) -> [Float] {
            defer { cursor += 4 * count }
            return bytes[cursor..<(cursor + 4 * count)].withUnsafeBytes { raw in
                (0..<count).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
            }
        }
        return TrainingState(
            configuration: header.configuration, step: header.step, optimizerSteps: header.optimizerSteps,
            parameters: take(header.parameters), state: take(header.state), optimizerState: take(header.optimizerState),
            datasetFingerprint: header.datasetFingerprint, imageSize: header.imageSize)
    }

    /// Writes `state` into `directory` atomically (temporary file, fsync, rename, fsync of the
    /// directory) and deletes all but the newest `keep` checkpoints. Returns the file's path.
    @discardableResult
    public static func write(_ state: TrainingState, to directory: URL, keep: Int) throws -> URL {
        let target = directory.appendingPathComponent(fileName(step: state.step))
        let temporary = directory.appendingPathComponent(".\(fileName(step: state.step)).\(getpid()).tmp")
        let bytes = try encode(state)
        try writeAtomically(bytes, to: target, temporary: temporary)
        for old in list(in: directory).dropLast(keep) { try? FileManager.default.removeItem(at: old.url) }
        return target
    }

    /// Writes `bytes` to `temporary`, flushes, renames onto `target`; on any failure removes the
    /// temporary file and leaves `target` as it was.
    public static func writeAtomically(_ bytes: [UInt8], to target: URL, temporary: URL) throws {
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw CheckpointError.write(path: target.path, reason: String(cString: strerror(errno)))
        }
        var failure: String?
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += written
            }
        }
        if failure == nil && fsync(descriptor) != 0 { failure = String(cString: strerror(errno)) }
        close(descriptor)
        if failure == nil && rename(temporary.path, target.path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary.path)
            throw CheckpointError.write(path: target.path, reason: failure)
        }
        let directory = open(target.deletingLastPathComponent().path, O_RDONLY)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    /// Checkpoint files in `directory`, oldest first, with the step their name gives.
    public static func list(in directory: URL) -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name in
            guard name.hasPrefix(prefix), name.hasSuffix(suffix),
                let step = Int(name.dropFirst(prefix.count).dropLast(suffix.count))
            else { return nil }
            return (step, directory.appendingPathComponent(name))
        }.sorted { $0.step < $1.step }
    }

    /// The newest checkpoint in `directory` that verifies, and the damaged newer ones it skipped
    /// (each with the reason), so the caller can say which it used and why.
    public static func latestGood(
        in directory: URL
    ) throws -> (state: TrainingState, url: URL, skipped: [CheckpointError]) {
        var skipped: [CheckpointError] = []
        for candidate in list(in: directory).reversed() {
            do {
                let bytes = try [UInt8](Data(contentsOf: candidate.url))
                return (try decode(bytes, path: candidate.url.path), candidate.url, skipped)
            } catch let error as CheckpointError {
                skipped.append(error)
            } catch {
                skipped.append(.corrupt(path: candidate.url.path, reason: "\(error)"))
            }
        }
        throw CheckpointError.noCheckpoint(directory: directory.path, damaged: skipped.map { "\($0)" })
    }
}

extension SimCLRStep {
    /// The state to checkpoint before global step `step`.
    public func snapshot(step: Int) -> TrainingState {
        TrainingState(
            configuration: configuration, step: step, optimizerSteps: optimizer.stepCount,
            parameters: model.store.values.array, state: model.store.state.array, optimizerState: optimizer.state.array)
    }

    /// Loads `state` into model and optimizer; refuses a state from another configuration.
    public func restore(_ state: TrainingState, path: String) throws {
        let differences = configuration.differences(from: state.configuration)
        guard differences.isEmpty else {
            throw CheckpointError.mismatch(
                path: path, reason: "configuration differs in " + differences.joined(separator: ", "))
        }
        guard state.parameters.count == model.store.count, state.state.count == model.store.state.count,
            state.optimizerState.count == optimizer.state.count
        else { throw CheckpointError.mismatch(path: path, reason: "tensor sizes differ from this model's") }
        model.store.values.base.update(from: state.parameters, count: state.parameters.count)
        model.store.state.base.update(from: state.state, count: state.state.count)
        optimizer.state.base.update(from: state.optimizerState, count: state.optimizerState.count)
        optimizer.stepCount = state.optimizerSteps
    }
}
