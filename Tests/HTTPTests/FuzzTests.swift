import Dispatch
import Glibc
import Synchronization
import SocketTestSupport
import Testing

@testable import HTTP

/// Builds random, mutated and hostile requests.
struct RequestFuzzer {
    var random: FuzzRandom

    private static let methods = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "G(T", "", "get", "POST POST",
                                  "\u{00e9}TAG", String(repeating: "A", count: 300)]
    private static let targets = ["/", "/v1/chat/completions", "/health?x=1", "*", "http://h/p?q", "noslash", "",
                                  "/\u{7f}", "/%00", "/" + String(repeating: "a", count: 9000)]
    private static let versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.12", "HTTX/1.1", "", "HTTP/1.1 x"]
    private static let lengths = ["0", "5", "-1", "99999999999999999999", "18446744073709551616", "abc", "5, 5", "0x10",
                                  "9000000", " 7", "", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                                  "999999999999999999", "1e3", "+5", "5.0", "00000000000000000000005"]
    /// Chunk sizes at and past the 64-bit edges (hex), and one just under the parser's 15-digit cap.
    private static let chunkSizes = ["7fffffffffffffff", "8000000000000000", "ffffffffffffffff", "10000000000000000",
                                     "fffffffffffffff", "-1", "0x10", "1e3", "00000000000000000001"]
    private static let encodings = ["chunked", "gzip", "chunked, chunked", "identity", "gzip, chunked", "CHUNKED", ""]

    init(seed: UInt64) { random = FuzzRandom(seed: seed) }

    mutating func valid() -> [UInt8] {
        let body = String(repeating: "j", count: random.below(40))
        if random.below(2) == 0 {
            return Array("POST /v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        }
        var chunked = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunked += String(body.utf8.count, radix: 16) + ";e=1\r\n" + body + "\r\n0\r\nT: 1\r\n\r\n"
        return Array(chunked.utf8)
    }

    mutating func hostile() -> [UInt8] {
        var text = "\(random.pick(Self.methods)) \(random.pick(Self.targets)) \(random.pick(Self.versions))\r\n"
        if random.below(4) != 0 { text += "Host: h\r\n" }
        var chunkSize: String?
        for _ in 0..<random.below(6) {
            switch random.below(9) {
            case 7:
                text += "Transfer-Encoding: chunked\r\n"
                chunkSize = random.pick(Self.chunkSizes)
            case 0: text += "Content-Length: \(random.pick(Self.lengths))\r\n"
            case 1: text += "Transfer-Encoding: \(random.pick(Self.encodings))\r\n"
            case 2: text += " folded continuation\r\n"
            case 3: text += "Bad Name: v\r\n"
            case 4: text += "Expect: \(random.pick(["100-continue", "nope"]))\r\n"
            case 5:  // mostly short; now and then over the 64 KiB header limit
                let size = random.below(20) == 0 ? 60_000 + random.below(10_000) : random.below(2000)
                text += "X-Long: " + String(repeating: "v", count: size) + "\r\n"
            case 6: text += "Connection: \(random.pick(["close", "keep-alive", "upgrade"]))\r\n"
            default: text += "X-\(random.below(1000)): \(random.below(1_000_000))\r\n"
            }
        }
        text += "\r\n"
        if let chunkSize { text += chunkSize + "\r\n" }
        var bytes = Array(text.utf8)
        bytes += (0..<random.below(64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }  // body / garbage
        return bytes
    }

    /// Flips, inserts, deletes and truncates bytes of `input` (invalid UTF-8 and control bytes included).
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + random.below(4)) {
            guard !bytes.isEmpty else { break }
            let index = random.below(bytes.count)
            switch random.below(5) {
            case 0: bytes[index] = UInt8(truncatingIfNeeded: random.next())
            case 1: bytes.insert(random.pick([0x00, 0x0D, 0x0A, 0x20, 0x3A, 0xC3, 0xFF, 0x80]), at: index)
            case 2: bytes.remove(at: index)
            case 3: bytes.removeSubrange(index...)  // truncated request
            default: bytes.insert(contentsOf: bytes[index..<min(bytes.count, index + 16)], at: index)
            }
        }
        return bytes
    }

    mutating func any() -> [UInt8] {
        switch random.below(3) {
        case 0: return hostile()
        case 1: return mutate(valid())
        default: return mutate(hostile())
        }
    }
}

/// Resident anonymous memory of this process in bytes (statm resident - shared).
func residentSize() -> Int {
    let fd = open("/proc/self/statm", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 128)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count > 0 else { return 0 }
    let fields = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ")
    // resident - shared: anonymous memory only. File-backed pages (other suites in this process map model
    // checkpoints of up to ~1.6 GB) are not what a server leak looks like.
    guard fields.count > 2, let pages = Int(fields[1]), let shared = Int(fields[2]) else { return 0 }
    return (pages - shared) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

@Suite(.serialized) struct FuzzTests {
    @Test func parserSurvivesAHundredThousandHostileRequests() {
        var fuzzer = RequestFuzzer(seed: 0x5EED)
        var random = FuzzRandom(seed: 42)
        var counts = (requests: 0, errors: 0, incomplete: 0)
        var unexpected = 0
        for _ in 0..<100_000 {
            var parser = RequestParser(limits: HTTPParserLimits())
            let input = fuzzer.any()
            var offset = 0
            var events: [RequestParserEvent] = []
            while offset < input.count {  // random slice sizes, including single bytes
                let end = min(input.count, offset + 1 + random.below(random.below(2) == 0 ? 4 : 4096))
                parser.feed(Array(input[offset..<end]))
                offset = end
                while let event = parser.next() { events.append(event) }
            }
            if events.isEmpty { counts.incomplete += 1 }
            for event in events {
                switch event {
                case .request: counts.requests += 1
                case .error(let error):
                    counts.errors += 1
                    if ![400, 413, 414, 417, 431, 501, 505].contains(error.status) { unexpected += 1 }
                case .sendContinue: break
                }
            }
            // A bounded parser never holds more than the header limit plus one body.
            if parser.bufferedByteCount > 70_000 + 9_000_000 { unexpected += 1 }
        }
        #expect(unexpected == 0)
        print("parser fuzz: \(counts.requests) requests, \(counts.errors) errors, \(counts.incomplete) incomplete")
        #expect(counts.requests > 1000 && counts.errors > 1000 && counts.incomplete > 100)
    }

    @Test func serverSurvivesHostileTrafficOverSockets() throws {
        try withServer({ $0.headerTimeout = 1; $0.idleTimeout = 1 }, handler: EchoHandler()) { server, port in
            // Warm up allocator pools before the baseline.
            for _ in 0..<50 {
                let client = try TestClient(port: port)
                client.send(request("GET", "/warm"))
                _ = try client.readResponse()
            }
            let baseline = residentSize()
            let connectionCount = 4000
            let failures = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: 4) { worker in
                var fuzzer = RequestFuzzer(seed: UInt64(1000 + worker))
                for _ in 0..<(connectionCount / 4) {
                    guard let client = try? TestClient(port: port, receiveTimeout: 5) else {
                        failures.add(1, ordering: .relaxed)
                        continue
                    }
                    // Several requests per connection, then half-close: the server must answer or close, never hang.
                    for _ in 0..<(1 + fuzzer.random.below(3)) { client.send(fuzzer.any()) }
                    client.shutdownWrite()
                    if (try? client.waitForClose()) != true { failures.add(1, ordering: .relaxed) }
                }
            }
            #expect(failures.load(ordering: .relaxed) == 0, "connections that hung or could not connect")
            for _ in 0..<100 where server.connectionCount > 0 { usleep(50_000) }
            #expect(server.connectionCount == 0)
            let growth = residentSize() - baseline
            print("socket fuzz: RSS growth \(growth / 1024) KiB over \(connectionCount) connections")
            #expect(growth < 64 * 1024 * 1024)
            let client = try TestClient(port: port)
            client.send(request("POST", "/after", body: "still fine"))
            #expect(try client.readResponse().text == "POST /after - 10:still fine")
        }
    }
}
