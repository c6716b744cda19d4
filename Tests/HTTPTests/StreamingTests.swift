import Dispatch
import Glibc
import Synchronization
import SocketTestSupport
import Testing

@testable import HTTP

/// Records what a streaming producer experienced.
final class ProducerLog: Sendable {
    let backPressureCount = Atomic<Int>(0)
    let cancelled = DispatchSemaphore(value: 0)
    let finished = DispatchSemaphore(value: 0)
    let handlerStarted = DispatchSemaphore(value: 0)
}

/// `/sse?n=N`: N events of ~100 bytes from a producer thread that honours back-pressure.
/// `/hold`: never answers; signals `cancelled` from `onCancel`.
/// `/stream-forever`: writes one event per 10 ms until cancelled.
/// `/delayed`: answers after 300 ms (graceful shutdown test).
struct StreamingHandler: HTTPHandler {
    let log: ProducerLog

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let log = self.log
        switch request.path {
        case "/sse":
            let count = Int((request.query ?? "n=10").dropFirst(2)) ?? 10
            responder.startStream(headers: .eventStream)
            DispatchQueue.global().async {
                let padding = String(repeating: "x", count: 64)
                for index in 0..<count {
                    if !responder.writeEvent(#"{"index":\#(index),"pad":"\#(padding)"}"#) {
                        log.backPressureCount.add(1, ordering: .relaxed)
                        if !responder.waitUntilWritable() { return }
                    }
                }
                responder.writeEvent("[DONE]")
                responder.finish()
                log.finished.signal()
            }
        case "/hold":
            responder.onCancel { log.cancelled.signal() }
            log.handlerStarted.signal()
        case "/stream-forever":
            responder.onCancel { log.cancelled.signal() }
            responder.startStream(headers: .eventStream)
            DispatchQueue.global().async {
                var index = 0
                while !responder.isCancelled {
                    responder.writeEvent(#"{"index":\#(index)}"#)
                    index += 1
                    usleep(10_000)
                }
            }
        case "/delayed":
            log.handlerStarted.signal()
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) {
                responder.respond(status: 200, body: "finished in time")
            }
        default:
            responder.respond(status: 404, body: "")
        }
    }
}

@Suite(.serialized) struct StreamingTests {
    @Test func sseEventsArriveInOrderOneChunkPerEvent() throws {
        let log = ProducerLog()
        try withServer(handler: StreamingHandler(log: log)) { _, port in
            let client = try TestClient(port: port)
            client.send(request("GET", "/sse?n=50"))
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.headers[first: "Content-Type"] == "text/event-stream")
            #expect(response.headers[first: "Cache-Control"] == "no-cache")
            #expect(response.headers[first: "Transfer-Encoding"] == "chunked")
            #expect(response.chunks.count == 51)
            let events = response.text.split(separator: "\n\n", omittingEmptySubsequences: false)
            #expect(events.count == 52)  // 51 events and the empty rest after the last separator
            #expect(events[0].hasPrefix(#"data: {"index":0,"#))
            #expect(events[49].hasPrefix(#"data: {"index":49,"#))
            #expect(events[50] == "data: [DONE]")
            // The connection stays usable after the stream.
            client.send(request("GET", "/sse?n=1"))
            #expect(try client.readResponse().chunks.count == 2)
        }
    }

    @Test func slowReaderPushesBackOnTheProducer() throws {
        let log = ProducerLog()
        try withServer({ $0.outputHighWatermark = 16 * 1024; $0.outputLowWatermark = 4 * 1024 }, handler: StreamingHandler(log: log)) { _, port in
            let client = try TestClient(port: port)
            var small: Int32 = 64 * 1024  // fixed (no autotuning); tiny values cause silly-window stalls
            setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            let eventCount = 30_000  // ~3 MB: far more than socket buffers plus the watermark
            client.send(request("GET", "/sse?n=\(eventCount)"))
            usleep(300_000)  // let the producer run into the full buffer before reading anything
            let response = try client.readResponse()
            let events = response.text.split(separator: "\n\n")
            #expect(events.count == eventCount + 1)
            #expect(events[eventCount - 1].hasPrefix(#"data: {"index":\#(eventCount - 1),"#))
            #expect(log.finished.wait(timeout: .now() + .seconds(10)) == .success)
            #expect(log.backPressureCount.load(ordering: .relaxed) > 0, "the producer was never told to wait")
        }
    }

    @Test func clientDisconnectMidStreamCancelsTheHandler() throws {
        let log = ProducerLog()
        try withServer(handler: StreamingHandler(log: log)) { server, port in
            do {
                let client = try TestClient(port: port)
                client.send(request("GET", "/stream-forever"))
                let head = try client.readHead()
                #expect(head.status == 200)
                _ = try client.readChunk()
            }  // the client closes here
            #expect(log.cancelled.wait(timeout: .now() + .seconds(10)) == .success)
        }
    }

    @Test func clientDisconnectWhileWaitingForTheAnswerCancelsTheHandler() throws {
        let log = ProducerLog()
        try withServer(handler: StreamingHandler(log: log)) { _, port in
            do {
                let client = try TestClient(port: port)
                client.send(request("POST", "/hold", body: "{}"))
                #expect(log.handlerStarted.wait(timeout: .now() + .seconds(10)) == .success)
            }
            #expect(log.cancelled.wait(timeout: .now() + .seconds(10)) == .success)
        }
    }

    @Test func gracefulShutdownLetsTheRequestInProgressFinish() throws {
        let log = ProducerLog()
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), handler: StreamingHandler(log: log))
        try server.start()
        let port = try #require(server.localPort)
        let idle = try TestClient(port: port)
        let client = try TestClient(port: port)
        client.send(request("GET", "/delayed"))
        #expect(log.handlerStarted.wait(timeout: .now() + .seconds(10)) == .success)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            server.shutdown(deadline: .now() + .seconds(10))
            done.signal()
        }
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "finished in time")
        #expect(response.headers[first: "Connection"] == "close")
        #expect(try idle.waitForClose())
        #expect(done.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(server.connectionCount == 0)
        #expect(throws: TestClientError.self) { _ = try TestClient(port: port) }
    }

    @Test func shutdownDeadlineCancelsRequestsThatDoNotFinish() throws {
        let log = ProducerLog()
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), handler: StreamingHandler(log: log))
        try server.start()
        let client = try TestClient(port: try #require(server.localPort))
        client.send(request("GET", "/hold"))
        #expect(log.handlerStarted.wait(timeout: .now() + .seconds(10)) == .success)
        server.shutdown(deadline: .now() + .milliseconds(200))
        #expect(log.cancelled.wait(timeout: .now()) == .success)
        #expect(try client.waitForClose())
    }
}
