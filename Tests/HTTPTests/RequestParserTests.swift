import Testing

@testable import HTTP

/// Feeds `input` in one piece, byte by byte and in 7-byte slices; all three must give the same events.
private func parse(_ input: String, limits: HTTPParserLimits = HTTPParserLimits()) -> [String] {
    func run(sliceSize: Int) -> [String] {
        var parser = RequestParser(limits: limits)
        var events: [String] = []
        let bytes = Array(input.utf8)
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + sliceSize)
            parser.feed(Array(bytes[offset..<end]))
            offset = end
            while let event = parser.next() { events.append(describe(event)) }
        }
        return events
    }
    let whole = run(sliceSize: Int.max / 2)
    #expect(run(sliceSize: 1) == whole, "byte-by-byte differs")
    #expect(run(sliceSize: 7) == whole, "7-byte slices differ")
    return whole
}

private func describe(_ event: RequestParserEvent) -> String {
    switch event {
    case .sendContinue: return "continue"
    case .error(let error): return "error \(error.status)"
    case .request(let request):
        let headers = request.headers.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
        return "\(request.method) \(request.target) \(request.version) ka=\(request.keepAlive) [\(headers)] "
            + String(decoding: request.body, as: UTF8.self)
    }
}

@Suite struct RequestParserTests {
    @Test func simpleGet() {
        #expect(parse("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A:  v  \r\n\r\n") == [
            "GET /a?b=1 HTTP/1.1 ka=true [Host=x,X-A=v] "
        ])
    }

    @Test func pipelinedRequestsComeOutInOrder() {
        let input = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        #expect(parse(input) == [
            "GET /1 HTTP/1.1 ka=true [Host=x] ",
            "POST /2 HTTP/1.1 ka=true [Host=x,Content-Length=3] abc",
            "GET /3 HTTP/1.1 ka=false [Host=x,Connection=close] ",
        ])
    }

    @Test func keepAliveRules() {
        #expect(parse("GET / HTTP/1.0\r\n\r\n") == ["GET / HTTP/1.0 ka=false [] "])
        #expect(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") == [
            "GET / HTTP/1.0 ka=true [Connection=Keep-Alive] "
        ])
        #expect(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n") == [
            "GET / HTTP/1.1 ka=false [Host=x,Connection=foo, close] "
        ])
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() {
        let input = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer-A: 1\r\n\r\n"
        #expect(parse(input) == [
            "POST /c HTTP/1.1 ka=true [Host=x,Transfer-Encoding=chunked] helloabcdefghijklmnopqrstuvwxyz"
        ])
    }

    @Test func expectContinue() {
        let input = "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"
        #expect(parse(input) == ["continue", "POST / HTTP/1.1 ka=true [Host=x,Expect=100-continue,Content-Length=2] ok"])
        #expect(parse("POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nok") == ["error 417"])
    }

    @Test func expectContinueOverTheBodyCapGets413NotContinue() {
        let limits = HTTPParserLimits(maxBodySize: 10)
        #expect(parse("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n", limits: limits) == ["error 413"])
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "obs-fold"),
        ("GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", "space in name"),
        ("GET / HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n", "space before colon"),
        ("GET / HTTP/1.1\r\nHost: x\r\nA: b\u{1}c\r\n\r\n", "control char"),
        ("GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n", "bare CR"),
        ("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", "no colon"),
        ("GET / HTTP/1.1\r\n\r\n", "no Host"),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "two Hosts"),
        ("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", "bad method"),
        ("GET /\u{7F} HTTP/1.1\r\nHost: x\r\n\r\n", "bad target"),
        ("GET x HTTP/1.1\r\nHost: x\r\n\r\n", "target form"),
        ("GET / HTTX/1.1\r\nHost: x\r\n\r\n", "bad version"),
        ("GET /\r\n\r\n", "HTTP/0.9"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "negative length"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "duplicate length"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nx", "length list"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", "huge length"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", "hex length"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "CL and TE"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "chunked not last"),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "TE in 1.0"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "chunk overrun"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n", "chunk size overflow"),
    ])
    func malformedRequestsGet400(input: String, reason: String) {
        #expect(parse(input) == ["error 400"], "\(reason)")
    }

    @Test func unsupportedVersionAndCoding() {
        #expect(parse("GET / HTTP/2.0\r\nHost: x\r\n\r\n") == ["error 505"])
        #expect(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == ["error 501"])
    }

    @Test func headerLimitsGive431() {
        let limits = HTTPParserLimits(maxHeaderSize: 200, maxHeaderCount: 3)
        let many = "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        #expect(parse(many, limits: limits) == ["error 431"])
        let long = "GET / HTTP/1.1\r\nHost: x\r\nA: " + String(repeating: "v", count: 300) + "\r\n\r\n"
        #expect(parse(long, limits: limits) == ["error 431"])
        // An unterminated header line is cut off at the limit too (no unbounded buffering).
        var parser = RequestParser(limits: limits)
        parser.feed(Array(("GET / HTTP/1.1\r\nA: " + String(repeating: "v", count: 1000)).utf8))
        #expect(parser.next().map(describe) == "error 431")
    }

    @Test func targetLimitGives414() {
        let limits = HTTPParserLimits(maxTargetSize: 16)
        #expect(parse("GET /" + String(repeating: "a", count: 16) + " HTTP/1.1\r\nHost: x\r\n\r\n", limits: limits) == ["error 414"])
        #expect(parse("GET /" + String(repeating: "a", count: 200) + " HTTP/1.1\r\nHost: x\r\n\r\n", limits: limits) == ["error 414"])
    }

    @Test func bodyLimitGives413() {
        let limits = HTTPParserLimits(maxBodySize: 10)
        #expect(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", limits: limits) == ["error 413"])
        #expect(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits).count == 1)
        let chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n"
        #expect(parse(chunked, limits: limits) == ["error 413"])
    }

    @Test func leadingEmptyLinesAndBareLFAreAccepted() {
        #expect(parse("\r\n\nGET / HTTP/1.1\nHost: x\n\n") == ["GET / HTTP/1.1 ka=true [Host=x] "])
    }

    @Test func parserStaysFailedAfterAnError() {
        var parser = RequestParser()
        parser.feed(Array("BAD\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(parser.next().map(describe) == "error 400")
        #expect(parser.next() == nil)
    }

    @Test func targetSplitsIntoPathAndQuery() {
        #expect(splitTarget("/v1/models?a=b&c").path == "/v1/models")
        #expect(splitTarget("/v1/models?a=b&c").query == "a=b&c")
        #expect(splitTarget("/x").query == nil)
        #expect(splitTarget("http://host:80/p?q").path == "/p")
        #expect(splitTarget("http://host").path == "/")
    }

    @Test func headersLookupIsCaseInsensitive() {
        var headers: HTTPHeaders = ["Content-Type": "a", "X-Multi": "1"]
        headers.add(name: "x-multi", value: "2")
        #expect(headers[first: "content-type"] == "a")
        #expect(headers["X-MULTI"] == ["1", "2"])
        headers.replaceOrAdd(name: "X-multi", value: "3")
        #expect(headers["x-multi"] == ["3"])
    }

    /// `requestTarget` names the request at fault, so the API layer can answer in the shape of the route's API.
    @Test func requestTargetOfAFailedRequest() {
        func target(_ input: String, limits: HTTPParserLimits = HTTPParserLimits()) -> (String?, String?) {
            var parser = RequestParser(limits: limits)
            parser.feed(Array(input.utf8))
            var last: String?
            while let event = parser.next() { last = describe(event) }
            return (last, parser.requestTarget)
        }
        // Failed in the headers or on the body size: the parsed request line's target.
        #expect(target("POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n") == ("error 400", "/v1/messages?beta=true"))
        var small = HTTPParserLimits()
        small.maxBodySize = 10
        #expect(target("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", limits: small) == ("error 413", "/v1/messages"))
        // A request line over the limit: the start of its target (cut at 1,024 bytes).
        let long = "/v1/messages?q=" + String(repeating: "a", count: 9000)
        let (event, cut) = target("GET \(long) HTTP/1.1\r\n")
        #expect(event == "error 414")
        #expect(cut == String(long.prefix(1024)))
        // A malformed request line whose target can still be read; one without a target.
        #expect(target("GET /v1/messages HTTP/2.0\r\n") == ("error 505", "/v1/messages"))
        #expect(target("GARBAGE\r\n") == ("error 400", nil))
        // Between requests, and after a complete one: none.
        #expect(target("GET /a HTTP/1.1\r\nHost: x\r\n\r\n").1 == nil)
        #expect(target("GET /a HTTP/1.1\r\nHost: x\r\n").1 == "/a")
    }

    @Test func dateFormat() {
        #expect(HTTPDate.format(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}
