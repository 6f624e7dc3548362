// Export writes torchvision-named tensors that read back equal to the checkpoint's.

import Compute
import Foundation
import Testing
import Training

@Suite("Encoder export")
struct ExportTests {
    func state() -> TrainingState {
        var configuration = TrainingConfiguration()
        configuration.width = 4
        let model = SimCLRModel(encoder: configuration.encoder, head: configuration.head, seed: 3)
        var generator = SeededGenerator(seed: 4)
        return TrainingState(
            configuration: configuration, step: 7, optimizerSteps: 7, parameters: model.store.values.array,
            state: (0..<model.store.state.count).map { _ in generator.uniform() },
            optimizerState: [Float](repeating: 0, count: model.store.count))
    }

    @Test func roundTripsWithTorchvisionNames() throws {
        let directory = try temporaryDirectory("export")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("encoder.safetensors")
        let state = state()
        try EncoderExport.write(state, includeHead: false, to: url)
        let tensors = try SafeTensors.read(url)

        let model = SimCLRModel(encoder: state.configuration.encoder, head: state.configuration.head, seed: 0)
        for segment in model.store.segments where !segment.name.hasPrefix("head.") {
            let tensor = try #require(tensors[segment.name])
            #expect(tensor.shape == segment.shape)
            #expect(tensor.values == Array(state.parameters[segment.range]))
        }
        for segment in model.store.stateSegments where !segment.name.hasPrefix("head.") {
            #expect(tensors[segment.name]?.values == Array(state.state[segment.range]))
        }
        #expect(tensors.keys.allSatisfy { !$0.hasPrefix("head.") })
        #expect(tensors["conv1.weight"]?.shape == [4, 3, 3, 3])
        #expect(tensors["layer4.1.bn2.running_var"] != nil)
        #expect(tensors["layer2.0.downsample.0.weight"]?.shape == [8, 4, 1, 1])

        try EncoderExport.write(state, includeHead: true, to: url)
        #expect(try SafeTensors.read(url)["head.0.weight"] != nil)
    }
}
