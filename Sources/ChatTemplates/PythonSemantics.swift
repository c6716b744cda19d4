import Foundation
import JSON

/// Python `str` algorithms over Unicode scalars (code points), so that results match CPython exactly even where a
/// Swift `Character` would group several scalars (`"\r\n"`, combining marks).
enum PyString {
    typealias Scalars = [Unicode.Scalar]

    /// `str.isspace` for one code point (the set `str.split()` and `str.strip()` use).
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    static func string(_ scalars: some Sequence<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    static func find(_ haystack: Scalars, _ needle: Scalars, from start: Int) -> Int? {
        if needle.isEmpty { return start <= haystack.count ? start : nil }
        guard haystack.count >= needle.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0] && haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    static func rfind(_ haystack: Scalars, _ needle: Scalars, before end: Int) -> Int? {
        var index = end - needle.count
        while index >= 0 {
            if haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index -= 1
        }
        return nil
    }

    static func split(_ text: String, separator: String?, maxSplit: Int) throws(TemplateError) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var parts: [String] = []
        var splitsLeft = maxSplit < 0 ? Int.max : maxSplit
        guard let separator else {
            var index = 0
            while true {
                while index < scalars.count && isWhitespace(scalars[index]) { index += 1 }
                if index == scalars.count { break }
                if splitsLeft == 0 {
                    parts.append(string(scalars[index...]))
                    break
                }
                let start = index
                while index < scalars.count && !isWhitespace(scalars[index]) { index += 1 }
                parts.append(string(scalars[start..<index]))
                splitsLeft -= 1
            }
            return parts
        }
        let needle = Array(separator.unicodeScalars)
        guard !needle.isEmpty else { throw TemplateError("empty separator") }
        var start = 0
        while splitsLeft > 0, let found = find(scalars, needle, from: start) {
            parts.append(string(scalars[start..<found]))
            start = found + needle.count
            splitsLeft -= 1
        }
        parts.append(string(scalars[start...]))
        return parts
    }

    static func rsplit(_ text: String, separator: String?, maxSplit: Int) throws(TemplateError) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var parts: [String] = []
        var splitsLeft = maxSplit < 0 ? Int.max : maxSplit
        guard let separator else {
            var index = scalars.count
            while true {
                while index > 0 && isWhitespace(scalars[index - 1]) { index -= 1 }
                if index == 0 { break }
                if splitsLeft == 0 {
                    parts.append(string(scalars[..<index]))
                    break
                }
                let end = index
                while index > 0 && !isWhitespace(scalars[index - 1]) { index -= 1 }
                parts.append(string(scalars[index..<end]))
                splitsLeft -= 1
            }
            return parts.reversed()
        }
        let needle = Array(separator.unicodeScalars)
        guard !needle.isEmpty else { throw TemplateError("empty separator") }
        var end = scalars.count
        while splitsLeft > 0, let found = rfind(scalars, needle, before: end) {
            parts.append(string(scalars[(found + needle.count)..<end]))
            end = found
            splitsLeft -= 1
        }
        parts.append(string(scalars[..<end]))
        return parts.reversed()
    }

    static func strip(_ text: String, characters: String?, leading: Bool, trailing: Bool) -> String {
        let scalars = Array(text.unicodeScalars)
        let set = characters.map { Set($0.unicodeScalars) }
        func strippable(_ scalar: Unicode.Scalar) -> Bool { set?.contains(scalar) ?? isWhitespace(scalar) }
        var start = 0
        var end = scalars.count
        if leading { while start < end && strippable(scalars[start]) { start += 1 } }
        if trailing { while end > start && strippable(scalars[end - 1]) { end -= 1 } }
        return string(scalars[start..<end])
    }

    static func replace(_ text: String, _ old: String, _ new: String, count: Int) -> String {
        let scalars = Array(text.unicodeScalars)
        let needle = Array(old.unicodeScalars)
        let replacement = Array(new.unicodeScalars)
        var left = count < 0 ? Int.max : count
        var output: Scalars = []
        if needle.isEmpty {
            for scalar in scalars {
                if left > 0 {
                    output += replacement
                    left -= 1
                }
                output.append(scalar)
            }
            if left > 0 { output += replacement }
            return string(output)
        }
        var start = 0
        while left > 0, let found = find(scalars, needle, from: start) {
            output += scalars[start..<found]
            output += replacement
            start = found + needle.count
            left -= 1
        }
        output += scalars[start...]
        return string(output)
    }

    static func count(_ text: String, _ part: String) -> Int {
        let scalars = Array(text.unicodeScalars)
        let needle = Array(part.unicodeScalars)
        if needle.isEmpty { return scalars.count + 1 }
        var total = 0
        var start = 0
        while let found = find(scalars, needle, from: start) {
            total += 1
            start = found + needle.count
        }
        return total
    }

    /// `str.title()`: a cased letter after a cased letter is lowered, otherwise title-cased.
    static func title(_ text: String) -> String {
        var output = ""
        var previousCased = false
        for scalar in text.unicodeScalars {
            let properties = scalar.properties
            if properties.isCased || properties.isLowercase || properties.isUppercase {
                output += previousCased ? properties.lowercaseMapping : properties.titlecaseMapping
                previousCased = true
            } else {
                output.unicodeScalars.append(scalar)
                previousCased = false
            }
        }
        return output
    }

    /// `str.capitalize()`: first code point title-cased, the rest lowered.
    static func capitalize(_ text: String) -> String {
        guard let first = text.unicodeScalars.first else { return "" }
        return first.properties.titlecaseMapping + string(text.unicodeScalars.dropFirst()).lowercased()
    }

    /// `str.splitlines()` (line boundaries of Python, without keepends).
    static func splitLines(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var lines: [String] = []
        var start = 0
        var index = 0
        while index < scalars.count {
            switch scalars[index].value {
            case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
                lines.append(string(scalars[start..<index]))
                index += 1
                start = index
            case 0x0D:
                lines.append(string(scalars[start..<index]))
                index += (index + 1 < scalars.count && scalars[index + 1] == "\n") ? 2 : 1
                start = index
            default:
                index += 1
            }
        }
        if start < scalars.count { lines.append(string(scalars[start...])) }
        return lines
    }
}

enum PySlice {
    /// The indices `sequence[start:stop:step]` visits (CPython's `PySlice_AdjustIndices`).
    static func indices(count: Int, start: Int?, stop: Int?, step: Int) -> [Int] {
        let lower = step < 0 ? -1 : 0
        let upper = step < 0 ? count - 1 : count
        func adjust(_ value: Int?, _ fallback: Int) -> Int {
            guard var value else { return fallback }
            if value < 0 {
                value += count
                if value < lower { value = lower }
            } else if value > upper {
                value = upper
            }
            return value
        }
        let first = adjust(start, step < 0 ? upper : lower)
        let end = adjust(stop, step < 0 ? lower : upper)
        var result: [Int] = []
        var index = first
        while step > 0 ? index < end : index > end {
            result.append(index)
            index += step
        }
        return result
    }
}

enum PyNumber {
    static func integer(_ op: BinaryOperator, _ a: Int, _ b: Int) throws(TemplateError) -> Value {
        func checked(_ result: (partialValue: Int, overflow: Bool)) throws(TemplateError) -> Value {
            if result.overflow { throw TemplateError("integer overflow in '\(op.rawValue)'") }
            return .int(result.partialValue)
        }
        switch op {
        case .add: return try checked(a.addingReportingOverflow(b))
        case .subtract: return try checked(a.subtractingReportingOverflow(b))
        case .multiply: return try checked(a.multipliedReportingOverflow(by: b))
        case .divide:
            guard b != 0 else { throw TemplateError("division by zero") }
            return .float(Double(a) / Double(b))
        case .floorDivide:
            guard b != 0 else { throw TemplateError("integer division or modulo by zero") }
            let quotient = a / b
            return .int((a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient)
        case .modulo:
            guard b != 0 else { throw TemplateError("integer division or modulo by zero") }
            let remainder = a % b
            return .int((remainder != 0 && (remainder < 0) != (b < 0)) ? remainder + b : remainder)
        case .power:
            if b < 0 { return .float(pow(Double(a), Double(b))) }
            // Exponentiation by squaring with overflow checks.
            var result = 1
            var base = a
            var exponent = b
            while exponent > 0 {
                if exponent & 1 == 1 {
                    let (product, overflow) = result.multipliedReportingOverflow(by: base)
                    if overflow { throw TemplateError("integer overflow in '**'") }
                    result = product
                }
                exponent >>= 1
                if exponent > 0 {
                    let (square, overflow) = base.multipliedReportingOverflow(by: base)
                    if overflow { throw TemplateError("integer overflow in '**'") }
                    base = square
                }
            }
            return .int(result)
        case .concat:
            return .string(String(a) + String(b))
        }
    }

    static func float(_ op: BinaryOperator, _ a: Double, _ b: Double) throws(TemplateError) -> Value {
        switch op {
        case .add: return .float(a + b)
        case .subtract: return .float(a - b)
        case .multiply: return .float(a * b)
        case .divide:
            guard b != 0 else { throw TemplateError("float division by zero") }
            return .float(a / b)
        case .floorDivide:
            guard b != 0 else { throw TemplateError("float floor division by zero") }
            return .float((a / b).rounded(.down))
        case .modulo:
            guard b != 0 else { throw TemplateError("float modulo") }
            let remainder = fmod(a, b)
            return .float((remainder != 0 && (remainder < 0) != (b < 0)) ? remainder + b : remainder)
        case .power: return .float(pow(a, b))
        case .concat: return .string(pythonFloatRepr(a) + pythonFloatRepr(b))
        }
    }
}
