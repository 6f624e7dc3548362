// `simclr`: the command-line front end. Each subcommand lives in its own file and only parses
// options, calls into the libraries and reports; the work itself is in the library targets.

import Compute
import Foundation

/// One subcommand.
protocol Command {
    static var name: String { get }
    static var summary: String { get }
    static var usage: String { get }
    static func run(_ arguments: [String]) throws
}

let commands: [Command.Type] = [
    PrepareCommand.self, TrainCommand.self, LaunchCommand.self, CoordinatorCommand.self, WorkerCommand.self,
    StatusCommand.self, EvalCommand.self, ExportCommand.self, BenchCommand.self, BenchDataCommand.self,
    BenchAllReduceCommand.self,
]

@MainActor func printHelp() {
    print("simclr: SimCLR pretraining on CPU clusters\n\nUsage: simclr <command> [options]\n\nCommands:")
    let column = (commands.map { $0.name.count }.max() ?? 0) + 2
    for command in commands {
        print("  " + command.name.padding(toLength: column, withPad: " ", startingAt: 0) + command.summary)
    }
    print("\nRun 'simclr <command> --help' for a command's options.")
}

// OpenBLAS reads its kernel choice only at load time: fix it, then start again (see OpenBLASCore).
if let coreType = OpenBLASCore.override() {
    setenv("OPENBLAS_CORETYPE", coreType, 1)
    let argv = CommandLine.arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", argv)
    // execv returns only on failure; go on with the slower kernels.
}

// `launch` ignores SIGINT and SIGTERM to relay them; its children must not inherit that.
signal(SIGINT, SIG_DFL)
signal(SIGTERM, SIG_DFL)

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, name != "--help", name != "-h", name != "help" else {
    printHelp()
    exit(arguments.isEmpty ? 2 : 0)
}
guard let command = commands.first(where: { $0.name == name }) else {
    FileHandle.standardError.write(Data("simclr: unknown command '\(name)'\n".utf8))
    printHelp()
    exit(2)
}
let rest = Array(arguments.dropFirst())
if rest.contains("--help") || rest.contains("-h") {
    print(command.usage)
    exit(0)
}
do {
    try command.run(rest)
} catch let error as UsageError {
    FileHandle.standardError.write(Data("simclr \(name): \(error)\n\n\(command.usage)\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("simclr \(name): error: \(error)\n".utf8))
    exit(1)
}
