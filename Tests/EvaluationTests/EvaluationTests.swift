// The evaluation protocols on tiny synthetic sets: the labeled fraction is the same number of
// samples from every class, every protocol runs end to end, the linear probe reads frozen features
// and never changes the encoder, fine-tuning starts from every pretrained tensor but the new
// classifier, and sets that do not fit each other or the encoder are refused with a message that
// says how.

import Compute
import Datasets
import Evaluation
import Foundation
import Testing
import Training

private func temporaryDirectory(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "simclr-tests-\(name)-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite("Evaluation", .serialized)
struct EvaluationTests {
    static let directory = try! temporaryDirectory("evaluation")

    static func synthetic(_ name: String, count: Int, size: Int, seed: UInt64) -> String {
        let path = directory.appendingPathComponent(name).path
        if !FileManager.default.fileExists(atPath: path) {
            _ = try! DatasetPreparer.prepare(
                source: .synthetic(count: count), output: path, options: PrepareOptions(imageSize: size, seed: seed))
        }
        return path
    }

    static let train = synthetic("train.simclr", count: 200, size: 16, seed: 3)
    static let test = synthetic("test.simclr", count: 60, size: 16, seed: 4)

    /// A randomly initialised width-4 model, as a checkpoint would hold it.
    func state() -> TrainingState {
        var configuration = TrainingConfiguration()
        configuration.width = 4
        configuration.headHidden = 16
        configuration.projectionDim = 8
        let model = SimCLRModel(encoder: configuration.encoder, head: configuration.head, seed: 7)
        return TrainingState(
            configuration: configuration, step: 0, optimizerSteps: 0, parameters: model.store.values.array,
            state: model.store.state.array, optimizerState: [])
    }

    @Test func labeledFractionTakesTheSameShareOfEveryClass() throws {
        let dataset = try PackedDataset(path: Self.train)
        var perClass = [Int](repeating: 0, count: dataset.classNames.count)
        for index in 0..<dataset.count { perClass[dataset.label(at: index)!] += 1 }

        let subset = LabelSubset.indices(of: dataset, fraction: 0.1, seed: 1)
        var chosen = [Int](repeating: 0, count: perClass.count)
        for index in subset { chosen[dataset.label(at: index)!] += 1 }
        #expect(chosen == perClass.map { max(1, Int((0.1 * Double($0)).rounded())) })
        #expect(Set(subset).count == subset.count)
        #expect(LabelSubset.indices(of: dataset, fraction: 0.1, seed: 1) == subset)
        #expect(LabelSubset.indices(of: dataset, fraction: 0.1, seed: 2) != subset)
        #expect(LabelSubset.indices(of: dataset, fraction: 1, seed: 1) == Array(0..<dataset.count))
    }

    @Test func linearProbeNeverChangesTheEncoder() throws {
        let state = state()
        let evaluator = try Evaluator(state: state, train: Self.train, test: Self.test)
        let model = SimCLRModel(encoder: state.configuration.encoder, head: state.configuration.head, seed: 0)
        model.store.values.base.update(from: state.parameters, count: state.parameters.count)
        model.store.state.base.update(from: state.state, count: state.state.count)
        let context = ComputeContext(threads: 2)
        let dataset = try PackedDataset(path: Self.test)
        let before = try FeatureExtractor.features(
            of: dataset, encoder: model.encoder, context: context, loaderThreads: 1, normalize: false)

        var options = LinearProbeOptions()
        options.epochs = 5
        let result = try evaluator.run(
            .linear, labelFraction: 0.5, seed: 1, classifierOptions: ClassifierTrainingOptions(),
            probeOptions: options, progress: { _ in })

        #expect(result.labeledSamples == 100)
        #expect(result.testSamples == 60)
        #expect((0...1).contains(result.accuracy))
        #expect(evaluator.state.parameters == state.parameters)
        #expect(evaluator.state.state == state.state)
        let after = try FeatureExtractor.features(
            of: dataset, encoder: model.encoder, context: context, loaderThreads: 1, normalize: false)
        #expect(after == before)
    }

    /// Every protocol runs end to end through the evaluator on the labeled fraction and reports
    /// what it used; supervised starts from its own initial weights, so its result cannot depend
    /// on the checkpoint's, while fine-tuning's does.
    @Test func everyProtocolRunsOnTheLabeledFraction() throws {
        var options = ClassifierTrainingOptions()
        options.epochs = 2
        options.batchSize = 25
        var probe = LinearProbeOptions()
        probe.epochs = 3
        var phases: Set<String> = []
        func run(_ evaluation: EvaluationProtocol, _ state: TrainingState) throws -> EvaluationResult {
            let evaluator = try Evaluator(state: state, train: Self.train, test: Self.test)
            return try evaluator.run(
                evaluation, labelFraction: 0.5, seed: 1, classifierOptions: options, probeOptions: probe
            ) { progress in
                #expect(progress.done <= progress.total)
                phases.insert(progress.phase)
            }
        }
        let pretrained = state()
        var other = pretrained
        other.parameters = other.parameters.map { $0 * 0.5 }
        for evaluation in EvaluationProtocol.allCases {
            let result = try run(evaluation, pretrained)
            #expect(result.protocolName == evaluation.rawValue)
            #expect(result.labeledSamples == 100 && result.testSamples == 60)
            #expect((0...1).contains(result.accuracy))
        }
        #expect(try run(.supervised, other).accuracy == (try run(.supervised, pretrained).accuracy))
        #expect(phases.contains("features of the test images") && phases.contains("finetune epochs"))
    }

    @Test func setsOfAnotherSizeThanTheEncoderWasTrainedOnAreRefused() throws {
        var trainedOn24 = state()
        trainedOn24.imageSize = 24
        #expect {
            try Evaluator(state: trainedOn24, train: Self.train, test: Self.test)
        } throws: { error in
            "\(error)".contains("trained on 24x24") && "\(error)".contains("--image-size 24")
        }
    }

    // Separable features (class c has a large value in dimension c) must be learned perfectly,
    // which shows the probe trains and predicts with the right label convention.
    @Test func linearProbeSeparatesSeparableFeatures() {
        let classes = 4
        let width = 8
        var generator = SeededGenerator(seed: 5)
        func features(_ labels: [Int]) -> [Float] {
            labels.flatMap { label in
                (0..<width).map { j in (j == label ? 3 : 0) + Float.random(in: -0.5...0.5, using: &generator) }
            }
        }
        let trainLabels = (0..<80).map { $0 % classes }
        let testLabels = (0..<40).map { ($0 * 7) % classes }
        var options = LinearProbeOptions()
        options.epochs = 30
        options.batchSize = 16
        options.learningRate = 0.05
        let accuracy = LinearProbe.accuracy(
            train: features(trainLabels), trainLabels: trainLabels, test: features(testLabels),
            testLabels: testLabels, width: width, classes: classes, options: options)
        #expect(accuracy == 1)
    }

    @Test func fineTuningStartsFromEveryPretrainedTensorButTheClassifier() {
        let state = state()
        let classifier = Classifier(configuration: state.configuration, classes: 10, seed: 3)
        let copied = classifier.load(state)
        let newTensors = classifier.store.segments.filter { $0.name.hasPrefix("fc.") }.count
        #expect(newTensors == 2)
        #expect(copied == classifier.store.segments.count - newTensors + classifier.store.stateSegments.count)

        let source = SimCLRModel(encoder: state.configuration.encoder, head: state.configuration.head, seed: 0)
        source.store.values.base.update(from: state.parameters, count: state.parameters.count)
        for segment in classifier.store.segments where !segment.name.hasPrefix("fc.") {
            let match = source.store.segment(named: segment.name)!
            let mine = Array(
                UnsafeBufferPointer(start: classifier.store.values.base + segment.offset, count: segment.count))
            let theirs = Array(UnsafeBufferPointer(start: source.store.values.base + match.offset, count: match.count))
            #expect(mine == theirs, "\(segment.name)")
        }
    }

    @Test func setsThatDoNotFitAreRefused() throws {
        let larger = Self.synthetic("larger.simclr", count: 20, size: 24, seed: 4)
        #expect {
            try Evaluator(state: state(), train: Self.train, test: larger)
        } throws: { error in
            "\(error)".contains("image shapes differ") && "\(error)".contains("16x16") && "\(error)".contains("24x24")
        }

        let path = Self.directory.appendingPathComponent("three-classes.simclr").path
        let writer = try PackedDatasetWriter(path: path, height: 16, width: 16, classNames: ["a", "b", "c"])
        let pixels = [UInt8](repeating: 128, count: 16 * 16 * 3)
        for label in 0..<3 { try pixels.withUnsafeBufferPointer { try writer.append(pixels: $0, label: label) } }
        _ = try writer.finish()
        #expect {
            try Evaluator(state: state(), train: Self.train, test: path)
        } throws: { error in
            "\(error)".contains("10 classes") && "\(error)".contains("has 3")
        }
    }
}
