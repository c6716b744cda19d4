/// Splits template source into tokens exactly as jinja2's lexer does for the environment Hugging Face uses
/// (`trim_blocks=True`, `lstrip_blocks=True`, `keep_trailing_newline=False`, default delimiters):
///
/// * newlines (`\r\n`, `\r`, `\n`) are normalized to `\n` and one trailing newline is dropped;
/// * `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` strip all whitespace after it;
/// * `lstrip_blocks`: spaces and tabs between the start of a line and a `{%` or `{#` tag are removed (not `{{`, not `{%+`);
/// * `trim_blocks`: the first newline after `%}` or `#}` is removed (not after `+%}`);
/// * inside `{{ }}` and `{% %}` an end delimiter only counts when no bracket is open (`{{ {'a': {'b': 1}} }}`).
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case end
    }

    let kind: Kind
    let line: Int
    let column: Int
}

struct Lexer {
    private let source: [UInt8]
    private var position = 0
    private var tokens: [Token] = []
    // Whether the text that follows begins a line (jinja2's `line_starting`).
    private var lineStarting = true

    static func tokenize(_ text: String) throws(TemplateError) -> [Token] {
        var lexer = Lexer(source: normalizeNewlines(text))
        try lexer.run()
        return lexer.tokens
    }

    private init(source: [UInt8]) { self.source = source }

    private static func normalizeNewlines(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        var pendingCR = false
        while let byte = iterator.next() {
            if pendingCR {
                pendingCR = false
                bytes.append(0x0A)
                if byte == 0x0A { continue }
            }
            if byte == 0x0D {
                pendingCR = true
            } else {
                bytes.append(byte)
            }
        }
        if pendingCR { bytes.append(0x0A) }
        if bytes.last == 0x0A { bytes.removeLast() }
        return bytes
    }

    // MARK: positions

    private func location(of offset: Int) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        var index = 0
        while index < offset && index < source.count {
            if source[index] == 0x0A {
                line += 1
                column = 1
            } else if source[index] & 0xC0 != 0x80 {
                column += 1
            }
            index += 1
        }
        return (line, column)
    }

    private func error(_ message: String, at offset: Int) -> TemplateError {
        let (line, column) = location(of: offset)
        return TemplateError("syntax error at line \(line), column \(column): \(message)")
    }

    // Tokens arrive in source order, so their positions are found by walking forward from the previous one.
    private var cursor = (offset: 0, line: 1, column: 1)

    private mutating func append(_ kind: Token.Kind, at offset: Int) {
        if offset < cursor.offset { cursor = (0, 1, 1) }
        while cursor.offset < offset && cursor.offset < source.count {
            if source[cursor.offset] == 0x0A {
                cursor.line += 1
                cursor.column = 1
            } else if source[cursor.offset] & 0xC0 != 0x80 {
                cursor.column += 1
            }
            cursor.offset += 1
        }
        tokens.append(Token(kind: kind, line: cursor.line, column: cursor.column))
    }

    // Python's `\s` (what jinja2's `-%}` and `{%-` strip) is every code point for which `str.isspace()` holds.
    private func skipWhitespace(from offset: Int) -> Int {
        var index = offset
        while index < source.count {
            let byte = source[index]
            if byte < 0x80 {
                guard isSpace(byte) || (byte >= 0x1C && byte <= 0x1F) else { return index }
                index += 1
                continue
            }
            let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2
            guard index + length <= source.count,
                let scalar = String(decoding: source[index..<index + length], as: UTF8.self).unicodeScalars.first,
                PyString.isWhitespace(scalar)
            else { return index }
            index += length
        }
        return index
    }

    private func stripTrailingWhitespace(_ text: [UInt8]) -> [UInt8] {
        guard let last = text.last, last >= 0x80 || isSpace(last) || (last >= 0x1C && last <= 0x1F) else { return text }
        let string = String(decoding: text, as: UTF8.self)
        return Array(PyString.strip(string, characters: nil, leading: false, trailing: true).utf8)
    }

    private func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }

    private func starts(with literal: String, at offset: Int) -> Bool {
        var index = offset
        for byte in literal.utf8 {
            guard index < source.count, source[index] == byte else { return false }
            index += 1
        }
        return true
    }

    // MARK: template level

    private mutating func run() throws(TemplateError) {
        while position < source.count {
            guard let tagStart = nextTagStart(from: position) else {
                emitText(source[position...], at: position)
                break
            }
            let kind = source[tagStart + 1]  // '{', '%' or '#'
            var modifier: UInt8 = 0
            if tagStart + 2 < source.count, source[tagStart + 2] == UInt8(ascii: "-") || source[tagStart + 2] == UInt8(ascii: "+") {
                modifier = source[tagStart + 2]
            }
            var text = Array(source[position..<tagStart])
            if modifier == UInt8(ascii: "-") {
                text = stripTrailingWhitespace(text)
            } else if modifier != UInt8(ascii: "+") && kind != UInt8(ascii: "{") {
                text = lstripBlock(text)
            }
            emitText(text[...], at: position)
            let afterOpen = tagStart + 2 + (modifier == 0 ? 0 : 1)
            switch kind {
            case UInt8(ascii: "#"):
                try skipComment(start: tagStart, from: afterOpen)
            case UInt8(ascii: "%") where isRawBegin(from: afterOpen):
                try readRaw(start: tagStart, from: afterOpen)
            default:
                try readTag(start: tagStart, from: afterOpen, isBlock: kind == UInt8(ascii: "%"))
            }
        }
        append(.end, at: source.count)
    }

    private func nextTagStart(from offset: Int) -> Int? {
        var index = offset
        while index + 1 < source.count {
            if source[index] == UInt8(ascii: "{") {
                let next = source[index + 1]
                if next == UInt8(ascii: "{") || next == UInt8(ascii: "%") || next == UInt8(ascii: "#") { return index }
            }
            index += 1
        }
        return nil
    }

    // lstrip_blocks: drop spaces/tabs between the last newline (or a line start) and the tag.
    private func lstripBlock(_ text: [UInt8]) -> [UInt8] {
        let lineStart = (text.lastIndex(of: 0x0A) ?? -1) + 1
        guard lineStart > 0 || lineStarting else { return text }
        guard lineStart < text.count else { return text }
        for byte in text[lineStart...] where byte != 0x20 && byte != 0x09 { return text }
        return Array(text[..<lineStart])
    }

    private mutating func emitText(_ text: ArraySlice<UInt8>, at offset: Int) {
        if !text.isEmpty {
            append(.text(String(decoding: text, as: UTF8.self)), at: offset)
        }
    }

    // After `%}` or `#}`: trim_blocks eats one newline; after `-%}` all whitespace goes.
    private mutating func finishTag(endOffset: Int, strip: Bool, trimNewline: Bool) {
        position = endOffset
        if strip {
            position = skipWhitespace(from: position)
        } else if trimNewline && position < source.count && source[position] == 0x0A {
            position += 1
        }
        lineStarting = position > 0 && source[position - 1] == 0x0A
    }

    private mutating func skipComment(start: Int, from offset: Int) throws(TemplateError) {
        var index = offset
        while index + 1 < source.count {
            if source[index] == UInt8(ascii: "#") && source[index + 1] == UInt8(ascii: "}") {
                let previous = source[index - 1]
                let strip = previous == UInt8(ascii: "-") && index - 1 >= offset
                let keep = previous == UInt8(ascii: "+") && index - 1 >= offset
                finishTag(endOffset: index + 2, strip: strip, trimNewline: !keep)
                return
            }
            index += 1
        }
        throw error("comment is not closed with '#}'", at: start)
    }

    private func isRawBegin(from offset: Int) -> Bool {
        var index = offset
        index = skipWhitespace(from: index)
        guard starts(with: "raw", at: index) else { return false }
        index += 3
        index = skipWhitespace(from: index)
        return starts(with: "%}", at: index) || starts(with: "-%}", at: index)
    }

    private mutating func readRaw(start: Int, from offset: Int) throws(TemplateError) {
        var index = offset
        while !starts(with: "%}", at: index) && !starts(with: "-%}", at: index) { index += 1 }
        var bodyStart: Int
        if starts(with: "-%}", at: index) {
            bodyStart = index + 3
            bodyStart = skipWhitespace(from: bodyStart)
        } else {
            bodyStart = index + 2  // jinja2 applies no trim_blocks after `{% raw %}`
        }
        // Find `{%[-+]? endraw [-+]?%}`.
        var scan = bodyStart
        while let tagStart = nextTagStart(from: scan) {
            scan = tagStart + 2
            guard source[tagStart + 1] == UInt8(ascii: "%") else { continue }
            var cursor = tagStart + 2
            var modifier: UInt8 = 0
            if cursor < source.count, source[cursor] == UInt8(ascii: "-") || source[cursor] == UInt8(ascii: "+") {
                modifier = source[cursor]
                cursor += 1
            }
            cursor = skipWhitespace(from: cursor)
            guard starts(with: "endraw", at: cursor) else { continue }
            cursor += 6
            cursor = skipWhitespace(from: cursor)
            var endModifier: UInt8 = 0
            if cursor < source.count, source[cursor] == UInt8(ascii: "-") || source[cursor] == UInt8(ascii: "+") {
                endModifier = source[cursor]
                cursor += 1
            }
            guard starts(with: "%}", at: cursor) else { continue }
            var body = Array(source[bodyStart..<tagStart])
            if modifier == UInt8(ascii: "-") {
                body = stripTrailingWhitespace(body)
            } else if modifier != UInt8(ascii: "+") {
                lineStarting = bodyStart > 0 && source[bodyStart - 1] == 0x0A
                body = lstripBlock(body)
            }
            emitText(body[...], at: bodyStart)
            finishTag(endOffset: cursor + 2, strip: endModifier == UInt8(ascii: "-"), trimNewline: endModifier != UInt8(ascii: "+"))
            return
        }
        throw error("'raw' block is not closed with '{% endraw %}'", at: start)
    }

    // MARK: inside {{ }} and {% %}

    private mutating func readTag(start: Int, from offset: Int, isBlock: Bool) throws(TemplateError) {
        append(isBlock ? .blockBegin : .variableBegin, at: start)
        var index = offset
        var bracketDepth = 0
        let closer = isBlock ? UInt8(ascii: "%") : UInt8(ascii: "}")
        while true {
            index = skipWhitespace(from: index)
            guard index < source.count else {
                throw error(isBlock ? "block tag is not closed with '%}'" : "expression is not closed with '}}'", at: start)
            }
            if bracketDepth == 0 {
                if source[index] == UInt8(ascii: "-") && index + 2 < source.count + 0 && starts(with: isBlock ? "-%}" : "-}}", at: index) {
                    append(isBlock ? .blockEnd : .variableEnd, at: index)
                    finishTag(endOffset: index + 3, strip: true, trimNewline: false)
                    return
                }
                if isBlock && starts(with: "+%}", at: index) {
                    append(.blockEnd, at: index)
                    finishTag(endOffset: index + 3, strip: false, trimNewline: false)
                    return
                }
                if source[index] == closer && index + 1 < source.count && source[index + 1] == UInt8(ascii: "}") {
                    append(isBlock ? .blockEnd : .variableEnd, at: index)
                    finishTag(endOffset: index + 2, strip: false, trimNewline: isBlock)
                    return
                }
            }
            let byte = source[index]
            if isNameStart(byte) {
                let begin = index
                while index < source.count && (isNameStart(source[index]) || isDigit(source[index])) { index += 1 }
                append(.name(String(decoding: source[begin..<index], as: UTF8.self)), at: begin)
            } else if isDigit(byte) {
                index = try readNumber(from: index)
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                index = try readString(from: index)
            } else {
                let begin = index
                let two = index + 1 < source.count ? String(decoding: source[index...index + 1], as: UTF8.self) : ""
                if ["//", "**", "==", "!=", "<=", ">="].contains(two) {
                    append(.op(two), at: begin)
                    index += 2
                } else if "+-/*%~<>=()[]{},.:|;!".utf8.contains(byte) {
                    if byte == UInt8(ascii: "!") { throw error("unexpected '!'", at: begin) }
                    if byte == UInt8(ascii: "(") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") { bracketDepth += 1 }
                    if byte == UInt8(ascii: ")") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                        bracketDepth = max(0, bracketDepth - 1)
                    }
                    append(.op(String(Character(Unicode.Scalar(byte)))), at: begin)
                    index += 1
                } else {
                    let scalar = String(decoding: source[index..<min(index + 4, source.count)], as: UTF8.self).first.map(String.init) ?? "?"
                    throw error("unexpected character '\(scalar)'", at: begin)
                }
            }
        }
    }

    private func isNameStart(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_")
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private func digitRun(from offset: Int) -> Int {
        var index = offset
        while index < source.count && (isDigit(source[index]) || (source[index] == UInt8(ascii: "_") && index + 1 < source.count && isDigit(source[index + 1]))) {
            index += 1
        }
        return index
    }

    private mutating func readNumber(from begin: Int) throws(TemplateError) -> Int {
        var index = digitRun(from: begin)
        var isFloat = false
        if index + 1 < source.count && source[index] == UInt8(ascii: ".") && isDigit(source[index + 1]) {
            isFloat = true
            index = digitRun(from: index + 1)
        }
        if index < source.count && (source[index] == UInt8(ascii: "e") || source[index] == UInt8(ascii: "E")) {
            var cursor = index + 1
            if cursor < source.count && (source[cursor] == UInt8(ascii: "+") || source[cursor] == UInt8(ascii: "-")) { cursor += 1 }
            if cursor < source.count && isDigit(source[cursor]) {
                isFloat = true
                index = digitRun(from: cursor)
            }
        }
        let text = String(decoding: source[begin..<index], as: UTF8.self).replacingUnderscores()
        if isFloat {
            guard let value = Double(text) else { throw error("invalid number '\(text)'", at: begin) }
            append(.float(value), at: begin)
        } else {
            guard let value = Int(text) else { throw error("integer '\(text)' is too large", at: begin) }
            append(.integer(value), at: begin)
        }
        return index
    }

    // String literals decode like Python's "unicode-escape" codec, which is what jinja2 applies.
    private mutating func readString(from begin: Int) throws(TemplateError) -> Int {
        let quote = source[begin]
        var index = begin + 1
        var bytes: [UInt8] = []
        while index < source.count {
            let byte = source[index]
            if byte == quote {
                append(.string(String(decoding: bytes, as: UTF8.self)), at: begin)
                return index + 1
            }
            if byte != UInt8(ascii: "\\") || index + 1 >= source.count {
                bytes.append(byte)
                index += 1
                continue
            }
            let escape = source[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "\\"): bytes.append(0x5C)
            case UInt8(ascii: "'"): bytes.append(0x27)
            case UInt8(ascii: "\""): bytes.append(0x22)
            case UInt8(ascii: "a"): bytes.append(0x07)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "v"): bytes.append(0x0B)
            case 0x0A: break  // backslash-newline continues the line
            case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                let width = escape == UInt8(ascii: "x") ? 2 : (escape == UInt8(ascii: "u") ? 4 : 8)
                guard index + width <= source.count,
                    let code = UInt32(String(decoding: source[index..<index + width], as: UTF8.self), radix: 16),
                    let scalar = Unicode.Scalar(code)
                else { throw error("invalid \\\(Character(Unicode.Scalar(escape))) escape in a string literal", at: index - 2) }
                bytes.append(contentsOf: Array(String(Character(scalar)).utf8))
                index += width
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var code = UInt32(escape - UInt8(ascii: "0"))
                var digits = 1
                while digits < 3 && index < source.count && source[index] >= UInt8(ascii: "0") && source[index] <= UInt8(ascii: "7") {
                    code = code * 8 + UInt32(source[index] - UInt8(ascii: "0"))
                    index += 1
                    digits += 1
                }
                if let scalar = Unicode.Scalar(code) { bytes.append(contentsOf: Array(String(Character(scalar)).utf8)) }
            default:
                // Unknown escapes stay as written, as in Python.
                bytes.append(0x5C)
                bytes.append(escape)
            }
        }
        throw error("string literal is not closed", at: begin)
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(self.filter { $0 != "_" }) }
}
