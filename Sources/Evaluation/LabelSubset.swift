// The labeled fraction of a training set that label-efficient evaluation may use: the same number
// of samples from every class, drawn with a fixed seed, so that runs and tools compare on the same
// images.

import Compute
import Datasets

public enum LabelSubset {
    /// Indices of `fraction` of each class of `dataset` (at least one per class), in ascending
    /// order; every index when `fraction` is 1.
    public static func indices(of dataset: PackedDataset, fraction: Double, seed: UInt64) -> [Int] {
        precondition(fraction > 0 && fraction <= 1, "LabelSubset: fraction must be in (0, 1]")
        precondition(dataset.isLabeled, "LabelSubset: \(dataset.path) has no labels")
        if fraction >= 1 { return Array(0..<dataset.count) }
        var byClass = [[Int]](repeating: [], count: dataset.classNames.count)
        for index in 0..<dataset.count { byClass[dataset.label(at: index)!].append(index) }
        var chosen: [Int] = []
        for (label, members) in byClass.enumerated() where !members.isEmpty {
            var generator = SeededGenerator(seed: seed, 0x4C41_4245_4C53, UInt64(label))
            let take = max(1, Int((fraction * Double(members.count)).rounded()))
            chosen += members.shuffled(using: &generator).prefix(take)
        }
        return chosen.sorted()
    }
}
