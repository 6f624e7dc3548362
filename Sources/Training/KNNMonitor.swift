// The kNN monitor and the feature extraction it needs: encoder features of a labeled dataset in
// inference mode (no augmentation), L2-normalised, and a weighted k-nearest-neighbour vote of
// each test feature among the training features (k = 200, cosine similarity, votes weighted by
// exp(similarity / 0.1), as in Wu et al. 2018 and the SimCLR literature's monitors).

import Compute
import Datasets
import Foundation

public enum FeatureExtractor {
    /// Encoder features of the samples `indices` of `dataset` (all when `nil`), `[count, F]`
    /// row-major, L2-normalised unless `normalize` is false. The model runs in inference mode
    /// (running batch-norm statistics) and is left in training mode. `progress` hears the samples
    /// done and the total after every batch.
    public static func features(
        of dataset: PackedDataset, indices: [Int]? = nil, encoder: ResNet, context: ComputeContext,
        batchSize: Int = 256, loaderThreads: Int, normalize: Bool = true, progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> [Float] {
        let indices = indices ?? Array(0..<dataset.count)
        let evaluation = AugmentationConfiguration.evaluation(imageSize: dataset.height)
        let loader = BatchLoader(
            dataset: dataset, configuration: evaluation, seed: 0, threads: loaderThreads, maximumBatchSize: batchSize,
            viewsPerSample: 1)
        defer { loader.close() }
        let batches = stride(from: 0, to: indices.count, by: batchSize).map {
            Array(indices[$0..<min($0 + batchSize, indices.count)])
        }
        for batch in batches.prefix(2) { try loader.submit(indices: batch, epoch: 0) }
        context.mode = .inference
        defer { context.mode = .training }
        var features: [Float] = []
        for (index, _) in batches.enumerated() {
            let batch = try loader.next()
            if index + 2 < batches.count { try loader.submit(indices: batches[index + 2], epoch: 0) }
            let h = encoder.forward(batch.images, context: context)
            let width = h.shape.sampleCount
            for row in 0..<h.shape.n {
                let source = h.sample(row)
                var squares: Float = 0
                for j in 0..<width { squares += source[j] * source[j] }
                let norm = normalize ? max(squares.squareRoot(), 1e-12) : 1
                for j in 0..<width { features.append(source[j] / norm) }
            }
            progress(features.count / width, indices.count)
        }
        return features
    }
}

public enum KNN {
    /// Predicted class of each test row by a similarity-weighted vote of its `k` nearest
    /// training rows.
    ///
    /// - Parameters:
    ///   - train: `[n, width]` unit rows; `trainLabels` their classes in `0..<classes`.
    ///   - test: `[m, width]` unit rows.
    public static func classify(
        train: [Float], trainLabels: [Int], test: [Float], width: Int, classes: Int, k: Int = 200,
        temperature: Float = 0.1
    ) -> [Int] {
        let n = trainLabels.count
        let m = test.count / width
        precondition(train.count == n * width && test.count == m * width, "KNN: feature sizes do not match")
        let neighbours = min(k, n)
        let chunk = 128
        var predictions = [Int](repeating: 0, count: m)
        var similarities = [Float](repeating: 0, count: chunk * n)
        var order = [Int32](repeating: 0, count: n)
        var scores = [Double](repeating: 0, count: classes)
        train.withUnsafeBufferPointer { train in
            test.withUnsafeBufferPointer { test in
                for first in stride(from: 0, to: m, by: chunk) {
                    let rows = min(chunk, m - first)

                    // Similarities of a chunk of test rows with every training row.
                    similarities.withUnsafeMutableBufferPointer { s in
                        BLAS.gemm(
                            transposeA: false, transposeB: true, m: rows, n: n, k: width, alpha: 1,
                            a: test.baseAddress! + first * width, lda: width, b: train.baseAddress!, ldb: width,
                            beta: 0, c: s.baseAddress!, ldc: n)
                    }

                    // Per row: select the k largest, then vote.
                    for row in 0..<rows {
                        for i in 0..<n { order[i] = Int32(i) }
                        let base = row * n
                        selectLargest(neighbours, of: &order, by: similarities, offset: base)
                        for c in 0..<classes { scores[c] = 0 }
                        for i in 0..<neighbours {
                            let j = Int(order[i])
                            scores[trainLabels[j]] += exp(Double(similarities[base + j] / temperature))
                        }
                        predictions[first + row] = scores.indices.max { scores[$0] < scores[$1] }!
                    }
                }
            }
        }
        return predictions
    }

    /// Reorders `order` so that its first `k` entries index the `k` largest `values[offset + i]`
    /// (in no particular order): quickselect with middle pivots.
    static func selectLargest(_ k: Int, of order: inout [Int32], by values: [Float], offset: Int) {
        var low = 0
        var high = order.count - 1
        while low < high {
            let pivot = values[offset + Int(order[(low + high) / 2])]
            var i = low
            var j = high
            while i <= j {
                while values[offset + Int(order[i])] > pivot { i += 1 }
                while values[offset + Int(order[j])] < pivot { j -= 1 }
                if i <= j {
                    order.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k - 1 <= j {
                high = j
            } else if k - 1 >= i {
                low = i
            } else {
                return
            }
        }
    }
}

/// kNN accuracy of the current encoder: features of a labeled train set as the memory bank,
/// features of a labeled test set as queries.
public final class KNNMonitor {
    public let train: PackedDataset
    public let test: PackedDataset

    public init(train: URL, test: URL, imageSize: Int) throws {
        self.train = try PackedDataset(path: train.path)
        self.test = try PackedDataset(path: test.path)
        for set in [self.train, self.test] {
            guard set.isLabeled else { throw ConfigurationError("kNN monitor: \(set.path) has no labels") }
            guard set.height == imageSize && set.width == imageSize else {
                throw ConfigurationError(
                    "kNN monitor: \(set.path) holds \(set.height)x\(set.width) images, training uses \(imageSize)x\(imageSize)"
                )
            }
        }
        guard self.train.classNames == self.test.classNames else {
            throw ConfigurationError("kNN monitor: train and test sets name different classes")
        }
    }

    /// Top-1 accuracy in `[0, 1]`.
    public func accuracy(engine: SimCLRStep, threads: Int) throws -> Double {
        let encoder = engine.model.encoder
        let trainFeatures = try FeatureExtractor.features(
            of: train, encoder: encoder, context: engine.context, loaderThreads: threads)
        let testFeatures = try FeatureExtractor.features(
            of: test, encoder: encoder, context: engine.context, loaderThreads: threads)
        let width = encoder.configuration.featureCount
        let predictions = KNN.classify(
            train: trainFeatures, trainLabels: (0..<train.count).map { train.label(at: $0)! }, test: testFeatures,
            width: width, classes: train.classNames.count)
        let correct = predictions.enumerated().filter { $0.element == test.label(at: $0.offset)! }.count
        return Double(correct) / Double(test.count)
    }
}
