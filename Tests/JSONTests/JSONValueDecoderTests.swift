import JSON
import Testing

@Suite("JSONValueDecoder")
struct JSONValueDecoderTests {
    struct Sample: Decodable, Equatable {
        struct Inner: Decodable, Equatable {
            var factor: Double?
        }
        var size: Int
        var name: String?
        var flags: [Bool]
        var inner: Inner?

        enum CodingKeys: String, CodingKey {
            case size = "hidden_size"
            case name, flags, inner
        }
    }

    private func decode(_ text: String) throws -> Sample {
        try JSONValueDecoder().decode(Sample.self, from: Array(text.utf8))
    }

    @Test("keys, optionals, nulls, nested objects and arrays; integral floats are integers")
    func decodes() throws {
        #expect(try decode(#"{"hidden_size": 8, "flags": [true, false], "inner": {"factor": 2}}"#)
            == Sample(size: 8, name: nil, flags: [true, false], inner: .init(factor: 2)))
        #expect(try decode(#"{"hidden_size": 8.0, "name": null, "flags": [], "inner": null}"#).size == 8)
    }

    @Test("errors name the field: missing, wrong type, fractional or out-of-range integers, bad JSON")
    func errors() {
        func path(_ text: String) -> String? {
            do {
                _ = try decode(text)
                return nil
            } catch DecodingError.keyNotFound(let key, _) {
                return "missing " + key.stringValue
            } catch DecodingError.typeMismatch(_, let context) {
                return context.codingPath.map(\.stringValue).joined(separator: ".")
            } catch DecodingError.dataCorrupted {
                return "corrupt"
            } catch {
                return "other"
            }
        }
        #expect(path(#"{"flags": []}"#) == "missing hidden_size")
        #expect(path(#"{"hidden_size": "8", "flags": []}"#) == "hidden_size")
        #expect(path(#"{"hidden_size": 8.5, "flags": []}"#) == "hidden_size")
        #expect(path(#"{"hidden_size": 1e300, "flags": []}"#) == "hidden_size")
        #expect(path(#"{"hidden_size": 99999999999999999999999, "flags": []}"#) == "hidden_size")
        #expect(path(#"{"hidden_size": 1, "flags": [true, 1]}"#) == "flags.1")
        #expect(path(#"{"hidden_size": 1, "flags": [], "inner": {"factor": "x"}}"#) == "inner.factor")
        #expect(path(#"{"hidden_size": 1,"#) == "corrupt")
    }
}
