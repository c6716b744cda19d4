import Dispatch
import Foundation
import Glibc
import JSON
import Synchronization
import SocketTestSupport
import Testing

@testable import APIServer
@testable import HTTP

/// Answers every admitted request with "ok" and EOS, keeping nothing: memory after the fuzz run reflects the server.
final class OKBackend: GenerationBackend {
    let admitted = Atomic<Int>(0)

    func submit(_ request: GenerationRequest) -> AdmissionResult {
        admitted.add(1, ordering: .relaxed)
        let (stream, continuation) = AsyncStream<GenerationEvent>.makeStream()
        for choice in 0..<request.choiceCount {
            continuation.yield(.step(choiceIndex: choice, tokens: [SampledToken(id: 111), SampledToken(id: 107)], finish: nil))
            continuation.yield(.step(choiceIndex: choice, tokens: [SampledToken(id: 256)], finish: .stopToken))
        }
        continuation.finish()
        return .accepted(stream)
    }

    func cancel(requestID: GenerationRequestID) {}
    func stopChoice(requestID: GenerationRequestID, choiceIndex: Int) {}
}

/// Builds hostile API requests: well-framed HTTP with broken, mutated, deep or wrongly typed JSON (sent on a
/// keep-alive connection, answered), and broken HTTP (bad methods and headers, huge or negative lengths, invalid
/// UTF-8; sent, then the connection is half-closed and must be closed by the server).
struct APIRequestFuzzer {
    var random: FuzzRandom

    static let paths = ["/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize", "/v1/models",
                        "/v1/models/Ling-mini-2.0", "/health", "/metrics", "/v1/models/%ZZ", "/v1/chat/completions?x=%00"]
    static let valid = [
        #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}],"max_tokens":2}"#,
        #"{"model":"Ling-mini-2.0","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"}]}],"stream":true,"stream_options":{"include_usage":true},"n":2,"stop":["x"],"logprobs":true,"top_logprobs":2}"#,
        #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"w"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}}],"tool_choice":"auto"}"#,
        #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"j"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}}}}"#,
        #"{"model":"Ling-mini-2.0","prompt":["a",[1,2,3]],"max_tokens":3,"echo":true,"logprobs":2}"#,
        #"{"prompt":"hello","add_special_tokens":true,"return_token_strs":true}"#,
        #"{"tokens":[1,2,3]}"#,
    ]
    static let fields = ["model", "messages", "prompt", "stream", "stream_options", "max_tokens", "max_completion_tokens",
                         "temperature", "top_p", "top_k", "min_p", "n", "seed", "stop", "logit_bias", "logprobs",
                         "top_logprobs", "tools", "tool_choice", "response_format", "parallel_tool_calls", "tokens",
                         "stop_token_ids", "ignore_eos", "presence_penalty", "echo", "suffix", "best_of", "messages[0]",
                         "frequency_penalty", "repetition_penalty", "min_tokens"]
    static let oddValues = ["null", "true", "-1", "0", "1e309", "-1e309", "99999999999999999999999", "3.5", "\"\"",
                            "\"x\"", "[]", "{}", "[null]", "[[]]", "{\"role\":5}", "[{\"role\":\"tool\"}]", "\"\\ud800\"",
                            "[{\"type\":\"function\"}]", "{\"type\":\"json_schema\"}", "[-1]", "[157153]", "1.0",
                            "{\"1\":1000}", "\"required\"", "{\"type\":\"function\",\"function\":{\"name\":\"zz\"}}",
                            "{\"9223372036854775808\":1}", "{\"5\":1e400}", "[9223372036854775807]", "[-0]"]
        + numericEdgeValues

    init(seed: UInt64) { random = FuzzRandom(seed: seed) }

    /// A well-framed request whose body is hostile JSON.
    mutating func framed() -> [UInt8] {
        var body: [UInt8]
        switch random.below(6) {
        case 0: body = mutate(Array(random.pick(Self.valid).utf8))
        case 1:  // a known field with a wrong type or an out-of-range value
            let field = random.pick(Self.fields)
            body = Array(#"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"q"}],"\#(field)":\#(random.pick(Self.oddValues))}"#.utf8)
        case 2:  // deep nesting, inside a field or at the top
            let depth = random.pick([63, 64, 65, 200, 5000])
            let open = random.chance(50) ? "[" : "{\"a\":"
            let close = open == "[" ? "]" : "}"
            body = Array((#"{"model":"Ling-mini-2.0","messages":"# + String(repeating: open, count: depth) + "1"
                + String(repeating: close, count: depth) + "}").utf8)
        case 3:  // invalid UTF-8 inside strings
            body = Array(#"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":""#.utf8)
            body += [[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xF8, 0x88], [0x80]][random.below(5)]
            body += Array("\"}]}".utf8)
        case 4: body = (0..<random.below(200)).map { _ in UInt8(random.below(256)) }
        default: body = Array(random.pick(Self.valid).utf8)
        }
        let method = random.chance(90) ? "POST" : random.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
        let type = random.pick(["application/json", "application/x-www-form-urlencoded", "text/plain", "application/json; charset=utf-8"])
        let path = random.chance(70) ? random.pick(["/v1/chat/completions", "/v1/completions"]) : random.pick(Self.paths)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: f\r\nContent-Type: \(type)\r\n"
        if random.chance(10) { head += "Authorization: Bearer \(random.pick(["x", "", "\u{1}"]))\r\n" }
        if random.chance(20) {
            // The same body, chunked, in random pieces.
            head += "Transfer-Encoding: chunked\r\n\r\n"
            var bytes = Array(head.utf8)
            var offset = 0
            while offset < body.count {
                let size = min(body.count - offset, 1 + random.below(64))
                bytes += Array("\(String(size, radix: 16))\r\n".utf8) + body[offset..<(offset + size)] + Array("\r\n".utf8)
                offset += size
            }
            return bytes + Array("0\r\n\r\n".utf8)
        }
        return Array((head + "Content-Length: \(body.count)\r\n\r\n").utf8) + body
    }

    /// Broken HTTP: the server answers with an error and closes, or waits for more until the client half-closes.
    mutating func broken() -> [UInt8] {
        let methods = ["GET", "POST", "G(T", "", "POST POST", "\u{00e9}T", String(repeating: "A", count: 300), "get"]
        let lengths = ["-1", "99999999999999999999", "18446744073709551616", "abc", "5, 7", "0x10", " 9", "9000000000", "100"]
        var text = "\(random.pick(methods)) \(random.pick(Self.paths + ["*", "", "noslash"])) \(random.pick(["HTTP/1.1", "HTTP/1.0", "HTTP/2", "HTTX"]))\r\n"
        for _ in 0..<random.below(4) {
            text += random.pick(["Host: x", "Bad Header: y", ": empty", "X: \u{7f}", "Content-Length: \(random.pick(lengths))",
                                 "Transfer-Encoding: \(random.pick(["chunked", "gzip", "chunked, gzip"]))", "Expect: 100-continue",
                                 "X-Long: " + String(repeating: "v", count: random.pick([10, 70_000]))]) + "\r\n"
        }
        var bytes = Array(text.utf8)
        if random.chance(30) { bytes += [0xFF, 0xFE, 0x00, 0x0D] }
        if random.chance(70) { bytes += Array("\r\n".utf8) }
        bytes += Array(random.pick(Self.valid).utf8.prefix(random.below(300)))
        return mutate(bytes, rate: 1)
    }

    /// Byte flips, deletions and duplications.
    mutating func mutate(_ input: [UInt8], rate: Int = 3) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + random.below(rate)) where !bytes.isEmpty {
            let index = random.below(bytes.count)
            switch random.below(4) {
            case 0: bytes[index] = UInt8(random.below(256))
            case 1: bytes.remove(at: index)
            case 2: bytes.insert(random.pick(Array("{}[]\",:\\0-e.".utf8)), at: index)
            default:
                let end = min(bytes.count, index + random.below(16))
                bytes.insert(contentsOf: bytes[index..<end], at: index)
            }
        }
        return bytes
    }
}

@Suite("API fuzz over sockets", .serialized)
struct APIFuzzTests {
    @Test("100,000 hostile requests: no crash, no hang, no 5xx, memory back near baseline, a normal request works")
    func hundredThousandHostileRequests() async throws { try await offCooperativePool { try Self.hundredThousandHostileRequestsBody() } }

    static func hundredThousandHostileRequestsBody() throws {
        let backend = OKBackend()
        let harness = try SocketHarness(backend: backend)
        defer { harness.stop() }
        let normal = #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}],"max_tokens":2}"#
        for _ in 0..<200 { _ = try harness.send("POST", "/v1/chat/completions", body: normal) }  // warm pools
        let baseline = residentBytes()

        let workers = 4
        let framedPerWorker = 21_000
        let brokenPerWorker = 4_000
        let hangs = Atomic<Int>(0)
        let serverErrors = Atomic<Int>(0)
        let sent = Atomic<Int>(0)
        let statuses = Mutex<[Int: Int]>([:])
        let port = harness.port
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var fuzzer = APIRequestFuzzer(seed: UInt64(7_000 + worker))
            var seen: [Int: Int] = [:]
            var client: TestClient?
            for _ in 0..<framedPerWorker {
                if client == nil { client = try? TestClient(port: port, receiveTimeout: 20) }
                guard let connection = client else {
                    hangs.add(1, ordering: .relaxed)
                    continue
                }
                connection.send(fuzzer.framed())
                sent.add(1, ordering: .relaxed)
                let response: TestResponse
                do {
                    response = try connection.readResponse()
                } catch {
                    // Closed by the server is fine (it never is for well-framed requests); a timeout is a hang.
                    if "\(error)".contains("recv failed") { hangs.add(1, ordering: .relaxed) }
                    client = nil
                    continue
                }
                seen[response.status, default: 0] += 1
                if response.status >= 500 && response.status != 503 { serverErrors.add(1, ordering: .relaxed) }
                if response.headers[first: "Connection"] == "close" { client = nil }
            }
            for _ in 0..<brokenPerWorker {
                guard let connection = try? TestClient(port: port, receiveTimeout: 20) else {
                    hangs.add(1, ordering: .relaxed)
                    continue
                }
                connection.send(fuzzer.broken())
                sent.add(1, ordering: .relaxed)
                connection.shutdownWrite()
                if (try? connection.waitForClose()) != true { hangs.add(1, ordering: .relaxed) }
            }
            statuses.withLock { total in for (status, count) in seen { total[status, default: 0] += count } }
        }
        let summary = statuses.withLock { $0 }.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        print("API fuzz: \(sent.load(ordering: .relaxed)) requests, statuses \(summary), admitted \(backend.admitted.load(ordering: .relaxed))")
        #expect(sent.load(ordering: .relaxed) >= 100_000)
        #expect(hangs.load(ordering: .relaxed) == 0, "connections that hung or could not connect")
        #expect(serverErrors.load(ordering: .relaxed) == 0, "5xx for client input")
        let statusSet = statuses.withLock { Set($0.keys) }
        #expect(statusSet.isSuperset(of: [200, 400]), "the corpus reaches both validation errors and generation")
        #expect(backend.admitted.load(ordering: .relaxed) > 1000)
        for _ in 0..<200 where harness.http.connectionCount > 0 { usleep(50_000) }
        #expect(harness.http.connectionCount == 0)
        let growth = residentBytes() - baseline
        print("API fuzz: RSS growth \(growth / 1024) KiB")
        #expect(growth < 64 * 1024 * 1024)
        let after = try harness.send("POST", "/v1/chat/completions", body: normal)
        #expect(after.status == 200)
        #expect(try JSONParser.parse(after.body)["choices"]?[0]?["message"]?["content"] == "ok")
    }
}

/// Resident set size of this process, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
