import Foundation
import Testing

@testable import JSON

@Suite("JSON serialization")
struct JSONSerializationTests {
    @Test("repr(float) matches Python for the tricky values")
    func floatRepr() {
        let expected: [(Double, String)] = [
            (1e16, "1e+16"), (1e-05, "1e-05"), (0.1, "0.1"), (Double.leastNonzeroMagnitude, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"), (-0.0, "-0.0"), (100.0, "100.0"), (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"), (123456789012345678.0, "1.2345678901234568e+17"), (0.30000000000000004, "0.30000000000000004"),
            (1e22, "1e+22"), (2.5e-7, "2.5e-07"), (-1.5, "-1.5"), (0, "0.0"),
        ]
        for (value, text) in expected { #expect(pythonFloatRepr(value) == text, "\(value)") }
        #expect(pythonFloatJSON(.infinity) == "Infinity")
        #expect(pythonFloatJSON(-.infinity) == "-Infinity")
        #expect(pythonFloatJSON(.nan) == "NaN")
    }

    @Test("Compact wire output")
    func compact() throws {
        let value = try JSONParser.parse(#"{"a": [1, 2.0, "x/y\n\u0001", null, true], "b": {}}"#)
        #expect(value.compactJSON() == #"{"a":[1,2.0,"x/y\n\u0001",null,true],"b":{}}"#)
        #expect(JSONValue.double(.infinity).compactJSON() == "null")
    }

    @Test("json.dumps options: indent string, separators")
    func options() throws {
        let value = try JSONParser.parse(#"{"a": [1, {"b": 2}]}"#)
        #expect(value.pythonDumps(PythonDumpsOptions(indent: "\t")) == "{\n\t\"a\": [\n\t\t1,\n\t\t{\n\t\t\t\"b\": 2\n\t\t}\n\t]\n}")
        #expect(value.pythonDumps(PythonDumpsOptions(itemSeparator: ",", keySeparator: ":")) == #"{"a":[1,{"b":2}]}"#)
    }

    struct PythonCase: Decodable {
        let input: String
        let dumps: String
        let indent2: String
        let ascii: String
        let sorted: String
    }

    @Test("json.dumps byte identity against Python's json module (Fixtures/python_dumps.json)")
    func pythonGoldens() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/python_dumps.json")
        let cases = try JSONDecoder().decode([PythonCase].self, from: Data(contentsOf: url))
        #expect(cases.count > 700)
        for testCase in cases {
            let value = try JSONParser.parse(testCase.input)
            #expect(value.pythonDumps() == testCase.dumps, "\(testCase.input)")
            #expect(value.pythonDumps(PythonDumpsOptions(indent: "  ")) == testCase.indent2, "\(testCase.input)")
            #expect(value.pythonDumps(PythonDumpsOptions(ensureASCII: true)) == testCase.ascii, "\(testCase.input)")
            #expect(value.pythonDumps(PythonDumpsOptions(sortKeys: true)) == testCase.sorted, "\(testCase.input)")
            // Round trip through our own compact output.
            let reparsed = try JSONParser.parse(value.compactJSON())
            if case .number(.double(let double)) = value, !double.isFinite { continue }
            #expect(reparsed == value || reparsed.compactJSON() == value.compactJSON(), "\(testCase.input)")
        }
    }
}

@Suite("JSON Codable bridging")
struct JSONCodableTests {
    struct Wrapper: Codable, Equatable {
        let name: String
        let payload: JSONValue
    }

    @Test("Round trip through JSONEncoder and JSONDecoder")
    func roundTrip() throws {
        let payload = try JSONParser.parse(#"{"a": [1, 2.5, "x", null, true, {"b": -3}], "c": "é"}"#)
        let data = try JSONEncoder().encode(Wrapper(name: "n", payload: payload))
        let decoded = try JSONDecoder().decode(Wrapper.self, from: data)
        #expect(decoded.name == "n")
        #expect(decoded.payload == payload)  // object equality ignores order, as in Python
        #expect(decoded.payload["a"]?[0] == .number(.int(1)))
        #expect(decoded.payload["a"]?[1] == .number(.double(2.5)))
        #expect(payload.description == #"{"a":[1,2.5,"x",null,true,{"b":-3}],"c":"é"}"#)
    }
}
