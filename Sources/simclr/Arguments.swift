// A small command-line parser for the `simclr` subcommands: `--name value`, `--name=value`,
// boolean `--flag`, and positionals. Every option must be consumed; leftovers are an error that
// names them, so a typo never silently falls back to a default.

import Foundation

/// A usage mistake: shown to the user with the subcommand's help, exit code 2.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The arguments after the subcommand name.
final class Arguments {
    private var options: [String: String] = [:]
    private var flags: Set<String> = []
    private(set) var positionals: [String] = []
    private var consumed: Set<String> = []

    /// - Parameter booleanFlags: names (without `--`) that take no value.
    init(_ arguments: [String], booleanFlags: Set<String>) throws {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                positionals.append(argument)
                continue
            }
            var name = String(argument.dropFirst(2))
            if let equals = name.firstIndex(of: "=") {
                options[String(name[..<equals])] = String(name[name.index(after: equals)...])
                continue
            }
            if booleanFlags.contains(name) {
                flags.insert(name)
                continue
            }
            guard index < arguments.count else { throw UsageError("--\(name) needs a value") }
            name = name.trimmingCharacters(in: .whitespaces)
            options[name] = arguments[index]
            index += 1
        }
    }

    func flag(_ name: String) -> Bool {
        consumed.insert(name)
        return flags.contains(name)
    }

    func string(_ name: String) -> String? {
        consumed.insert(name)
        return options[name]
    }

    func string(_ name: String, default value: String) -> String { string(name) ?? value }

    func require(_ name: String) throws -> String {
        guard let value = string(name) else { throw UsageError("missing --\(name)") }
        return value
    }

    func int(_ name: String) throws -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
            throw UsageError("--\(name) expects an integer, got '\(text)'")
        }
        return value
    }

    func float(_ name: String) throws -> Float? {
        guard let text = string(name) else { return nil }
        guard let value = Float(text), value.isFinite else {
            throw UsageError("--\(name) expects a number, got '\(text)'")
        }
        return value
    }

    /// Fails on any option or flag that no call above asked for.
    /// The run directory: `--run-dir DIR`, or `--resume DIR` (the directory right after the flag).
    func runDirectory() throws -> URL {
        if let path = string("run-dir") { return URL(fileURLWithPath: path) }
        if flag("resume"), let path = positionals.first { return URL(fileURLWithPath: path) }
        throw UsageError("--run-dir is required (or --resume DIR)")
    }

    func finish(allowPositionals: Int = 0) throws {
        let unknown = Set(options.keys).union(flags).subtracting(consumed).sorted()
        if !unknown.isEmpty {
            throw UsageError("unknown option(s): " + unknown.map { "--" + $0 }.joined(separator: ", "))
        }
        if positionals.count > allowPositionals {
            throw UsageError(
                "unexpected argument(s): " + positionals.dropFirst(allowPositionals).joined(separator: " "))
        }
    }
}
