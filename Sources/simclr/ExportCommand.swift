// `simclr export`: a checkpoint's encoder as safetensors for PyTorch.

import Foundation
import Training

enum ExportCommand: Command {
    static let name = "export"
    static let summary = "write a checkpoint's encoder as safetensors for torchvision"
    static let usage = """
        Usage: simclr export --checkpoint PATH --output FILE [--with-head]

          PATH is a checkpoint file or a run directory (its newest good checkpoint). The tensors are
          named as in torchvision's ResNets; see the README for loading them into resnet18/resnet50.
        """

    static func run(_ argv: [String]) throws {
        let arguments = try Arguments(argv, booleanFlags: ["with-head"])
        let checkpoint = try arguments.require("checkpoint")
        let output = URL(fileURLWithPath: try arguments.require("output"))
        let withHead = arguments.flag("with-head")
        try arguments.finish()
        let (state, path) = try loadCheckpoint(checkpoint)
        try EncoderExport.write(state, includeHead: withHead, to: output)
        Log.info("export", "wrote", ["output": output.path, "checkpoint": path, "step": state.step])
    }
}

/// Reads a checkpoint file, or the newest good checkpoint of a run directory (warning about
/// damaged newer ones).
func loadCheckpoint(_ path: String) throws -> (TrainingState, String) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw UsageError("--checkpoint: \(path) does not exist")
    }
    if isDirectory.boolValue {
        let (state, url, skipped) = try Checkpoint.latestGood(in: URL(fileURLWithPath: path))
        for reason in skipped { Log.warn("checkpoint", "skipped damaged checkpoint", ["reason": "\(reason)"]) }
        return (state, url.path)
    }
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    return (try Checkpoint.decode(bytes, path: path), path)
}
