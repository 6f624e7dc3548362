// Messages of every kind for the codec tests: non-default values throughout, extremes of every
// integer type, unicode text, and empty repeated fields, plus a seeded generator for garbage bytes.

import ControlProtocol
import Testing

enum Samples {
    static let unicodeName = "wörker-東京-🚀-Ω"

    /// At least one message of every kind; some kinds twice, full and with empty repeated fields.
    static let all: [ControlMessage] = [
        .register(
            .init(
                name: unicodeName, threads: 32, configurationHash: "sha256:9f86d081884c7d65",
                datasetFingerprint: "cifar10-train:50000:ab12", ringEndpoint: "tcp://127.0.0.1:5601", hasDataset: true)
        ),
        .register(
            .init(
                protocolVersion: 7, name: "", threads: 0, configurationHash: "", datasetFingerprint: "",
                ringEndpoint: "", hasDataset: false)),
        .welcome(
            .init(
                rank: 2, worldSize: 3, generation: UInt64.max,
                ringEndpoints: ["tcp://10.0.0.1:5601", "tcp://10.0.0.2:5601", "ipc:///tmp/ring-ß"],
                configurationJSON: #"{"temperature":0.5,"batch_size":512,"name":"\#(unicodeName)"}"#,
                startStep: 1_000_001, stateFollows: true)),
        .welcome(
            .init(
                rank: 0, worldSize: 1, generation: 1, ringEndpoints: [], configurationJSON: "{}", startStep: 0,
                stateFollows: false)),
        .refuse(
            .init(reason: "temperature differs: coordinator 0.5, worker 0.1", field: "configuration.temperature")),
        .heartbeat(
            .init(
                generation: 4, step: 12_345, imagesPerSecond: 812.25, stepMilliseconds: 630.5,
                residentBytes: 6 << 30)),
        .stepPlan(
            .init(
                generation: 9, step: 77, epoch: 3, learningRate: 0.075,
                indices: [0, 1, -1, Int64.max, Int64.min, 1 << 40, 49_999, 300], counts: [3, 0, 5])),
        .stepPlan(.init(generation: 1, step: 2, epoch: 0, learningRate: 1e-300, indices: [], counts: [])),
        .stepPlan(
            .init(
                generation: 2, step: 3, epoch: 1, learningRate: 0.3, indices: (0..<4096).map { Int64($0) * 12_289 },
                counts: [1366, 1365, 1365])),
        .stepDone(
            .init(
                generation: 9, step: 77, rank: 1, loss: 5.544_444_444_4, samples: 256,
                timings: .init(
                    data: 12.5, forward: 240.25, exchange: 3.125, backward: 410.0, allReduce: 55.5, optimizer: 8.75))),
        .stepDone(.init(generation: 0, step: 0, rank: 0, loss: .infinity, samples: UInt32.max)),
        .commit(.init(generation: 9, step: 77)),
        .abort(.init(generation: 9, step: 78, reason: "rank 2 (\(unicodeName)) silent for 10 s")),
        .stateRequest(.init(generation: 10, step: 78)),
        .stateHeader(
            .init(
                generation: 10, step: 78, byteCount: 44_696_064, checksum: 0xDEAD_BEEF_0BAD_F00D, frames: 11)),
        .statusRequest(.init()),
        .status(
            .init(
                runDirectory: "/srv/runs/resnet50-ä", step: 78, epoch: 3, generation: 10,
                workers: [
                    .init(name: unicodeName, rank: 0, imagesPerSecond: 800.5, lastHeartbeatAgeSeconds: 0.25),
                    .init(name: "b", rank: 1, imagesPerSecond: 0, lastHeartbeatAgeSeconds: 12.0),
                ],
                lastCheckpointStep: 75, loss: 4.25)),
        .status(
            .init(
                runDirectory: "", step: 0, epoch: 0, generation: 0, workers: [], lastCheckpointStep: nil, loss: nil)),
        .status(
            .init(
                runDirectory: "r", step: 1, epoch: 0, generation: 1, workers: [], lastCheckpointStep: 0,
                loss: Double.leastNonzeroMagnitude)),
        .stop(.init(reason: "operator asked: ⏹")),
    ]

    /// The name of a message's case, to check that `all` covers every kind.
    static func kind(_ message: ControlMessage) -> String {
        switch message {
        case .register: "register"
        case .welcome: "welcome"
        case .refuse: "refuse"
        case .heartbeat: "heartbeat"
        case .stepPlan: "stepPlan"
        case .stepDone: "stepDone"
        case .commit: "commit"
        case .abort: "abort"
        case .stateRequest: "stateRequest"
        case .stateHeader: "stateHeader"
        case .statusRequest: "statusRequest"
        case .status: "status"
        case .stop: "stop"
        }
    }
}

/// Test cases are named by kind and size: printing a 4096-index plan in full drowns the report.
extension ControlMessage: CustomTestStringConvertible {
    public var testDescription: String { "\(Samples.kind(self)), \(encode().count) bytes" }
}

/// SplitMix64: a small seeded generator, so every garbage input can be reproduced from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
