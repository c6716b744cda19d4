import Foundation
import Glibc
import JSON
import Synchronization
import SocketTestSupport
import Testing

@testable import APIServer
@testable import HTTP

@Suite("Access log over real sockets", .serialized)
struct AccessLogTests {
    final class Entries: Sendable {
        let state = Mutex<[AccessLogEntry]>([])
        var all: [AccessLogEntry] { state.withLock { $0 } }
        /// Waits (bounded) until `count` entries arrived: the entry is written when the response ends, on the
        /// connection's queue, which may be just after the client read the last byte.
        func wait(for count: Int) -> [AccessLogEntry] {
            for _ in 0..<400 where all.count < count { usleep(5000) }
            return all
        }
    }

    @Test("One entry per request when the response ends: status, bytes, request id, tokens; probes only on request")
    func entries() async throws { try await offCooperativePool { try Self.entriesBody() } }

    static func entriesBody() throws {
        for includeProbes in [false, true] {
            let entries = Entries()
            let harness = try SocketHarness(accessLog: AccessLog(includeProbes: includeProbes) { entry in
                entries.state.withLock { $0.append(entry) }
            })
            defer { harness.stop() }
            let chat = try harness.send(
                "POST", "/v1/chat/completions?beta=true",
                body: #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hello"}],"max_tokens":3}"#)
            #expect(chat.status == 200)
            var logged = entries.wait(for: 1)
            #expect(logged.count == 1)
            let usage = try JSONParser.parse(chat.body)["usage"]
            if let entry = logged.first {
                #expect(entry.method == "POST" && entry.path == "/v1/chat/completions" && entry.status == 200)
                #expect(entry.bytes == chat.body.count)
                #expect(entry.requestID == chat.headers[first: "X-Request-Id"] && entry.requestID != nil)
                #expect(entry.promptTokens.map(Double.init) == usage?["prompt_tokens"]?.doubleValue)
                #expect(entry.completionTokens.map(Double.init) == usage?["completion_tokens"]?.doubleValue)
                #expect(entry.cachedTokens == 0 && entry.completed && !entry.isProbe && entry.durationSeconds >= 0)
            }
            let missing = try harness.send("GET", "/nope")
            let huge = try harness.send(
                "POST", "/v1/chat/completions",
                body: #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"x"}],"max_tokens":9223372036854775807}"#)
            let stream = try harness.send(
                "POST", "/v1/chat/completions",
                body: #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"s"}],"max_tokens":2,"stream":true}"#)
            #expect(missing.status == 404 && huge.status == 400 && stream.status == 200)
            _ = try harness.send("GET", "/health")
            _ = try harness.send("GET", "/metrics")
            logged = entries.wait(for: includeProbes ? 6 : 4)
            usleep(50_000)
            logged = entries.all
            #expect(logged.count == (includeProbes ? 6 : 4))
            #expect(logged.map(\.status).prefix(4) == [200, 404, 400, 200])
            #expect(logged.dropFirst(1).prefix(2).allSatisfy { $0.promptTokens == nil }, "no tokens on routes that did not generate")
            if logged.count > 3 {
                #expect(logged[3].completionTokens == 2 && logged[3].completed && logged[3].bytes > 0)
            }
            if includeProbes {
                #expect(logged.suffix(2).map(\.path) == ["/health", "/metrics"] && logged.suffix(2).allSatisfy(\.isProbe))
            }
        }
    }

    @Test("A client that leaves mid-stream is logged when the connection closes, with the 200 that was sent, as aborted")
    func abortedStream() async throws { try await offCooperativePool { try Self.abortedStreamBody() } }

    static func abortedStreamBody() throws {
        let gate = StepGate()
        let entries = Entries()
        let harness = try SocketHarness(gate: gate, accessLog: AccessLog(includeProbes: false) { entry in
            entries.state.withLock { $0.append(entry) }
        })
        defer { harness.stop() }
        gate.allow(steps: 3)
        let client = try harness.client()
        client.send(SocketHarness.request(
            "POST", "/v1/chat/completions",
            body: #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"s"}],"max_tokens":500,"stream":true,"ignore_eos":true}"#))
        #expect(try client.readHead().status == 200)
        _ = try client.readChunk()  // the role chunk: the request is running
        client.shutdownWrite()
        Glibc.shutdown(client.fd, Int32(SHUT_RDWR))
        gate.isOpen = true
        let logged = entries.wait(for: 1)
        #expect(logged.count == 1)
        #expect(logged.first?.status == 200 && logged.first?.completed == false)
    }
}
