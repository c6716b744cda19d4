import Foundation
import Synchronization

/// One progress line for a long operation (a download, mapping a checkpoint): on a terminal a bar redrawn in
/// place (`\r`) at most ten times a second with done/total, rate and ETA; elsewhere (logs, CI) a plain line every
/// `plainInterval` seconds. Thread-safe: transfer threads call `update` concurrently.
public final class ProgressReporter: Sendable {
    public enum Unit: Sendable { case bytes, files }

    private struct State {
        var lastDraw = -Double.infinity
        var done: Int64 = 0
        var total: Int64 = 0
        /// `done` at the first update: what an earlier run left (a resumed download) does not count in the rate.
        var baseline: Int64?
        var finished = false
    }

    private let label: String
    private let unit: Unit
    private let isTerminal: Bool
    private let plainInterval: Double
    private let start: Double
    private let clock: @Sendable () -> Double
    private let output: @Sendable (String) -> Void
    private let state = Mutex(State())

    public init(label: String, unit: Unit, isTerminal: Bool = isatty(STDERR_FILENO) != 0, plainInterval: Double = 5,
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                output: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.label = label
        self.unit = unit
        self.isTerminal = isTerminal
        self.plainInterval = plainInterval
        self.clock = clock
        self.output = output
        start = clock()
    }

    public func update(done: Int64, total: Int64) {
        let now = clock()
        let text: String? = state.withLock { state in
            guard !state.finished else { return nil }
            state.done = done
            state.total = total
            if state.baseline == nil { state.baseline = done }
            let interval = isTerminal ? 0.1 : plainInterval
            guard now - state.lastDraw >= interval || (done >= total && total > 0 && isTerminal) else { return nil }
            state.lastDraw = now
            return Self.line(label: label, unit: unit, done: done, total: total, elapsed: now - start, bar: isTerminal,
                             since: state.baseline ?? 0)
        }
        guard let text else { return }
        output(isTerminal ? "\r\u{1B}[K" + text : text + "\n")
    }

    /// Ends the line with `message` (or the final figures).
    public func finish(_ message: String? = nil) {
        let now = clock()
        let text: String? = state.withLock { state in
            guard !state.finished else { return nil }
            state.finished = true
            return message ?? Self.line(label: label, unit: unit, done: state.done, total: state.total, elapsed: now - start,
                                        bar: false, since: state.baseline ?? 0)
        }
        guard let text else { return }
        output((isTerminal ? "\r\u{1B}[K" : "") + text + "\n")
    }

    /// `label [#####.....]  45%  1.20 GiB / 2.67 GiB  35.1 MiB/s  ETA 0:43` (no bar off a terminal). The rate is
    /// of the bytes done `since` (those already there when the operation started do not count).
    public static func line(label: String, unit: Unit, done: Int64, total: Int64, elapsed: Double, bar: Bool,
                            since: Int64 = 0) -> String {
        var parts = [label]
        let fraction = total > 0 ? min(1, max(0, Double(done) / Double(total))) : 0
        if bar {
            let width = 24
            let filled = Int(fraction * Double(width))
            parts.append("[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]")
        }
        if total > 0 { parts.append(String(format: "%3d%%", Int(fraction * 100))) }
        switch unit {
        case .bytes:
            parts.append(total > 0 ? "\(formatBytes(done)) / \(formatBytes(total))" : formatBytes(done))
            if elapsed > 0.05 {
                let rate = Double(max(0, done - since)) / elapsed
                parts.append("\(formatBytes(Int64(rate)))/s")
                if total > done, rate > 0 { parts.append("ETA " + formatDuration(Double(total - done) / rate)) }
            }
        case .files:
            parts.append("\(done)/\(total) files")
        }
        return parts.joined(separator: "  ")
    }

    public static func formatBytes(_ count: Int64) -> String {
        let value = Double(count)
        if value >= 1_073_741_824 { return String(format: "%.2f GiB", value / 1_073_741_824) }
        if value >= 1_048_576 { return String(format: "%.1f MiB", value / 1_048_576) }
        if value >= 1024 { return String(format: "%.1f KiB", value / 1024) }
        return "\(count) B"
    }

    /// `0:43`, `12:05`, `1:02:09`.
    public static func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e7 else { return "--:--" }
        let total = Int(seconds.rounded(.up))
        let (hours, minutes, secs) = (total / 3600, total / 60 % 60, total % 60)
        return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, secs) : String(format: "%d:%02d", minutes, secs)
    }
}
