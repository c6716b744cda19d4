import Foundation

/// Structured log lines on stderr: `2026-11-23T10:00:00.123Z level message`. Thread-safe (one write per line).
struct ServerLog: Sendable {
    enum Level: Int, Sendable { case trace, debug, info, warning, error }
    let minimum: Level

    init(level: String) {
        minimum = ["trace": .trace, "debug": .debug, "info": .info, "warning": .warning, "error": .error][level] ?? .info
    }

    func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level.rawValue >= minimum.rawValue else { return }
        let stamp = Date().ISO8601Format(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        let line = "\(stamp) \(level) \(message())\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    func error(_ message: @autoclosure () -> String) { log(.error, message()) }
}
