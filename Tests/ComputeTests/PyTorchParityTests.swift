// Forward and backward of a small SimCLR model against PyTorch's on the same weights and input.
// Finite differences prove the calculus; this proves the conventions: zero padding, biased batch
// variance in the normalisation and unbiased in the running estimate, the head's layout, and the
// loss's normalisation over 2N rows. The fixture comes from scripts/make-pytorch-fixture.py.

import Compute
import Foundation
import Testing

@Suite("Parity with PyTorch")
struct PyTorchParityTests {
    let fixture: [String: NamedTensor]

    init() throws {
        let url = try #require(
            Bundle.module.url(
                forResource: "resnet18-w4-pytorch", withExtension: "safetensors", subdirectory: "Fixtures"))
        fixture = try SafeTensors.read(url)
    }

    /// Largest `|a - b|` divided by the largest `|b|`.
    func relativeDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        let scale = max(b.map { abs($0) }.max() ?? 0, 1e-12)
        return zip(a, b).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
    }

    // Tolerances: both sides compute in Float32 with different summation orders (PyTorch's
    // oneDNN convolutions against our im2col + OpenBLAS), about 1e-6 relative per layer; after
    // 20 layers with batch norm dividing by small per-channel deviations, 1e-4 relative is ample
    // for activations and loss and 1e-3 for gradients, which pass back through all of them.
    @Test(arguments: [1, 2])
    func forwardAndBackwardMatch(threads: Int) throws {
        let model = SimCLRModel(
            encoder: ResNetConfiguration(depth: .resnet18, stem: .cifar, width: 4),
            head: ProjectionHeadConfiguration(layers: 2, hiddenFeatures: 32, outFeatures: 16), seed: 0)
        for segment in model.store.segments {
            let tensor = try #require(fixture["param." + segment.name], "fixture lacks \(segment.name)")
            #expect(tensor.shape == segment.shape, "\(segment.name)")
            (model.store.values.base + segment.offset).update(from: tensor.values, count: segment.count)
        }

        let input = try #require(fixture["input"])
        let x = Tensor(input.values, shape: Shape(input.shape[0], input.shape[1], input.shape[2], input.shape[3]))
        let context = ComputeContext(threads: threads)
        let normalize = L2Normalize()
        let loss = ContrastiveLoss(temperature: 0.5)

        let features = model.encoder.forward(x, context: context)
        #expect(relativeDifference(features.array, fixture["features"]!.values) < 1e-4)
        let z = model.head.forward(features, context: context)
        #expect(relativeDifference(z.array, fixture["projections"]!.values) < 1e-4)
        let value = loss.forward(normalize.forward(z, context: context), rows: 0..<x.shape.n)
        #expect(abs(Float(value) - fixture["loss"]!.values[0]) < 1e-5)

        model.store.zeroGradients()
        model.backward(normalize.backward(loss.backward(), context: context), context: context)
        for segment in model.store.segments {
            let expected = try #require(fixture["grad." + segment.name])
            let actual = Array(
                UnsafeBufferPointer(start: model.store.gradients.base + segment.offset, count: segment.count))
            #expect(relativeDifference(actual, expected.values) < 1e-3, "gradient of \(segment.name)")
        }
        for segment in model.store.stateSegments {
            let expected = try #require(fixture["after." + segment.name])
            let actual = Array(
                UnsafeBufferPointer(start: model.store.state.base + segment.offset, count: segment.count))
            #expect(relativeDifference(actual, expected.values) < 1e-4, "\(segment.name)")
        }
    }
}
