// The executable's one logger: a UTC timestamp, level, component and key=value fields, one line
// each, to stderr and optionally to a run directory's log file. Library code never prints; it
// reports events to the command, which logs them here.

import Foundation

enum Log {
    enum Level: String {
        case info = "INFO"
        case warn = "WARN"
        case error = "ERROR"
    }

    nonisolated(unsafe) private static var file: FileHandle?
    private static let lock = NSLock()

    /// Also append every line to `url` (created if missing).
    static func tee(to url: URL) {
        if !FileManager.default.fileExists(atPath: url.path) {
            FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        lock.lock()
        defer { lock.unlock() }
        file = try? FileHandle(forWritingTo: url)
        _ = try? file?.seekToEnd()
    }

    static func write(
        _ level: Level, _ component: String, _ message: String, _ fields: KeyValuePairs<String, Any> = [:]
    ) {
        let time = ISO8601DateFormatter().string(from: Date())
        var line = "\(time) \(level.rawValue) \(component) \(message)"
        for (key, value) in fields { line += " \(key)=\(format(value))" }
        line += "\n"
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardError.write(Data(line.utf8))
        try? file?.write(contentsOf: Data(line.utf8))
    }

    static func info(_ component: String, _ message: String, _ fields: KeyValuePairs<String, Any> = [:]) {
        write(.info, component, message, fields)
    }

    static func warn(_ component: String, _ message: String, _ fields: KeyValuePairs<String, Any> = [:]) {
        write(.warn, component, message, fields)
    }

    static func error(_ component: String, _ message: String, _ fields: KeyValuePairs<String, Any> = [:]) {
        write(.error, component, message, fields)
    }

    private static func format(_ value: Any) -> String {
        switch value {
        case let value as Double: String(format: value.magnitude >= 100 ? "%.1f" : "%.4g", value)
        case let value as Float: String(format: "%.4g", Double(value))
        case let value as String: value.contains(" ") ? "\"\(value)\"" : value
        default: "\(value)"
        }
    }
}
