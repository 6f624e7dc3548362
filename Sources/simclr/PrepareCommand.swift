// `simclr prepare`: packs a source of images into the project's dataset file.

enum PrepareCommand: Command {
    static let name = "prepare"
    static let summary = "pack images into a dataset file"
    static let usage = "Usage: simclr prepare SOURCE --output FILE [--image-size N] [--json]"

    static func run(_ arguments: [String]) throws { throw UsageError("prepare is not built yet") }
}
