// Export of a trained encoder (and optionally its projection head) as safetensors that load into
// torchvision's ResNets: parameter and buffer names already follow torchvision's, and each batch
// norm gets the `num_batches_tracked` counter PyTorch expects, so `load_state_dict(strict=False)`
// reports only the `fc` keys as missing once the CIFAR stem is swapped in.

import Compute
import Foundation

public enum EncoderExport {
    /// The tensors of `state`'s encoder (and head, when `includeHead`), keyed by torchvision name.
    public static func tensors(
        of state: TrainingState, includeHead: Bool
    ) -> (
        floats: [String: NamedTensor], integers: [String: Int64]
    ) {
        let model = SimCLRModel(
            encoder: state.configuration.encoder, head: state.configuration.head, seed: state.configuration.seed)
        var floats: [String: NamedTensor] = [:]
        var integers: [String: Int64] = [:]
        func keep(_ name: String) -> Bool { includeHead || !name.hasPrefix("head.") }
        for segment in model.store.segments where keep(segment.name) {
            floats[segment.name] = NamedTensor(shape: segment.shape, values: Array(state.parameters[segment.range]))
        }
        for segment in model.store.stateSegments where keep(segment.name) {
            floats[segment.name] = NamedTensor(shape: segment.shape, values: Array(state.state[segment.range]))
            if segment.name.hasSuffix(".running_mean") {
                let layer = segment.name.dropLast(".running_mean".count)
                integers[layer + ".num_batches_tracked"] = Int64(state.optimizerSteps)
            }
        }
        return (floats, integers)
    }

    /// Writes the export atomically to `url`.
    public static func write(_ state: TrainingState, includeHead: Bool, to url: URL) throws {
        let (floats, integers) = tensors(of: state, includeHead: includeHead)
        let metadata = [
            "format": "pt", "arch": state.configuration.arch.rawValue, "stem": state.configuration.stem.rawValue,
            "width": "\(state.configuration.width)", "step": "\(state.step)",
        ]
        let data = SafeTensors.encode(floats, integers: integers, metadata: metadata)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).\(getpid()).tmp")
        try Checkpoint.writeAtomically([UInt8](data), to: url, temporary: temporary)
    }
}
