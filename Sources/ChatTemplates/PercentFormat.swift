import Foundation
import JSON

/// Python's printf-style `str % args` (used by `'%s' % x` and jinja2's `format` filter): `%(name)s` mapping keys,
/// flags `-+ 0#`, width, precision and the conversions `s r a d i u f F e E g G x X o c %`.
enum PercentFormat {
    static func format(_ template: String, _ arguments: Value) throws(TemplateError) -> String {
        var positional: [Value] = []
        var mapping: Dict?
        switch arguments {
        case .tuple(let items): positional = items
        case .dict(let dict):
            mapping = dict
            positional = [arguments]
        default: positional = [arguments]
        }
        var next = 0
        var output = ""
        let scalars = Array(template.unicodeScalars)
        var index = 0
        func nextArgument() throws(TemplateError) -> Value {
            guard next < positional.count else { throw TemplateError("not enough arguments for format string") }
            defer { next += 1 }
            return positional[next]
        }
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            guard scalar == "%" else {
                output.unicodeScalars.append(scalar)
                continue
            }
            guard index < scalars.count else { throw TemplateError("incomplete format") }
            var value: Value?
            if scalars[index] == "(" {
                guard let close = scalars[index...].firstIndex(of: ")") else { throw TemplateError("incomplete format key") }
                let key = PyString.string(scalars[(index + 1)..<close])
                guard let mapping else { throw TemplateError("format requires a mapping") }
                guard let found = mapping[key] else { throw TemplateError("KeyError: '\(key)'") }
                value = found
                index = close + 1
            }
            var flags = Set<Unicode.Scalar>()
            while index < scalars.count, "-+ 0#".unicodeScalars.contains(scalars[index]) {
                flags.insert(scalars[index])
                index += 1
            }
            var width = 0
            while index < scalars.count, let digit = scalars[index].properties.numericType == .decimal ? Int(String(scalars[index])) : nil {
                width = width * 10 + digit
                index += 1
            }
            var precision: Int?
            if index < scalars.count && scalars[index] == "." {
                index += 1
                var digits = 0
                while index < scalars.count, let digit = Int(String(scalars[index])) {
                    digits = digits * 10 + digit
                    index += 1
                }
                precision = digits
            }
            guard index < scalars.count else { throw TemplateError("incomplete format") }
            let conversion = scalars[index]
            index += 1
            if conversion == "%" {
                output += "%"
                continue
            }
            let argument: Value
            if let value { argument = value } else { argument = try nextArgument() }
            var body: String
            switch conversion {
            case "s": body = argument.str
            case "r", "a": body = argument.repr
            case "d", "i", "u":
                guard let number = argument.numericValue else { throw TemplateError("%\(conversion) format: a real number is required, not \(argument.pythonTypeName)") }
                body = argument.integerValue.map { String($0) } ?? String(Int(number.rounded(.towardZero)))
                if flags.contains("+") && !body.hasPrefix("-") { body = "+" + body } else if flags.contains(" ") && !body.hasPrefix("-") { body = " " + body }
            case "f", "F", "e", "E", "g", "G":
                guard let number = argument.numericValue else { throw TemplateError("must be real number, not \(argument.pythonTypeName)") }
                var spec = "%"
                if flags.contains("+") { spec += "+" } else if flags.contains(" ") { spec += " " }
                if flags.contains("#") { spec += "#" }
                spec += ".\(precision ?? 6)" + String(conversion)
                body = String(format: spec, number)
            case "x", "X", "o":
                guard let integer = argument.integerValue else { throw TemplateError("%\(conversion) format: an integer is required") }
                body = String(integer.magnitude, radix: conversion == "o" ? 8 : 16, uppercase: conversion == "X")
                if flags.contains("#") { body = (conversion == "o" ? "0o" : (conversion == "X" ? "0X" : "0x")) + body }
                if integer < 0 { body = "-" + body }
            case "c":
                if case .string(let text) = argument, text.unicodeScalars.count == 1 {
                    body = text
                } else if let code = argument.integerValue, let character = Unicode.Scalar(UInt32(clamping: max(0, code))) {
                    body = String(character)
                } else {
                    throw TemplateError("%c requires an int or a unicode character")
                }
            default:
                throw TemplateError("unsupported format character '\(conversion)'")
            }
            if conversion == "s" || conversion == "r" || conversion == "a", let precision {
                body = PyString.string(body.unicodeScalars.prefix(precision))
            }
            let padding = width - body.unicodeScalars.count
            if padding > 0 {
                if flags.contains("-") {
                    body += String(repeating: " ", count: padding)
                } else if flags.contains("0") && !"srac".unicodeScalars.contains(conversion) {
                    let signed = body.hasPrefix("-") || body.hasPrefix("+") || body.hasPrefix(" ")
                    let sign = signed ? String(body.prefix(1)) : ""
                    body = sign + String(repeating: "0", count: padding) + (signed ? String(body.dropFirst()) : body)
                } else {
                    body = String(repeating: " ", count: padding) + body
                }
            }
            output += body
        }
        if mapping == nil && next < positional.count {
            throw TemplateError("not all arguments converted during string formatting")
        }
        return output
    }
}
