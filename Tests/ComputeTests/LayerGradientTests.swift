// Finite-difference checks of every layer's backward, at several shapes and settings.

import Compute
import Testing

@Suite("Layer gradients match finite differences")
struct LayerGradientTests {
    // Convolution and linear layers are linear in both input and weights, so central differences
    // have no truncation error: only Float32 rounding of f (|f| ~ 10-100, eps32 ~ 1.2e-7) over
    // 2h = 2e-2, about 1e-4 absolute against gradients of order 1-10. Tolerance: 2e-3 relative.
    struct ConvCase: CustomTestStringConvertible, Sendable {
        var batch, inChannels, outChannels, size, kernel, stride, padding: Int
        var testDescription: String {
            "n\(batch) \(inChannels)->\(outChannels) \(size)px k\(kernel) s\(stride) p\(padding)"
        }
    }

    @Test(arguments: [
        ConvCase(batch: 2, inChannels: 3, outChannels: 4, size: 6, kernel: 3, stride: 1, padding: 1),
        ConvCase(batch: 3, inChannels: 2, outChannels: 5, size: 7, kernel: 3, stride: 2, padding: 1),
        ConvCase(batch: 2, inChannels: 4, outChannels: 3, size: 5, kernel: 1, stride: 1, padding: 0),
        ConvCase(batch: 2, inChannels: 4, outChannels: 6, size: 6, kernel: 1, stride: 2, padding: 0),
        ConvCase(batch: 1, inChannels: 2, outChannels: 2, size: 9, kernel: 7, stride: 2, padding: 3),
        ConvCase(batch: 5, inChannels: 3, outChannels: 2, size: 4, kernel: 3, stride: 1, padding: 0),
    ])
    func convolution(_ c: ConvCase) {
        for threads in [1, 2] {
            let store = ParameterStore(seed: 3)
            let conv = Conv2d(
                "conv", store: store, inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel,
                stride: c.stride, padding: c.padding)
            store.finalize()
            let x = randomTensor(Shape(c.batch, c.inChannels, c.size, c.size), seed: 11)
            let report = checkLayerGradients(
                conv, store: store, input: x, context: ComputeContext(threads: threads), step: 1e-2)
            #expect(report.passes(tolerance: 2e-3), "\(report)")
        }
    }

    @Test(arguments: [(4, 5, 3, true), (7, 3, 8, false), (1, 6, 2, true)])
    func linear(batch: Int, inFeatures: Int, outFeatures: Int, bias: Bool) {
        let store = ParameterStore(seed: 5)
        let linear = Linear("fc", store: store, inFeatures: inFeatures, outFeatures: outFeatures, bias: bias)
        store.finalize()
        let x = randomTensor(Shape(batch, inFeatures), seed: 13)
        let report = checkLayerGradients(
            linear, store: store, input: x, context: ComputeContext(threads: 1), step: 1e-2)
        #expect(report.passes(tolerance: 2e-3), "\(report)")
    }

    // Batch norm in training mode is smooth but nonlinear (the batch statistics depend on x):
    // truncation error O(h^2 f''') with h = 1e-2 is about 1e-4 relative, rounding as above.
    // Tolerance: 5e-3 relative. Shapes cover BatchNorm2d ([N, C, H, W]) and BatchNorm1d ([N, C]).
    @Test(arguments: [Shape(4, 3, 3, 3), Shape(2, 5, 4, 2), Shape(8, 6), Shape(3, 2)])
    func batchNormTraining(_ shape: Shape) {
        for threads in [1, 2] {
            let store = ParameterStore(seed: 9)
            let norm = BatchNorm("bn", store: store, channels: shape.c)
            store.finalize()
            randomizeAffine(store)
            let x = randomTensor(shape, seed: 17, scale: 2)
            let report = checkLayerGradients(
                norm, store: store, input: x, context: ComputeContext(threads: threads), step: 1e-2)
            #expect(report.passes(tolerance: 5e-3), "\(report)")
        }
    }

    // In inference mode batch norm is affine in x: same tolerance as the linear layers.
    @Test func batchNormInference() {
        let store = ParameterStore(seed: 9)
        let norm = BatchNorm("bn", store: store, channels: 3, hasShift: false)
        store.finalize()
        randomizeAffine(store)
        for i in 0..<3 {
            store.state.base[i] = Float(i) * 0.3 - 0.2
            store.state.base[3 + i] = 0.5 + Float(i)
        }
        let context = ComputeContext(threads: 1)
        context.mode = .inference
        let report = checkLayerGradients(
            norm, store: store, input: randomTensor(Shape(2, 3, 2, 2), seed: 19), context: context, step: 1e-2)
        #expect(report.passes(tolerance: 2e-3), "\(report)")
    }

    // ReLU is piecewise linear: inputs are kept at least 0.1 from the kink so that x +- h with
    // h = 1e-3 never crosses it; the check is then exact up to rounding (2e-3 relative).
    @Test func relu() {
        var generator = SeededGenerator(seed: 23)
        let shape = Shape(3, 4, 3, 3)
        let values = (0..<shape.count).map { _ in
            (generator.uniform() < 0.5 ? -1 : 1) * generator.uniform(0.1, 2)
        }
        let report = checkLayerGradients(
            ReLU(), store: nil, input: Tensor(values, shape: shape), context: ComputeContext(threads: 2), step: 1e-3)
        #expect(report.passes(tolerance: 2e-3), "\(report)")
    }

    // Max pooling is piecewise linear: inputs are a permutation of values spaced 1e-2 apart, so a
    // perturbation of h = 1e-3 never changes which value is the maximum.
    @Test(arguments: [Shape(2, 3, 8, 8), Shape(1, 2, 7, 5)])
    func maxPool(_ shape: Shape) {
        var generator = SeededGenerator(seed: 29)
        var values = (0..<shape.count).map { Float($0) * 1e-2 }
        values.shuffle(using: &generator)
        let report = checkLayerGradients(
            MaxPool2d(), store: nil, input: Tensor(values, shape: shape), context: ComputeContext(threads: 2),
            step: 1e-3)
        #expect(report.passes(tolerance: 2e-3), "\(report)")
    }

    @Test func globalAveragePool() {
        let report = checkLayerGradients(
            GlobalAveragePool(), store: nil, input: randomTensor(Shape(3, 4, 5, 5), seed: 31),
            context: ComputeContext(threads: 2), step: 1e-2)
        #expect(report.passes(tolerance: 2e-3), "\(report)")
    }

    // Residual blocks combine the above with ReLUs whose inputs are not controlled, so a probe can
    // land within h of a kink; those probes are detected and set aside (see GradientReport).
    // Tolerance: 2e-2 relative (Float32 rounding through five or eight layers over 2h = 2e-3).
    @Test(arguments: [
        (ResidualBlock.Kind.basic, 4, 4, 1), (.basic, 3, 5, 2), (.bottleneck, 8, 2, 1), (.bottleneck, 4, 3, 2),
    ])
    func residualBlock(kind: ResidualBlock.Kind, inChannels: Int, width: Int, stride: Int) {
        let store = ParameterStore(seed: 37)
        let block = ResidualBlock(
            "block", kind: kind, store: store, inChannels: inChannels, width: width, stride: stride)
        store.finalize()
        randomizeAffine(store)
        let report = checkLayerGradients(
            block, store: store, input: randomTensor(Shape(3, inChannels, 6, 6), seed: 41),
            context: ComputeContext(threads: 2), step: 1e-3, probes: 12)
        #expect(report.passes(tolerance: 2e-2), "\(report)")
    }

    @Test func l2Normalize() {
        let report = checkLayerGradients(
            L2Normalize(), store: nil, input: randomTensor(Shape(6, 5), seed: 43),
            context: ComputeContext(threads: 1), step: 1e-3)
        #expect(report.passes(tolerance: 5e-3), "\(report)")
    }
}

/// Moves batch-norm scales and shifts away from 1 and 0 so that their gradients are exercised.
func randomizeAffine(_ store: ParameterStore) {
    var generator = SeededGenerator(seed: 101)
    for segment in store.segments where segment.kind == .normScale || segment.kind == .normShift {
        for i in segment.range {
            store.values.base[i] =
                segment.kind == .normScale ? generator.uniform(0.5, 1.5) : generator.uniform(-0.3, 0.3)
        }
    }
}
