import Dispatch
import Glibc
import Synchronization
import SocketTestSupport
import Testing

@testable import HTTP

@Suite(.serialized) struct ServerTests {
    @Test func keepAliveServesSeveralRequestsOnOneConnection() throws {
        try withServer(handler: EchoHandler()) { _, port in
            let client = try TestClient(port: port)
            for index in 0..<3 {
                client.send(request("POST", "/k?i=\(index)", body: "body\(index)"))
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.text == "POST /k i=\(index) 5:body\(index)")
                #expect(response.headers[first: "Connection"] == nil)
                #expect(response.headers[first: "Date"]?.hasSuffix(" GMT") == true)
            }
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        try withServer(handler: SlowFirstHandler()) { _, port in
            let client = try TestClient(port: port)
            // /slow answers from another thread after a delay: the later requests must still come after it.
            client.send(request("GET", "/slow") + request("POST", "/b", body: "xy") + request("GET", "/c"))
            #expect(try client.readResponse().text == "slow")
            #expect(try client.readResponse().text == "POST /b - 2:xy")
            #expect(try client.readResponse().text == "GET /c - 0:")
        }
    }

    @Test func chunkedRequestBody() throws {
        try withServer(handler: EchoHandler()) { _, port in
            let client = try TestClient(port: port)
            client.send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nT: v\r\n\r\n")
            #expect(try client.readResponse().text == "POST /c - 9:Wikipedia")
        }
    }

    @Test func byteByByteDelivery() throws {
        try withServer(handler: EchoHandler()) { _, port in
            let client = try TestClient(port: port)
            client.sendByteByByte(request("POST", "/drip?x", body: "dripped") + request("GET", "/next"))
            #expect(try client.readResponse().text == "POST /drip x 7:dripped")
            #expect(try client.readResponse().text == "GET /next - 0:")
        }
    }

    @Test func bodyOverTheCapGets413AndClose() throws {
        try withServer({ $0.limits.maxBodySize = 1000 }, handler: EchoHandler()) { _, port in
            let client = try TestClient(port: port)
            client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n" + String(repeating: "a", count: 1001))
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.headers[first: "Connection"] == "close")
            #expect(response.text.contains(#""code":"request_too_large""#))
            #expect(response.text.contains(#""type":"invalid_request_error","param":null"#))
            #expect(try client.waitForClose())

            let chunked = try TestClient(port: port)
            chunked.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in 0..<3 { chunked.send("200\r\n" + String(repeating: "b", count: 512) + "\r\n") }
            #expect(try chunked.readResponse().status == 413)
        }
    }

    @Test func headersOverTheCapGet431() throws {
        try withServer({ $0.limits.maxHeaderCount = 10 }, handler: EchoHandler()) { _, port in
            let client = try TestClient(port: port)
            client.send("GET / HTTP/1.1\r\nHost: x\r\n" + (0..<11).map { "H\($0): v\r\n" }.joined() + "\r\n")
            let response = try client.readResponse()
            #expect(response.status == 431)
            #expect(response.text.contains("headers_too_large"))

            let big = try TestClient(port: port)
            big.send("GET / HTTP/1.1\r\nHost: x\r\nA: " + String(repeating: "v", count: 70_000) + "\r\n\r\n")
            #expect(try big.readResponse().status == 431)
        }
    }

    @Test func slowlorisGets408EvenWhileBytesTrickleIn() throws {
        try withServer({ $0.headerTimeout = 0.4 }, handler: EchoHandler()) { _, port in
            let client = try TestClient(port: port)
            // One header byte every 50 ms: a per-byte timeout would never fire; the total one must.
            let trickle = Array(("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + String(repeating: "s", count: 200)).utf8)
            var sentCount = 0
            for byte in trickle {
                if !client.send([byte]) { break }
                sentCount += 1
                usleep(50_000)
                if sentCount > 40 { break }  // well past the 0.4 s budget
            }
            let response = try client.readResponse()
            #expect(response.status == 408)
            #expect(response.text.contains("request_timeout"))
        }
    }

    @Test func idleConnectionIsClosedAfterTheIdleTimeout() throws {
        try withServer({ $0.idleTimeout = 0.2 }, handler: EchoHandler()) { _, port in
            let client = try TestClient(port: port)
            client.send(request("GET", "/"))
            #expect(try client.readResponse().status == 200)
            #expect(try client.waitForClose())
        }
    }

    @Test func expectContinueGets100BeforeTheBody() throws {
        try withServer(handler: EchoHandler()) { _, port in
            let client = try TestClient(port: port)
            client.send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            let interim = try client.readHead()
            #expect(interim.status == 100)
            client.send("hello")
            #expect(try client.readResponse().text == "POST /e - 5:hello")
        }
    }

    @Test func badRequestGets400AndTheServerKeepsServing() throws {
        try withServer(handler: EchoHandler()) { _, port in
            let bad = try TestClient(port: port)
            bad.send("GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
            let response = try bad.readResponse()
            #expect(response.status == 400)
            #expect(response.headers[first: "Content-Type"] == "application/json")
            #expect(try bad.waitForClose())
            let good = try TestClient(port: port)
            good.send(request("GET", "/ok"))
            #expect(try good.readResponse().status == 200)
        }
    }

    @Test func headGetsHeadersOnly() throws {
        try withServer(handler: EchoHandler()) { _, port in
            let client = try TestClient(port: port)
            client.send(request("HEAD", "/h"))
            let head = try client.readResponse(headRequest: true)
            #expect(head.status == 200)
            #expect(head.headers[first: "Content-Length"] == "12")  // "HEAD /h - 0:"
            client.send(request("GET", "/after"))
            #expect(try client.readResponse().text == "GET /after - 0:")
        }
    }

    @Test func http10GetsCloseAndKeepAliveOnRequest() throws {
        try withServer(handler: EchoHandler()) { _, port in
            let client = try TestClient(port: port)
            client.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let first = try client.readResponse()
            #expect(first.headers[first: "Connection"] == "keep-alive")
            client.send("GET /b HTTP/1.0\r\n\r\n")
            let second = try client.readResponse()
            #expect(second.headers[first: "Connection"] == "close")
            #expect(try client.waitForClose())
        }
    }

    @Test func handlerConnectionCloseHeaderClosesAfterTheResponse() throws {
        let handler = HTTPClosureHandler { _, responder in
            responder.respond(status: 404, headers: ["Connection": "close"], body: [])
        }
        try withServer(handler: handler) { _, port in
            let client = try TestClient(port: port)
            client.send(request("GET", "/missing"))
            let response = try client.readResponse()
            #expect(response.status == 404)
            #expect(response.headers[first: "Content-Length"] == "0")
            #expect(response.headers["Connection"] == ["close"])
            #expect(try client.waitForClose())
        }
    }

    @Test func connectionLimitAnswers503() throws {
        try withServer({ $0.maxConnectionCount = 2 }, handler: EchoHandler()) { server, port in
            let first = try TestClient(port: port)
            let second = try TestClient(port: port)
            first.send(request("GET", "/1"))
            second.send(request("GET", "/2"))
            _ = try first.readResponse()
            _ = try second.readResponse()
            let third = try TestClient(port: port)
            let response = try third.readResponse()
            #expect(response.status == 503)
            #expect(server.connectionCount == 2)
        }
    }

    @Test func ipv6LoopbackWhenAvailable() throws {
        var configuration = HTTPServerConfiguration(host: "::1", port: 0)
        configuration.idleTimeout = 5
        let server = HTTPServer(configuration: configuration, handler: EchoHandler())
        do {
            try server.start()
        } catch {
            print("skipping IPv6 test: \(error)")
            return
        }
        defer { server.shutdown(deadline: .now() + .seconds(2)) }
        let client = try TestClient(host: "::1", port: try #require(server.localPort))
        client.send(request("GET", "/v6"))
        #expect(try client.readResponse().text == "GET /v6 - 0:")
    }

    @Test func dualStackListenerServesIPv4() throws {
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "::", port: 0), handler: EchoHandler())
        do {
            try server.start()
        } catch {
            print("skipping dual-stack test: \(error)")
            return
        }
        defer { server.shutdown(deadline: .now() + .seconds(2)) }
        let client = try TestClient(host: "127.0.0.1", port: try #require(server.localPort))
        client.send(request("GET", "/v4"))
        #expect(try client.readResponse().text == "GET /v4 - 0:")
    }
}

/// `/slow` answers from another thread after 100 ms; everything else echoes.
struct SlowFirstHandler: HTTPHandler {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        if request.path == "/slow" {
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) {
                responder.respond(status: 200, body: "slow")
            }
        } else {
            EchoHandler().handle(request, responder)
        }
    }
}
