/// Incremental Server-Sent Events parser: bytes in, complete `data` payloads out.
///
/// Lines end in `\n` (a trailing `\r` is dropped); a blank line ends an event; lines starting with `:` are comments
/// and skipped (keep-alive pings); `data:` lines (one optional space after the colon) are joined with `\n`;
/// other fields (`event:`, `id:`, `retry:`) are ignored. An event without any `data` line is not reported.
/// Feeding the same bytes in any split gives the same events.
public struct SSEParser: Sendable {
    private var partialLine: [UInt8] = []  // [bytes of the current unterminated line]
    private var data: [UInt8] = []  // [bytes of the current event's joined data lines]
    private var hasData = false
    /// Lines longer than this are cut (guards against a server that never sends a newline).
    public static let maxLineSize = 16 << 20

    public init() {
        partialLine.reserveCapacity(4096)
        data.reserveCapacity(4096)
    }

    /// Feeds bytes; calls `onEvent` with each completed event's data (valid only during the call).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, onEvent: (UnsafeBufferPointer<UInt8>) -> Void) {
        var lineStart = 0
        var index = 0
        let count = bytes.count
        while index < count {
            if bytes[index] == 0x0A {
                if partialLine.isEmpty {
                    handleLine(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<index]), onEvent: onEvent)
                } else {
                    partialLine.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<index]))
                    let line = partialLine
                    partialLine.removeAll(keepingCapacity: true)
                    line.withUnsafeBytes { handleLine($0, onEvent: onEvent) }
                }
                lineStart = index + 1
            }
            index += 1
        }
        if lineStart < count, partialLine.count < Self.maxLineSize {
            partialLine.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<count]))
        }
    }

    /// Convenience for tests and small inputs.
    public mutating func feed(_ bytes: [UInt8], onEvent: (UnsafeBufferPointer<UInt8>) -> Void) {
        bytes.withUnsafeBytes { feed($0, onEvent: onEvent) }
    }

    /// End of stream: an event still open (no blank line after it) is delivered.
    public mutating func finish(onEvent: (UnsafeBufferPointer<UInt8>) -> Void) {
        if !partialLine.isEmpty {
            let line = partialLine
            partialLine.removeAll(keepingCapacity: true)
            line.withUnsafeBytes { handleLine($0, onEvent: onEvent) }
        }
        dispatch(onEvent: onEvent)
    }

    private mutating func handleLine(_ rawLine: UnsafeRawBufferPointer, onEvent: (UnsafeBufferPointer<UInt8>) -> Void) {
        var line = rawLine
        if let last = line.last, last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        if line.isEmpty {
            dispatch(onEvent: onEvent)
            return
        }
        if line[0] == UInt8(ascii: ":") { return }
        // Field name up to the first colon (whole line if none, with an empty value).
        var colon = 0
        while colon < line.count, line[colon] != UInt8(ascii: ":") { colon += 1 }
        guard colon == 4, line[0] == UInt8(ascii: "d"), line[1] == UInt8(ascii: "a"), line[2] == UInt8(ascii: "t"),
            line[3] == UInt8(ascii: "a")
        else { return }
        var valueStart = colon + 1
        if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        if hasData { data.append(0x0A) }
        if valueStart < line.count { data.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[valueStart...])) }
        hasData = true
    }

    private mutating func dispatch(onEvent: (UnsafeBufferPointer<UInt8>) -> Void) {
        guard hasData else { return }
        data.withUnsafeBufferPointer { onEvent($0) }
        data.removeAll(keepingCapacity: true)
        hasData = false
    }
}
