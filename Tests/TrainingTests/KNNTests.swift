// The kNN vote: neighbours are the most similar training rows, votes are weighted, and the
// selection of the k largest agrees with a full sort.

import Compute
import Testing
import Training

@Suite("kNN classifier")
struct KNNTests {
    /// Unit vectors near one of `classes` axis directions, with noise.
    func clustered(count: Int, classes: Int, width: Int, seed: UInt64) -> ([Float], [Int]) {
        var generator = SeededGenerator(seed: seed)
        var features: [Float] = []
        var labels: [Int] = []
        for index in 0..<count {
            let label = index % classes
            var row = (0..<width).map { _ in 0.3 * generator.normal() }
            row[label] += 1
            let norm = row.map { $0 * $0 }.reduce(0, +).squareRoot()
            features += row.map { $0 / norm }
            labels.append(label)
        }
        return (features, labels)
    }

    @Test func separatesClusters() {
        let (train, trainLabels) = clustered(count: 500, classes: 5, width: 8, seed: 1)
        let (test, testLabels) = clustered(count: 100, classes: 5, width: 8, seed: 2)
        let predictions = KNN.classify(
            train: train, trainLabels: trainLabels, test: test, width: 8, classes: 5, k: 20)
        let accuracy = Double(zip(predictions, testLabels).filter { $0 == $1 }.count) / 100
        #expect(accuracy > 0.9)
    }

    // With k = 1 the prediction is the label of the single most similar row.
    @Test func nearestNeighbourWithKOne() {
        let (train, trainLabels) = clustered(count: 300, classes: 7, width: 8, seed: 3)
        let (test, _) = clustered(count: 40, classes: 7, width: 8, seed: 4)
        let predictions = KNN.classify(train: train, trainLabels: trainLabels, test: test, width: 8, classes: 7, k: 1)
        for row in 0..<40 {
            var best = -Float.infinity
            var bestLabel = -1
            for j in 0..<300 {
                let similarity = (0..<8).map { test[row * 8 + $0] * train[j * 8 + $0] }.reduce(0, +)
                if similarity > best {
                    best = similarity
                    bestLabel = trainLabels[j]
                }
            }
            #expect(predictions[row] == bestLabel)
        }
    }
}
