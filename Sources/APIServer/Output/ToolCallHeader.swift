import JSON

/// Recognises the start of a tool-call object, `{"name": "<name>", "arguments": `, in possibly incomplete text, and
/// parses complete blocks in any key order.
enum ToolCallHeader {
    enum Result: Equatable {
        case needMore
        /// Not the `name`-first layout: wait for the whole block.
        case otherLayout
        /// `argumentsOffset`: index of the first byte after `"arguments":` and its whitespace.
        case header(name: String, argumentsOffset: Int)
        /// `{"name": "x"}`: `endOffset` is just after the closing brace.
        case headerWithoutArguments(name: String, endOffset: Int)
    }

    static func parse(_ bytes: [UInt8]) -> Result {
        var cursor = Cursor(bytes: bytes)
        cursor.skipWhitespace()
        guard let open = cursor.peek() else { return .needMore }
        guard open == UInt8(ascii: "{") else { return .otherLayout }
        cursor.index += 1
        cursor.skipWhitespace()
        guard let key = cursor.string() else { return cursor.atEnd ? .needMore : .otherLayout }
        guard key == "name" else { return .otherLayout }
        cursor.skipWhitespace()
        guard let colon = cursor.peek() else { return .needMore }
        guard colon == UInt8(ascii: ":") else { return .otherLayout }
        cursor.index += 1
        cursor.skipWhitespace()
        guard let name = cursor.string() else { return cursor.atEnd ? .needMore : .otherLayout }
        cursor.skipWhitespace()
        guard let separator = cursor.peek() else { return .needMore }
        if separator == UInt8(ascii: "}") { return .headerWithoutArguments(name: name, endOffset: cursor.index + 1) }
        guard separator == UInt8(ascii: ",") else { return .otherLayout }
        cursor.index += 1
        cursor.skipWhitespace()
        guard let argumentsKey = cursor.string() else { return cursor.atEnd ? .needMore : .otherLayout }
        guard argumentsKey == "arguments" else { return .otherLayout }
        cursor.skipWhitespace()
        guard let argumentsColon = cursor.peek() else { return .needMore }
        guard argumentsColon == UInt8(ascii: ":") else { return .otherLayout }
        cursor.index += 1
        cursor.skipWhitespace()
        guard !cursor.atEnd else { return .needMore }
        return .header(name: name, argumentsOffset: cursor.index)
    }

    /// A complete block body: an object with a string `name`; `arguments` as exact JSON text for objects and
    /// arrays, the decoded text for a string, `{}` when missing or null. nil when the block is not a call.
    static func parseBlock(_ bytes: [UInt8]) -> (name: String, arguments: [UInt8])? {
        guard case .object(let object)? = try? JSONParser.parse(bytes) else { return nil }
        guard case .string(let name)? = object["name"] else { return nil }
        // Exact text of the arguments value: re-scan the raw members.
        var cursor = Cursor(bytes: bytes)
        cursor.skipWhitespace()
        cursor.index += 1
        var arguments = Array("{}".utf8)
        while true {
            cursor.skipWhitespace()
            guard let key = cursor.string() else { break }
            cursor.skipWhitespace()
            cursor.index += 1  // ':'
            cursor.skipWhitespace()
            var scanner = JSONValueScanner()
            let result = scanner.feed(Array(bytes[cursor.index...]))
            guard let consumed = result.completedAt else { break }
            if key == "arguments" {
                switch object["arguments"] {
                case .string(let text)?: arguments = Array(text.utf8)
                case nil, .null?: arguments = Array("{}".utf8)
                default: arguments = Array(bytes[cursor.index..<(cursor.index + consumed)])
                }
            }
            cursor.index += consumed
            cursor.skipWhitespace()
            guard cursor.peek() == UInt8(ascii: ",") else { break }
            cursor.index += 1
        }
        return (name, arguments)
    }

    struct Cursor {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index >= bytes.count }
        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while index < bytes.count && ByteSearch.isWhitespace(bytes[index]) { index += 1 }
        }

        /// A complete JSON string at the cursor, decoded; nil (cursor unchanged) when incomplete or not a string.
        mutating func string() -> String? {
            guard peek() == UInt8(ascii: "\"") else { return nil }
            var end = index + 1
            var escaped = false
            while end < bytes.count {
                let byte = bytes[end]
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    guard case .string(let text)? = try? JSONParser.parse(Array(bytes[index...end])) else { return nil }
                    index = end + 1
                    return text
                }
                end += 1
            }
            return nil
        }
    }
}

/// Finds where one JSON value ends in streamed text and releases its raw bytes as they arrive (objects, arrays and
/// numbers), or whole (strings, decoded; `null` -> `{}`).
struct JSONValueScanner {
    private enum Kind { case undetermined, container, string, scalar }
    private var kind = Kind.undetermined
    private var depth = 0
    private var inString = false
    private var escaped = false
    /// Raw bytes of a string or scalar value, released when complete.
    private var buffered: [UInt8] = []

    struct FeedResult {
        /// Raw bytes to release now.
        var fragment: [UInt8]
        /// Bytes of the input consumed when the value completed in it; nil while incomplete (all input consumed).
        var completedAt: Int?
    }

    mutating func feed(_ bytes: [UInt8]) -> FeedResult {
        var fragment: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch kind {
            case .undetermined:
                if ByteSearch.isWhitespace(byte) { index += 1; continue }
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                    kind = .container
                } else if byte == UInt8(ascii: "\"") {
                    kind = .string
                } else {
                    kind = .scalar
                }
                continue
            case .container:
                fragment.append(byte)
                index += 1
                if inString {
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                } else if byte == UInt8(ascii: "\"") {
                    inString = true
                } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                    depth += 1
                } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                    depth -= 1
                    if depth == 0 { return FeedResult(fragment: fragment, completedAt: index) }
                }
            case .string:
                buffered.append(byte)
                index += 1
                if buffered.count == 1 { continue }
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") {
                    return FeedResult(fragment: Self.decodeString(buffered), completedAt: index)
                }
            case .scalar:
                if ByteSearch.isWhitespace(byte) || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}")
                    || byte == UInt8(ascii: "<")
                {
                    return FeedResult(fragment: Self.scalarText(buffered), completedAt: index)
                }
                buffered.append(byte)
                index += 1
            }
        }
        return FeedResult(fragment: fragment, completedAt: nil)
    }

    /// What a value cut off by the end of generation still releases.
    func finishPartial() -> [UInt8]? {
        switch kind {
        case .undetermined: return Array("{}".utf8)
        case .container: return nil
        case .string: return buffered.count > 1 ? Array(buffered.dropFirst()) : nil
        case .scalar: return buffered.isEmpty ? nil : Self.scalarText(buffered)
        }
    }

    private static func decodeString(_ raw: [UInt8]) -> [UInt8] {
        guard case .string(let text)? = try? JSONParser.parse(raw) else { return raw }
        return Array(text.utf8)
    }

    private static func scalarText(_ raw: [UInt8]) -> [UInt8] {
        raw == Array("null".utf8) ? Array("{}".utf8) : raw
    }
}
