// Whole-model checks: parameter counts against torchvision's, and the full ResNet-18 with its
// projection head and NT-Xent differentiated end to end against finite differences.

import Compute
import Testing

@Suite("ResNet encoders and the SimCLR model")
struct ModelTests {
    func parameterCount(_ configuration: ResNetConfiguration) -> Int {
        let store = ParameterStore()
        _ = ResNet(configuration, store: store)
        return store.count
    }

    // torchvision's resnet18(), resnet34() and resnet50() with their 1000-class fc.
    @Test func imagenetParameterCountsMatchTorchvision() {
        #expect(parameterCount(ResNetConfiguration(depth: .resnet18, stem: .imagenet, classes: 1000)) == 11_689_512)
        #expect(parameterCount(ResNetConfiguration(depth: .resnet34, stem: .imagenet, classes: 1000)) == 21_797_672)
        #expect(parameterCount(ResNetConfiguration(depth: .resnet50, stem: .imagenet, classes: 1000)) == 25_557_032)
    }

    // The CIFAR stem swaps the 7x7x3x64 convolution (9,408) for a 3x3x3x64 one (1,728), and
    // dropping fc removes 512 x 1000 + 1000 = 513,000: 11,689,512 - 9,408 + 1,728 - 513,000.
    @Test func cifarStemEncoderCount() {
        #expect(parameterCount(ResNetConfiguration(depth: .resnet18, stem: .cifar, classes: nil)) == 11_168_832)
        // ResNet-50 the same way: 25,557,032 - 9,408 + 1,728 - (2048 x 1000 + 1000).
        #expect(parameterCount(ResNetConfiguration(depth: .resnet50, stem: .cifar, classes: nil)) == 23_500_352)
    }

    // Width 16 keeps the structure: every stage has a quarter of the channels.
    @Test func widthMultiplierScalesChannels() {
        let configuration = ResNetConfiguration(depth: .resnet18, stem: .cifar, width: 16)
        #expect(configuration.featureCount == 128)
        let store = ParameterStore()
        let encoder = ResNet(configuration, store: store)
        store.finalize()
        #expect(encoder.outputShape(for: Shape(2, 3, 32, 32)) == Shape(2, 128))
        #expect(store.segment(named: "layer4.1.conv2.weight")?.shape == [128, 128, 3, 3])
        #expect(ResNetConfiguration(depth: .resnet50, width: 16).featureCount == 512)
    }

    @Test func imagenetStemHalvesTwice() {
        let store = ParameterStore()
        let encoder = ResNet(ResNetConfiguration(depth: .resnet18, stem: .imagenet, width: 4), store: store)
        store.finalize()
        #expect(encoder.outputShape(for: Shape(1, 3, 64, 64)) == Shape(1, 32))
    }

    // End to end: images -> ResNet-18 (CIFAR stem, width 4) -> head -> L2 norm -> NT-Xent, all in
    // training mode with batch norm. Thousands of ReLUs lie between a parameter and the loss, so
    // the step must be small for few probes to cross a kink: at h = 1e-3 a tenth of the probes
    // did, at h = 1e-4 almost none (those that do are detected and set aside, see GradientReport).
    // The price is rounding: the Float32 loss (|L| ~ 2) carries about 1e-6 relative error after
    // some 20 layers, i.e. ~2e-2 absolute in a difference over 2h = 2e-4, against gradients of
    // 2-3; the smooth probes measured within 1.5e-2 relative, so the tolerance is 3e-2 of the
    // largest gradient probed. The PyTorch parity test holds the same backward to 1e-3.
    @Test(arguments: [(4, 8, 2), (3, 12, 1)])
    func fullModelGradientsMatchFiniteDifferences(samples: Int, size: Int, threads: Int) {
        let model = SimCLRModel(
            encoder: ResNetConfiguration(depth: .resnet18, stem: .cifar, width: 4),
            head: ProjectionHeadConfiguration(layers: 2, hiddenFeatures: 16, outFeatures: 8), seed: 5)
        randomizeAffine(model.store)
        let context = ComputeContext(threads: threads)
        let normalize = L2Normalize()
        let loss = ContrastiveLoss(temperature: 0.5)
        let x = randomTensor(Shape(2 * samples, 3, size, size), seed: 77)

        func objective() -> Double {
            let u = normalize.forward(model.forward(x, context: context), context: context)
            return loss.forward(u, rows: 0..<(2 * samples))
        }

        let center = objective()
        model.store.zeroGradients()
        model.backward(normalize.backward(loss.backward(), context: context), context: context)
        let analytic = model.store.gradients.array

        let h: Float = 1e-4
        var report = GradientReport()
        for segment in model.store.segments {
            for i in probeIndices(count: segment.count, limit: 2, seed: UInt64(segment.offset)) {
                let index = segment.offset + i
                let saved = model.store.values.base[index]
                model.store.values.base[index] = saved + h
                let plus = objective()
                model.store.values.base[index] = saved - h
                let minus = objective()
                model.store.values.base[index] = saved
                report.record(
                    name: "\(segment.name)[\(i)]", analytic: Double(analytic[index]), plus: plus, center: center,
                    minus: minus, step: h)
            }
        }
        #expect(report.probes.count > 100)
        #expect(report.passes(tolerance: 3e-2), "\(report)")
    }
}
