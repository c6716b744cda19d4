#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The global functions a Hugging Face chat template can call: jinja2's `range`, `namespace`, `dict`, plus
/// transformers' `raise_exception(message)` and `strftime_now(format)`.
enum Globals {
    /// jinja2's sandbox refuses larger ranges (`MAX_RANGE`).
    static let maxRange = 100_000

    static func values(now: Int?) -> [String: Value] {
        [
            "range": .callable(Callable(name: "range") { arguments, _ throws(TemplateError) in try range(arguments) }),
            "namespace": .callable(Callable(name: "namespace") { arguments, _ throws(TemplateError) in
                .namespace(Namespace(try keywordDict(arguments, "namespace")))
            }),
            "dict": .callable(Callable(name: "dict") { arguments, _ throws(TemplateError) in .dict(try keywordDict(arguments, "dict")) }),
            "raise_exception": .callable(Callable(name: "raise_exception") { arguments, _ throws(TemplateError) in
                throw TemplateError(arguments.value(0, "message")?.str ?? "", isRaisedByTemplate: true)
            }),
            "strftime_now": .callable(Callable(name: "strftime_now") { arguments, _ throws(TemplateError) in
                guard case .string(let format)? = arguments.value(0, "format") else {
                    throw TemplateError("strftime_now() needs a format string")
                }
                return .string(strftime(format, now: now))
            }),
        ]
    }

    private static func keywordDict(_ arguments: CallArguments, _ name: String) throws(TemplateError) -> Dict {
        var dict = Dict()
        for positional in arguments.positional {
            guard case .dict(let initial) = positional else { throw TemplateError("\(name)() positional argument must be a mapping") }
            for (key, value) in initial.items { dict[key] = value }
        }
        for keyword in arguments.keyword { dict[keyword.name] = keyword.value }
        return dict
    }

    private static func range(_ arguments: CallArguments) throws(TemplateError) -> Value {
        var bounds: [Int] = []
        for argument in arguments.positional {
            guard let integer = argument.integerValue else {
                throw TemplateError("'\(argument.pythonTypeName)' object cannot be interpreted as an integer")
            }
            bounds.append(integer)
        }
        let start, stop, step: Int
        switch bounds.count {
        case 1: (start, stop, step) = (0, bounds[0], 1)
        case 2: (start, stop, step) = (bounds[0], bounds[1], 1)
        case 3: (start, stop, step) = (bounds[0], bounds[1], bounds[2])
        default: throw TemplateError("range expected 1 to 3 integer arguments, got \(bounds.count)")
        }
        guard step != 0 else { throw TemplateError("range() arg 3 must not be zero") }
        let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
        if count > maxRange {
            throw TemplateError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(maxRange)).")
        }
        return .list((0..<count).map { .int(start + $0 * step) })
    }

    /// C `strftime` of the local time (`now` seconds since the epoch, or the current time).
    static func strftime(_ format: String, now: Int?) -> String {
        var seconds = time_t(now ?? Int(time(nil)))
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 512)
        let written = Glibc.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[..<written].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
