import Testing

@testable import JSON

@Suite("JSON parser")
struct JSONParserTests {
    @Test("Objects keep key order and duplicate keys keep the first position with the last value")
    func orderAndDuplicates() throws {
        let value = try JSONParser.parse(#"{"b": 1, "a": 2, "b": 3}"#)
        #expect(value.objectValue?.keys == ["b", "a"])
        #expect(value["b"]?.intValue == 3)
        #expect(value.compactJSON() == #"{"b":3,"a":2}"#)
    }

    @Test("Numbers keep integer versus float")
    func numbers() throws {
        #expect(try JSONParser.parse("12") == .number(.int(12)))
        #expect(try JSONParser.parse("12.0") == .number(.double(12)))
        #expect(try JSONParser.parse("1e2") == .number(.double(100)))
        #expect(try JSONParser.parse("-0") == .number(.int(0)))
        #expect(try JSONParser.parse("-9223372036854775808") == .number(.int(Int64.min)))
        #expect(try JSONParser.parse("9223372036854775808") == .number(.bigInt("9223372036854775808")))
        #expect(try JSONParser.parse("1.5").doubleValue == 1.5)
    }

    @Test("Escapes, surrogate pairs and lone surrogates")
    func strings() throws {
        #expect(try JSONParser.parse(#""a\"b\\c\/d\n\u00e9""#) == .string("a\"b\\c/d\né"))
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONParser.parse(#""\ud83d""#) == .string("\u{FFFD}"))
        #expect(try JSONParser.parse(#""\ude00x""#) == .string("\u{FFFD}x"))
        #expect(try JSONParser.parse(#""\ud83d\u0041""#) == .string("\u{FFFD}A"))
        #expect(try JSONParser.parse("\"中文 😀\"") == .string("中文 😀"))
    }

    @Test(
        "Malformed input is rejected with the byte offset",
        arguments: [
            ("", 0), ("{", 1), ("[1,]", 3), ("{\"a\" 1}", 5), ("01", 0), ("1.", 2), ("1e", 2), ("-", 1),
            ("tru", 0), ("nul", 0), ("NaN", 0), ("Infinity", 0), ("[1] x", 4), ("\"abc", 0), ("\"a\tb\"", 2),
            ("\"\\x\"", 1), ("\"\\u12g4\"", 5), ("{\"a\":1,}", 7), ("[1 2]", 3), ("{1:2}", 1), ("\u{FEFF}1", 0),
        ])
    func malformed(text: String, offset: Int) {
        #expect {
            _ = try JSONParser.parse(text)
        } throws: { error in
            (error as? JSONError)?.offset == offset
        }
    }

    @Test("Invalid UTF-8 is rejected")
    func invalidUTF8() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0x5C, 0x6E, 0xC0, 0xAF, 0x22]] {
            #expect(throws: JSONError.self) { _ = try JSONParser.parse(bytes) }
        }
    }

    @Test("Nesting depth limit")
    func depth() throws {
        let deep = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(try JSONParser.parse(deep).arrayValue != nil)
        let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONError.self) { _ = try JSONParser.parse(tooDeep) }
        #expect(throws: JSONError.self) {
            _ = try JSONParser.parse("[[[1]]]", limits: JSONParser.Limits(maxDepth: 2))
        }
        let huge = String(repeating: "[", count: 100_000)
        #expect(throws: JSONError.self) { _ = try JSONParser.parse(huge) }
    }

    @Test("Accessors")
    func accessors() throws {
        let value = try JSONParser.parse(#"{"s": "x", "i": 3, "f": 2.5, "b": true, "n": null, "a": [1, "two"]}"#)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["i"]?.intValue == 3)
        #expect(value["f"]?.intValue == nil)
        #expect(value["f"]?.doubleValue == 2.5)
        #expect(value["b"]?.boolValue == true)
        #expect(value["n"]?.isNull == true)
        #expect(value["a"]?[1]?.stringValue == "two")
        #expect(value["a"]?[2] == nil)
        #expect(value["missing"] == nil)
        #expect(value["s"]?["x"] == nil)
    }

    @Test("NaN and ±Infinity only when allowed (files Python wrote)")
    func nonFiniteNumbers() throws {
        let text = "[NaN, Infinity, -Infinity, -1]"
        #expect(throws: JSONError.self) { try JSONParser.parse(text) }
        let value = try JSONParser.parse(text, limits: JSONParser.Limits(allowsNonFiniteNumbers: true))
        #expect(value[0]?.doubleValue?.isNaN == true)
        #expect(value[1] == .double(.infinity) && value[2] == .double(-.infinity) && value[3] == -1)
        #expect(throws: JSONError.self) { try JSONParser.parse("[-Inf]", limits: JSONParser.Limits(allowsNonFiniteNumbers: true)) }
    }
}
