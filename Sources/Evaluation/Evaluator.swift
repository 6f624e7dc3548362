// The four evaluation protocols behind `simclr eval`, on a labeled train set (the memory bank or
// labeled fraction) and a labeled test set whose images match the checkpoint's training size.

import Compute
import Datasets
import Foundation
import Training

public enum EvaluationProtocol: String, Sendable, Codable, CaseIterable {
    /// k = 200 nearest neighbours by cosine similarity, votes weighted by exp(s / 0.1).
    case knn
    /// Softmax classifier on frozen, standardised encoder features.
    case linear
    /// The whole encoder plus the head's first layer, trained on the labeled fraction.
    case finetune
    /// The same architecture from random weights, same data, augmentation and budget.
    case supervised
}

/// How far a phase of an evaluation is: `done` of `total` units (images or epochs).
public struct EvaluationProgress: Sendable {
    public var phase: String
    public var done: Int
    public var total: Int
}

public struct EvaluationResult: Sendable, Codable {
    public var protocolName: String
    public var labelFraction: Double
    public var labeledSamples: Int
    public var testSamples: Int
    public var accuracy: Double
    public var seconds: Double
    public var checkpointStep: Int
}

/// A dataset that does not fit the checkpoint or the other set.
public struct EvaluationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public struct Evaluator {
    public let state: TrainingState
    public let train: PackedDataset
    public let test: PackedDataset
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    public var loaderThreads = 1

    /// Opens both sets and checks that they are labeled, name the same classes and hold images of
    /// one size, the size the encoder was trained on when the checkpoint records it.
    public init(state: TrainingState, train: String, test: String) throws {
        self.state = state
        self.train = try PackedDataset(path: train)
        self.test = try PackedDataset(path: test)
        for set in [self.train, self.test] where !set.isLabeled {
            throw EvaluationError("\(set.path) has no labels; evaluation needs labeled train and test sets")
        }
        guard self.train.classNames == self.test.classNames else {
            throw EvaluationError(
                "\(train) has \(self.train.classNames.count) classes (\(self.train.classNames.prefix(5).joined(separator: ", "))...)"
                    + " but \(test) has \(self.test.classNames.count) (\(self.test.classNames.prefix(5).joined(separator: ", "))...)"
            )
        }
        guard self.train.height == self.test.height, self.train.width == self.test.width else {
            throw EvaluationError(
                "image shapes differ: \(train) holds \(self.train.height)x\(self.train.width), \(test) holds \(self.test.height)x\(self.test.width)"
            )
        }
        if let size = state.imageSize, size != self.train.height || size != self.train.width {
            throw EvaluationError(
                "the encoder was trained on \(size)x\(size) images, \(train) and \(test) hold "
                    + "\(self.train.height)x\(self.train.width): prepare them with --image-size \(size)")
        }
    }

    /// Runs `protocol` with `labelFraction` of each training class (kNN and linear use all the
    /// fraction's samples; fine-tuning and the baseline train on them).
    public func run(
        _ evaluation: EvaluationProtocol, labelFraction: Double, seed: UInt64,
        classifierOptions: ClassifierTrainingOptions,
        probeOptions: LinearProbeOptions, progress: (EvaluationProgress) -> Void
    ) throws -> EvaluationResult {
        let start = DispatchTime.now().uptimeNanoseconds
        let labeled = LabelSubset.indices(of: train, fraction: labelFraction, seed: seed)
        let classes = train.classNames.count
        var accuracy = 0.0

        switch evaluation {
        case .knn, .linear:
            // Frozen features of the labeled subset and the test set.
            let model = SimCLRModel(encoder: state.configuration.encoder, head: state.configuration.head, seed: 0)
            model.store.values.base.update(from: state.parameters, count: state.parameters.count)
            model.store.state.base.update(from: state.state, count: state.state.count)
            let context = ComputeContext(threads: threads)
            let width = state.configuration.encoder.featureCount
            let normalize = evaluation == .knn
            let trainFeatures = try FeatureExtractor.features(
                of: train, indices: labeled, encoder: model.encoder, context: context, loaderThreads: loaderThreads,
                normalize: normalize
            ) { progress(EvaluationProgress(phase: "features of the labeled images", done: $0, total: $1)) }
            let testFeatures = try FeatureExtractor.features(
                of: test, encoder: model.encoder, context: context, loaderThreads: loaderThreads, normalize: normalize
            ) { progress(EvaluationProgress(phase: "features of the test images", done: $0, total: $1)) }
            let trainLabels = labeled.map { train.label(at: $0)! }
            let testLabels = (0..<test.count).map { test.label(at: $0)! }
            if evaluation == .knn {
                let predictions = KNN.classify(
                    train: trainFeatures, trainLabels: trainLabels, test: testFeatures, width: width, classes: classes)
                accuracy = Double(zip(predictions, testLabels).filter { $0 == $1 }.count) / Double(test.count)
            } else {
                accuracy = LinearProbe.accuracy(
                    train: trainFeatures, trainLabels: trainLabels, test: testFeatures, testLabels: testLabels,
                    width: width, classes: classes, options: probeOptions
                ) {
                    progress(
                        EvaluationProgress(phase: "linear classifier epochs", done: $0, total: probeOptions.epochs))
                }
            }

        case .finetune, .supervised:
            let classifier = Classifier(configuration: state.configuration, classes: classes, seed: seed)
            if evaluation == .finetune { classifier.load(state) }
            var options = classifierOptions
            options.threads = threads
            options.loaderThreads = loaderThreads
            try ClassifierTraining.train(classifier, dataset: train, indices: labeled, options: options) { epoch, _ in
                progress(
                    EvaluationProgress(phase: "\(evaluation.rawValue) epochs", done: epoch + 1, total: options.epochs))
            }
            accuracy = try ClassifierTraining.accuracy(
                classifier, dataset: test, threads: threads, loaderThreads: loaderThreads)
        }

        return EvaluationResult(
            protocolName: evaluation.rawValue, labelFraction: labelFraction, labeledSamples: labeled.count,
            testSamples: test.count, accuracy: accuracy,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, checkpointStep: state.step)
    }
}
