/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// Differences from Python's `json.loads`, all on purpose: `NaN`/`Infinity` literals are rejected (they are not JSON),
/// invalid UTF-8 is rejected, and a `\uD800`-`\uDFFF` escape that is not part of a valid surrogate pair (a lone
/// surrogate, which Python keeps but a Swift `String` cannot hold) becomes U+FFFD REPLACEMENT CHARACTER.
/// Duplicate keys: the last value wins at the first key's position, as in Python.
public struct JSONParser {
    public struct Limits: Sendable {
        /// Deepest nesting of arrays and objects accepted. Default: 64.
        public var maxDepth: Int
        /// Accept `NaN`, `Infinity` and `-Infinity` as numbers, as `json.loads` does, for files Python wrote
        /// (benchmark results). Default: false (they are not JSON).
        public var allowsNonFiniteNumbers: Bool
        public init(maxDepth: Int = 64, allowsNonFiniteNumbers: Bool = false) {
            self.maxDepth = maxDepth
            self.allowsNonFiniteNumbers = allowsNonFiniteNumbers
        }
    }

    public static func parse(_ bytes: [UInt8], limits: Limits = Limits()) throws(JSONError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONError) in try parse(buffer, limits: limits) }
    }

    /// Parses bytes in place (for example a request body still in its receive buffer).
    public static func parse(_ buffer: UnsafeBufferPointer<UInt8>, limits: Limits = Limits()) throws(JSONError) -> JSONValue {
        var parser = JSONParser(bytes: buffer, limits: limits)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.index < buffer.count {
            throw JSONError("unexpected trailing data after the JSON value", offset: parser.index)
        }
        return value
    }

    public static func parse(_ text: String, limits: Limits = Limits()) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8), limits: limits)
    }

    // Valid only during `parse`: the parser never outlives the buffer it reads.
    private let bytes: UnsafeBufferPointer<UInt8>
    private let limits: Limits
    private var index = 0

    private init(bytes: UnsafeBufferPointer<UInt8>, limits: Limits) {
        self.bytes = bytes
        self.limits = limits
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func describeHere() -> String {
        guard index < bytes.count else { return "end of input" }
        let byte = bytes[index]
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16)
    }

    private mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        guard index < bytes.count else { throw JSONError("expected a value, found end of input", offset: index) }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "N") where limits.allowsNonFiniteNumbers: try expectLiteral("NaN"); return .double(.nan)
        case UInt8(ascii: "I") where limits.allowsNonFiniteNumbers: try expectLiteral("Infinity"); return .double(.infinity)
        case UInt8(ascii: "-") where limits.allowsNonFiniteNumbers && index + 1 < bytes.count
            && bytes[index + 1] == UInt8(ascii: "I"):
            index += 1
            try expectLiteral("Infinity")
            return .double(-.infinity)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw JSONError("expected a value, found \(describeHere())", offset: index)
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let start = index
        let count = literal.utf8CodeUnitCount
        let matches = literal.withUTF8Buffer { expected in
            bytes.count - start >= count && (0..<count).allSatisfy { bytes[start + $0] == expected[$0] }
        }
        guard matches else { throw JSONError("invalid literal, expected '\(literal)'", offset: start) }
        index += count
    }

    private mutating func parseObject(depth: Int) throws(JSONError) -> JSONValue {
        if depth > limits.maxDepth {
            throw JSONError("nesting deeper than the limit of \(limits.maxDepth)", offset: index)
        }
        index += 1  // {
        var object = JSONObject()
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw JSONError("expected a string key, found \(describeHere())", offset: index)
            }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw JSONError("expected ':' after an object key, found \(describeHere())", offset: index)
            }
            index += 1
            skipWhitespace()
            object[key] = try parseValue(depth: depth)
            skipWhitespace()
            guard index < bytes.count else { throw JSONError("unterminated object", offset: index) }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(object)
            } else {
                throw JSONError("expected ',' or '}' in an object, found \(describeHere())", offset: index)
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONError) -> JSONValue {
        if depth > limits.maxDepth {
            throw JSONError("nesting deeper than the limit of \(limits.maxDepth)", offset: index)
        }
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw JSONError("unterminated array", offset: index) }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            } else {
                throw JSONError("expected ',' or ']' in an array, found \(describeHere())", offset: index)
            }
        }
    }

    private mutating func parseNumber() throws(JSONError) -> JSONNumber {
        let start = index
        var isFloat = false
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else {
            throw JSONError("expected a digit in a number", offset: index)
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count && isDigit(bytes[index]) {
                throw JSONError("leading zeros are not allowed in a number", offset: start)
            }
        } else {
            while index < bytes.count && isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            isFloat = true
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else {
                throw JSONError("expected a digit after the decimal point", offset: index)
            }
            while index < bytes.count && isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            isFloat = true
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else {
                throw JSONError("expected a digit in the exponent", offset: index)
            }
            while index < bytes.count && isDigit(bytes[index]) { index += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if isFloat {
            // Correctly rounded (strtod); overflow gives ±infinity as in Python.
            guard let value = Double(text) else { throw JSONError("invalid number '\(text)'", offset: start) }
            return .double(value)
        }
        if let value = Int64(text) { return .int(value) }
        return .bigInt(text == "-0" ? "0" : text)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func parseString() throws(JSONError) -> String {
        let start = index
        index += 1  // opening quote
        // Fast path: no escapes.
        var scan = index
        while scan < bytes.count {
            let byte = bytes[scan]
            if byte == UInt8(ascii: "\"") {
                guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[index..<scan]), as: UTF8.self) else {
                    throw JSONError("invalid UTF-8 in a string", offset: firstInvalidUTF8(from: index, to: scan))
                }
                index = scan + 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw JSONError("unescaped control character in a string", offset: scan) }
            scan += 1
        }
        if scan >= bytes.count { throw JSONError("unterminated string", offset: start) }
        // Slow path: decode escapes into a byte buffer, then validate once.
        var buffer: [UInt8] = Array(bytes[index..<scan])
        index = scan
        while true {
            guard index < bytes.count else { throw JSONError("unterminated string", offset: start) }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                guard let text = String(validating: buffer, as: UTF8.self) else {
                    throw JSONError("invalid UTF-8 in a string", offset: start)
                }
                return text
            }
            if byte < 0x20 { throw JSONError("unescaped control character in a string", offset: index) }
            if byte != UInt8(ascii: "\\") {
                buffer.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw JSONError("unterminated string", offset: start) }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): buffer.append(0x22)
            case UInt8(ascii: "\\"): buffer.append(0x5C)
            case UInt8(ascii: "/"): buffer.append(0x2F)
            case UInt8(ascii: "b"): buffer.append(0x08)
            case UInt8(ascii: "f"): buffer.append(0x0C)
            case UInt8(ascii: "n"): buffer.append(0x0A)
            case UInt8(ascii: "r"): buffer.append(0x0D)
            case UInt8(ascii: "t"): buffer.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800...0xDBFF).contains(code) {
                    // A high surrogate: combine with a following \uDC00-\uDFFF escape, else it is lone.
                    if index + 1 < bytes.count && bytes[index] == UInt8(ascii: "\\") && bytes[index + 1] == UInt8(ascii: "u") {
                        let save = index
                        index += 2
                        let low = try parseHex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            index = save
                            code = 0xFFFD
                        }
                    } else {
                        code = 0xFFFD
                    }
                } else if (0xDC00...0xDFFF).contains(code) {
                    code = 0xFFFD
                }
                guard let scalar = Unicode.Scalar(code) else {
                    throw JSONError("invalid \\u escape", offset: index - 6)
                }
                buffer.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw JSONError("invalid escape '\\\(Character(Unicode.Scalar(escape)))' in a string", offset: index - 2)
            }
        }
    }

    private mutating func parseHex4() throws(JSONError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw JSONError("truncated \\u escape", offset: index) }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw JSONError("invalid hex digit in a \\u escape", offset: index)
            }
            code = code << 4 | digit
            index += 1
        }
        return code
    }

    // The offset of the first byte that breaks UTF-8 in bytes[from..<to] (for the error message only).
    private func firstInvalidUTF8(from: Int, to: Int) -> Int {
        var position = from
        while position < to {
            let byte = bytes[position]
            let length: Int
            switch byte {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return position
            }
            if position + length > to { return position }
            if String(validating: UnsafeBufferPointer(rebasing: bytes[position..<(position + length)]), as: UTF8.self) == nil {
                return position
            }
            position += length
        }
        return from
    }
}
