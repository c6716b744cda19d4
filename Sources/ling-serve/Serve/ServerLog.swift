import APIServer
import Foundation
import Glibc
import JSON

/// Log lines on stderr, one write per line (thread-safe). `text`: `2026-11-23T10:00:00.123Z info message`;
/// `json` (`--log-format json`, for log collectors): one JSON object per line with stable keys `time`, `level`,
/// `msg`, and for access lines `method`, `path`, `status`, `bytes`, `duration_ms`, `request_id`, `remote`,
/// `prompt_tokens`, `completion_tokens`, `cached_tokens`, `completed`.
struct ServerLog: Sendable {
    enum Level: Int, Sendable { case trace, debug, info, warning, error }
    enum Format: String, Sendable { case text, json }
    let minimum: Level
    let format: Format

    init(level: String, format: String = "text") {
        minimum = ["trace": .trace, "debug": .debug, "info": .info, "warning": .warning, "error": .error][level] ?? .info
        self.format = Format(rawValue: format) ?? .text
    }

    func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level.rawValue >= minimum.rawValue else { return }
        let stamp = Self.timestamp()
        switch format {
        case .text: write("\(stamp) \(level) \(message())\n")
        case .json: write("{\"time\":\(jsonQuoted(stamp)),\"level\":\"\(level)\",\"msg\":\(jsonQuoted(message()))}\n")
        }
    }

    func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    func error(_ message: @autoclosure () -> String) { log(.error, message()) }

    /// One access line: info, or debug for the probe routes.
    func access(_ entry: AccessLogEntry) {
        let level: Level = entry.isProbe ? .debug : .info
        guard level.rawValue >= minimum.rawValue else { return }
        let stamp = Self.timestamp()
        let milliseconds = String(format: "%.1f", entry.durationSeconds * 1000)
        switch format {
        case .text:
            var line = "\(stamp) \(level) \(entry.method) \(entry.path) \(entry.status) \(entry.bytes)B \(milliseconds)ms"
            line += " id=\(entry.requestID ?? "-") remote=\(entry.remoteAddress)"
            if let prompt = entry.promptTokens { line += " prompt_tokens=\(prompt)" }
            if let completion = entry.completionTokens { line += " completion_tokens=\(completion)" }
            if let cached = entry.cachedTokens { line += " cached_tokens=\(cached)" }
            if !entry.completed { line += " aborted" }
            write(line + "\n")
        case .json:
            var line = "{\"time\":\(jsonQuoted(stamp)),\"level\":\"\(level)\",\"msg\":\"access\""
            line += ",\"method\":\(jsonQuoted(entry.method)),\"path\":\(jsonQuoted(entry.path))"
            line += ",\"status\":\(entry.status),\"bytes\":\(entry.bytes),\"duration_ms\":\(milliseconds)"
            line += ",\"request_id\":\(entry.requestID.map(jsonQuoted) ?? "null"),\"remote\":\(jsonQuoted(entry.remoteAddress))"
            line += ",\"prompt_tokens\":\(entry.promptTokens.map(String.init) ?? "null")"
            line += ",\"completion_tokens\":\(entry.completionTokens.map(String.init) ?? "null")"
            line += ",\"cached_tokens\":\(entry.cachedTokens.map(String.init) ?? "null")"
            line += ",\"completed\":\(entry.completed)}"
            write(line + "\n")
        }
    }

    private func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(2, base + offset, buffer.count - offset)
                if written <= 0 { if written < 0 && errno == EINTR { continue }; return }
                offset += written
            }
        }
    }

    static func timestamp() -> String {
        Date().ISO8601Format(.iso8601.year().month().day().time(includingFractionalSeconds: true))
    }
}
