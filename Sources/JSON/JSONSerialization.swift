/// How `pythonDumps` formats, mirroring the arguments of Python's `json.dumps`.
public struct PythonDumpsOptions: Sendable {
    /// `indent`: nil for one line; otherwise the string repeated per level (`indent=2` is two spaces).
    public var indent: String?
    public var itemSeparator: String
    public var keySeparator: String
    public var ensureASCII: Bool
    public var sortKeys: Bool

    /// Python's defaults for the given indent: `(", ", ": ")` without indent, `(",", ": ")` with one.
    public init(
        indent: String? = nil, itemSeparator: String? = nil, keySeparator: String? = nil,
        ensureASCII: Bool = false, sortKeys: Bool = false
    ) {
        self.indent = indent
        self.itemSeparator = itemSeparator ?? (indent == nil ? ", " : ",")
        self.keySeparator = keySeparator ?? ": "
        self.ensureASCII = ensureASCII
        self.sortKeys = sortKeys
    }
}

extension JSONValue {
    /// Compact wire JSON (`{"a":1,"b":[true,null]}`), keys in insertion order, `/` not escaped. Non-finite doubles,
    /// which JSON cannot express, are written as `null`.
    public func compactJSON() -> String {
        var output = ""
        JSONWriter.writeCompact(self, into: &output)
        return output
    }

    /// Exactly what Python's `json.dumps(value, ...)` returns for the same value (default: `ensure_ascii=False`).
    public func pythonDumps(_ options: PythonDumpsOptions = PythonDumpsOptions()) -> String {
        var output = ""
        JSONWriter.writePython(self, options: options, level: 0, into: &output)
        return output
    }
}

/// `text` as a JSON string literal, quotes included, escaped as `compactJSON` escapes strings (`"`, `\\`, every
/// control character; non-ASCII kept): for code that writes JSON text piece by piece, such as log lines.
public func jsonQuoted(_ text: String) -> String {
    var output: [UInt8] = []
    output.reserveCapacity(text.utf8.count + 2)
    appendJSONQuoted(text, to: &output)
    return String(decoding: output, as: UTF8.self)
}

/// `jsonQuoted(text)` appended as UTF-8 bytes, without building a String: for hot paths that write JSON as bytes
/// (one streamed chunk per token). The same escapes, byte for byte (the tests pin both to the same strings).
public func appendJSONQuoted(_ text: String, to output: inout [UInt8]) {
    output.append(0x22)
    for byte in text.utf8 {
        switch byte {
        case 0x22: output += [0x5C, 0x22]
        case 0x5C: output += [0x5C, 0x5C]
        case 0x08: output += [0x5C, 0x62]
        case 0x0C: output += [0x5C, 0x66]
        case 0x0A: output += [0x5C, 0x6E]
        case 0x0D: output += [0x5C, 0x72]
        case 0x09: output += [0x5C, 0x74]
        case 0x00..<0x20: output += [0x5C, 0x75, 0x30, 0x30, hexDigitBytes[Int(byte >> 4)], hexDigitBytes[Int(byte & 0x0F)]]
        default: output.append(byte)
        }
    }
    output.append(0x22)
}

private let hexDigitBytes: [UInt8] = Array("0123456789abcdef".utf8)

enum JSONWriter {
    static func writeCompact(_ value: JSONValue, into output: inout String) {
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .number(let number):
            if case .double(let double) = number, !double.isFinite {
                output += "null"
            } else {
                output += pythonNumberText(number)
            }
        case .string(let text): writeString(text, ensureASCII: false, into: &output)
        case .array(let elements):
            output += "["
            for (position, element) in elements.enumerated() {
                if position > 0 { output += "," }
                writeCompact(element, into: &output)
            }
            output += "]"
        case .object(let object):
            output += "{"
            for (position, member) in object.members.enumerated() {
                if position > 0 { output += "," }
                writeString(member.key, ensureASCII: false, into: &output)
                output += ":"
                writeCompact(member.value, into: &output)
            }
            output += "}"
        }
    }

    static func writePython(_ value: JSONValue, options: PythonDumpsOptions, level: Int, into output: inout String) {
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .number(let number): output += pythonNumberText(number)
        case .string(let text): writeString(text, ensureASCII: options.ensureASCII, into: &output)
        case .array(let elements):
            if elements.isEmpty {
                output += "[]"
                return
            }
            output += "["
            for (position, element) in elements.enumerated() {
                if position > 0 { output += options.itemSeparator }
                newline(options, level: level + 1, into: &output)
                writePython(element, options: options, level: level + 1, into: &output)
            }
            newline(options, level: level, into: &output)
            output += "]"
        case .object(let object):
            if object.isEmpty {
                output += "{}"
                return
            }
            var members = object.members
            if options.sortKeys {
                // Python orders str keys by code point.
                members.sort { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) { $0.value < $1.value } }
            }
            output += "{"
            for (position, member) in members.enumerated() {
                if position > 0 { output += options.itemSeparator }
                newline(options, level: level + 1, into: &output)
                writeString(member.key, ensureASCII: options.ensureASCII, into: &output)
                output += options.keySeparator
                writePython(member.value, options: options, level: level + 1, into: &output)
            }
            newline(options, level: level, into: &output)
            output += "}"
        }
    }

    private static func newline(_ options: PythonDumpsOptions, level: Int, into output: inout String) {
        guard let indent = options.indent else { return }
        output += "\n"
        for _ in 0..<level { output += indent }
    }

    static func pythonNumberText(_ number: JSONNumber) -> String {
        switch number {
        case .int(let value): return String(value)
        case .bigInt(let text): return text
        case .double(let value): return pythonFloatJSON(value)
        }
    }

    private static let hexDigits: [Character] = Array("0123456789abcdef")

    private static func appendUnicodeEscape(_ code: UInt32, into output: inout String) {
        output += "\\u"
        for shift in stride(from: 12, through: 0, by: -4) {
            output.append(hexDigits[Int((code >> UInt32(shift)) & 0xF)])
        }
    }

    /// Python's `json` string escaping: `"`, `\`, `\b\f\n\r\t` short forms, other controls as `\u00xx`; with
    /// `ensureASCII` every scalar outside U+0020...U+007E is escaped (UTF-16 surrogate pairs above U+FFFF).
    static func writeString(_ text: String, ensureASCII: Bool, into output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: output += "\\\""
            case 0x5C: output += "\\\\"
            case 0x08: output += "\\b"
            case 0x0C: output += "\\f"
            case 0x0A: output += "\\n"
            case 0x0D: output += "\\r"
            case 0x09: output += "\\t"
            case 0x00..<0x20: appendUnicodeEscape(scalar.value, into: &output)
            case 0x20..<0x7F: output.unicodeScalars.append(scalar)
            default:
                if !ensureASCII {
                    output.unicodeScalars.append(scalar)
                } else if scalar.value < 0x10000 {
                    appendUnicodeEscape(scalar.value, into: &output)
                } else {
                    let offset = scalar.value - 0x10000
                    appendUnicodeEscape(0xD800 + (offset >> 10), into: &output)
                    appendUnicodeEscape(0xDC00 + (offset & 0x3FF), into: &output)
                }
            }
        }
        output += "\""
    }
}

/// `json.dumps` text of a float: `repr(float)` for finite values, `NaN`/`Infinity`/`-Infinity` otherwise.
public func pythonFloatJSON(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
    return pythonFloatRepr(value)
}

/// Python's `repr(float)`: the shortest digits that round-trip, fixed notation when the decimal point position
/// `decpt` (value = 0.d1d2... x 10^decpt) satisfies -4 < decpt <= 16, otherwise `d.ddde±XX`.
/// Non-finite values give `nan`, `inf`, `-inf`.
public func pythonFloatRepr(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    let sign = value.sign == .minus ? "-" : ""
    if value == 0 { return sign + "0.0" }
    // Swift's description also prints the shortest round-tripping digits; only the layout differs from Python.
    let (digits, decimalPoint) = shortestDigits(of: value.magnitude)
    var text = sign
    if decimalPoint > -4 && decimalPoint <= 16 {
        if decimalPoint <= 0 {
            text += "0." + String(repeating: "0", count: -decimalPoint) + digits
        } else if decimalPoint >= digits.count {
            text += digits + String(repeating: "0", count: decimalPoint - digits.count) + ".0"
        } else {
            let split = digits.index(digits.startIndex, offsetBy: decimalPoint)
            text += digits[..<split] + "." + digits[split...]
        }
    } else {
        let exponent = decimalPoint - 1
        text += String(digits.first ?? "0")
        if digits.count > 1 { text += "." + digits.dropFirst() }
        text += exponent < 0 ? "e-" : "e+"
        let magnitude = String(abs(exponent))
        text += (magnitude.count < 2 ? "0" : "") + magnitude
    }
    return text
}

// Digits without leading/trailing zeros and the decimal point position, from Swift's shortest `description`
// (forms like "0.001", "123.45", "1e-05", "1.7976931348623157e+308").
private func shortestDigits(of magnitude: Double) -> (digits: String, decimalPoint: Int) {
    let description = magnitude.description
    var mantissa = Substring(description)
    var exponent = 0
    if let e = description.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        mantissa = description[..<e]
        exponent = Int(description[description.index(after: e)...]) ?? 0
    }
    var digits = ""
    var pointPosition: Int?
    for character in mantissa {
        if character == "." {
            pointPosition = digits.count
        } else {
            digits.append(character)
        }
    }
    var decimalPoint = (pointPosition ?? digits.count) + exponent
    while digits.first == "0" {
        digits.removeFirst()
        decimalPoint -= 1
    }
    while digits.last == "0" { digits.removeLast() }
    return (digits, decimalPoint)
}
