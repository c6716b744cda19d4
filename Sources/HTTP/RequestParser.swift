/// Why the parser rejected a request. Each carries the status the server answers with (then it closes the
/// connection) and the OpenAI error `code`.
public struct HTTPParserError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 400, 413, 414, 417, 431, 501 or 505.
    public let status: Int
    /// Names the part at fault, e.g. "header field 'X Y' has an invalid name".
    public let message: String
    /// `invalid_request`, `request_too_large`, `headers_too_large`, `uri_too_long`, `expectation_failed`,
    /// `not_implemented` or `http_version_not_supported`.
    public let code: String
    public var description: String { "\(status) \(code): \(message)" }

    static func bad(_ message: String) -> HTTPParserError {
        HTTPParserError(status: 400, message: message, code: "invalid_request")
    }
}

/// A request head and body as the parser produced them (the connection adds the peer address).
struct ParsedRequest: Sendable {
    var method: String
    var target: String
    var version: HTTPVersion
    var headers: HTTPHeaders
    var body: [UInt8]  // [bodySize]
    var keepAlive: Bool
}

/// What the connection shell must do after feeding bytes.
enum RequestParserEvent: Sendable {
    /// The client sent `Expect: 100-continue` and the body is acceptable: write `HTTP/1.1 100 Continue`.
    case sendContinue
    /// A complete request; the parser is ready for the next one (pipelined bytes stay buffered).
    case request(ParsedRequest)
    /// The input is malformed or over a limit: answer `error.status` and close. The parser stays failed.
    case error(HTTPParserError)
}

/// Incremental HTTP/1.1 request parser (RFC 9112): a value-type state machine fed arbitrary byte slices, one byte
/// at a time or many requests at once. It performs no I/O; `next()` returns what the shell must do.
///
/// Strictness (request smuggling defence): obs-fold, whitespace before the colon, control characters, both
/// `Content-Length` and `Transfer-Encoding`, duplicate `Content-Length`, codings other than `chunked` and a missing or
/// repeated `Host` in HTTP/1.1 are rejected. A single LF is accepted as a line end (RFC 9112 §2.2); a bare CR is not.
struct RequestParser {
    private enum State {
        case requestLine
        case headers
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed
    }

    private struct Head {
        var method = ""
        var target = ""
        var version = HTTPVersion.http1_1
        var headers = HTTPHeaders()
        var keepAlive = true
    }

    let limits: HTTPParserLimits
    private var state = State.requestLine
    private var head = Head()
    private var body: [UInt8] = []  // [bodySize so far]
    private var buffer: [UInt8] = []  // unconsumed input is buffer[readIndex...]
    private var readIndex = 0
    /// Where the search for the next LF resumes (avoids rescanning when fed byte by byte).
    private var scanIndex = 0
    private var headerSize = 0
    private var headerCount = 0

    init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
        buffer.reserveCapacity(4096)
    }

    /// Unparsed input bytes held by the parser.
    var bufferedByteCount: Int { buffer.count - readIndex }

    /// True when no byte of a next request has been received (used to choose idle vs header timeout).
    var isBetweenRequests: Bool {
        if case .requestLine = state { return bufferedByteCount == 0 && headerSize == 0 }
        return false
    }

    /// True while the body of a request is being received.
    var isReadingBody: Bool {
        switch state {
        case .body, .chunkSize, .chunkData, .chunkDataEnd, .trailers: return true
        default: return false
        }
    }

    /// The target of the request being received or that failed: the parsed request line's, or for a failure in the
    /// request line (too long, malformed), the origin-form target after its method (at most 1,024 bytes). Nil
    /// between requests and when no target was seen.
    var requestTarget: String? {
        switch state {
        case .failed: return failedTarget
        case .requestLine: return nil
        default: return head.target.isEmpty ? nil : head.target
        }
    }
    private var failedTarget: String?

    /// Appends received bytes; call `next()` until it returns nil.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if readIndex > 0 && (readIndex == buffer.count || readIndex >= 64 * 1024) {
            buffer.removeSubrange(0..<readIndex)
            scanIndex -= readIndex
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// The next event, or nil when more input is needed (or after a failure).
    mutating func next() -> RequestParserEvent? {
        while true {
            switch state {
            case .failed:
                return nil
            case .requestLine:
                let lineLimit = min(limits.maxHeaderSize - headerSize, limits.maxTargetSize + 64)
                switch nextLine(limit: lineLimit) {
                case .incomplete: return nil
                case .tooLong:
                    if lineLimit < limits.maxTargetSize + 64 { return fail(Self.headersTooLarge(limits)) }
                    return fail(HTTPParserError(status: 414, message: "request line exceeds \(limits.maxTargetSize + 64) bytes (request target limit \(limits.maxTargetSize))", code: "uri_too_long"))
                case .line(let range):
                    if range.isEmpty { continue }  // RFC 9112 §2.2: ignore empty lines before the request line
                    if let error = parseRequestLine(range) {
                        return fail(error, target: partialTarget(in: range))
                    }
                    state = .headers
                }
            case .headers, .trailers:
                let isTrailer: Bool
                if case .trailers = state { isTrailer = true } else { isTrailer = false }
                switch nextLine(limit: limits.maxHeaderSize - headerSize) {
                case .incomplete: return nil
                case .tooLong: return fail(Self.headersTooLarge(limits))
                case .line(let range):
                    if range.isEmpty {
                        if isTrailer { return completeRequest() }
                        switch headersComplete() {
                        case .failure(let error): return fail(error)
                        case .success(let sendContinue):
                            if sendContinue { return .sendContinue }
                            continue
                        }
                    }
                    if let error = parseHeaderLine(range, keep: !isTrailer) { return fail(error) }
                }
            case .body(let remaining):
                if remaining == 0 { return completeRequest() }
                let available = buffer.count - readIndex
                if available == 0 { return nil }
                let take = min(available, remaining)
                body.append(contentsOf: buffer[readIndex..<readIndex + take])
                readIndex += take
                scanIndex = readIndex
                state = .body(remaining: remaining - take)
            case .chunkSize:
                switch nextLine(limit: 4096) {
                case .incomplete: return nil
                case .tooLong: return fail(.bad("chunk size line exceeds 4096 bytes"))
                case .line(let range):
                    switch parseChunkSize(range) {
                    case .failure(let error): return fail(error)
                    case .success(let size):
                        if size == 0 {
                            state = .trailers
                        } else if size > limits.maxBodySize - body.count {
                            return fail(Self.bodyTooLarge(limits, detail: "chunked body"))
                        } else {
                            state = .chunkData(remaining: size)
                        }
                    }
                }
            case .chunkData(let remaining):
                let available = buffer.count - readIndex
                if available == 0 { return nil }
                let take = min(available, remaining)
                body.append(contentsOf: buffer[readIndex..<readIndex + take])
                readIndex += take
                scanIndex = readIndex
                state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .chunkDataEnd:
                switch nextLine(limit: 2) {
                case .incomplete: return nil
                case .tooLong: return fail(.bad("chunk data is not followed by CRLF"))
                case .line(let range):
                    if !range.isEmpty { return fail(.bad("chunk data is not followed by CRLF")) }
                    state = .chunkSize
                }
            }
        }
    }

    // MARK: - lines

    private enum LineResult {
        case line(Range<Int>)  // without the line end
        case incomplete
        case tooLong
    }

    /// Consumes the next line if it is complete and (with its line end) at most `limit` bytes long. Header-section
    /// lines are added to `headerSize`.
    private mutating func nextLine(limit: Int) -> LineResult {
        let end = buffer.count
        var index = scanIndex
        while index < end && buffer[index] != 0x0A { index += 1 }
        if index == end {
            scanIndex = end
            return end - readIndex > limit ? .tooLong : .incomplete
        }
        let consumed = index + 1 - readIndex
        if consumed > limit { return .tooLong }
        var lineEnd = index
        if lineEnd > readIndex && buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
        let range = readIndex..<lineEnd
        switch state {
        case .requestLine, .headers, .trailers: headerSize += consumed
        default: break
        }
        readIndex = index + 1
        scanIndex = readIndex
        return .line(range)
    }

    // MARK: - request line and headers

    private mutating func parseRequestLine(_ range: Range<Int>) -> HTTPParserError? {
        guard let firstSpace = buffer[range].firstIndex(of: 0x20) else {
            return .bad("request line has no spaces")
        }
        guard let lastSpace = buffer[range].lastIndex(of: 0x20), lastSpace > firstSpace else {
            return .bad("request line has no HTTP version")
        }
        let methodRange = range.lowerBound..<firstSpace
        let targetRange = firstSpace + 1..<lastSpace
        let versionRange = lastSpace + 1..<range.upperBound
        if methodRange.isEmpty || !buffer[methodRange].allSatisfy(isTokenByte) {
            return .bad("request method is not a valid token")
        }
        if targetRange.isEmpty || !buffer[targetRange].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            return .bad("request target is empty or contains invalid characters")
        }
        if targetRange.count > limits.maxTargetSize {
            return HTTPParserError(status: 414, message: "request target is \(targetRange.count) bytes, limit \(limits.maxTargetSize)", code: "uri_too_long")
        }
        let version = buffer[versionRange]
        guard version.count == 8, version.starts(with: Array("HTTP/".utf8)),
            isDigit(version[versionRange.lowerBound + 5]), version[versionRange.lowerBound + 6] == 0x2E,
            isDigit(version[versionRange.lowerBound + 7])
        else { return .bad("request line has a malformed HTTP version") }
        let major = Int(version[versionRange.lowerBound + 5] - 0x30)
        let minor = Int(version[versionRange.lowerBound + 7] - 0x30)
        if major != 1 {
            return HTTPParserError(status: 505, message: "HTTP/\(major).\(minor) is not supported; use HTTP/1.1", code: "http_version_not_supported")
        }
        head = Head()
        head.method = String(decoding: buffer[methodRange], as: UTF8.self)
        head.target = String(decoding: buffer[targetRange], as: UTF8.self)
        head.version = minor == 0 ? .http1_0 : .http1_1
        let target = buffer[targetRange]
        let first = target[targetRange.lowerBound]
        if first != 0x2F && !(target.count == 1 && first == 0x2A) && head.method != "CONNECT"
            && !head.target.contains("://")
        {
            return .bad("request target '\(head.target.prefix(64))' is not in origin, absolute or asterisk form")
        }
        return nil
    }

    private mutating func parseHeaderLine(_ range: Range<Int>, keep: Bool) -> HTTPParserError? {
        let first = buffer[range.lowerBound]
        if first == 0x20 || first == 0x09 { return .bad("obsolete line folding in header section is not allowed") }
        guard let colon = buffer[range].firstIndex(of: 0x3A) else {
            return .bad("header line has no colon")
        }
        let nameRange = range.lowerBound..<colon
        if nameRange.isEmpty || !buffer[nameRange].allSatisfy(isTokenByte) {
            return .bad("header field name '\(String(decoding: buffer[nameRange].prefix(64), as: UTF8.self))' is invalid")
        }
        var valueStart = colon + 1
        var valueEnd = range.upperBound
        while valueStart < valueEnd && (buffer[valueStart] == 0x20 || buffer[valueStart] == 0x09) { valueStart += 1 }
        while valueEnd > valueStart && (buffer[valueEnd - 1] == 0x20 || buffer[valueEnd - 1] == 0x09) { valueEnd -= 1 }
        let name = String(decoding: buffer[nameRange], as: UTF8.self)
        for byte in buffer[valueStart..<valueEnd] where (byte < 0x20 && byte != 0x09) || byte == 0x7F {
            return .bad("header field '\(name)' contains a control character")
        }
        headerCount += 1
        if headerCount > limits.maxHeaderCount {
            return HTTPParserError(status: 431, message: "more than \(limits.maxHeaderCount) header fields", code: "headers_too_large")
        }
        if keep { head.headers.add(name: name, value: String(decoding: buffer[valueStart..<valueEnd], as: UTF8.self)) }
        return nil
    }

    /// Decides body framing, keep-alive and `Expect`; returns whether to send `100 Continue`.
    private mutating func headersComplete() -> Result<Bool, HTTPParserError> {
        let headers = head.headers
        let isHTTP11 = head.version == .http1_1
        let hosts = headers["Host"]
        if hosts.count > 1 { return .failure(.bad("more than one Host header")) }
        if isHTTP11 && hosts.isEmpty { return .failure(.bad("HTTP/1.1 request without a Host header")) }
        head.keepAlive = isHTTP11
            ? !headers.containsToken(name: "Connection", token: "close")
            : headers.containsToken(name: "Connection", token: "keep-alive")

        let transferEncodings = headers["Transfer-Encoding"]
        let contentLengths = headers["Content-Length"]
        var bodyExpected = false
        if !transferEncodings.isEmpty {
            if !contentLengths.isEmpty {
                return .failure(.bad("both Content-Length and Transfer-Encoding are present"))
            }
            if !isHTTP11 { return .failure(.bad("Transfer-Encoding in an HTTP/1.0 request")) }
            let codings = transferEncodings.flatMap { $0.split(separator: ",") }.map { trimOWS($0).lowercased() }
            guard codings.last == "chunked" else {
                return .failure(.bad("Transfer-Encoding must end with chunked, got '\(transferEncodings.joined(separator: ", ").prefix(64))'"))
            }
            if codings.count != 1 {
                return .failure(HTTPParserError(status: 501, message: "only Transfer-Encoding: chunked is supported", code: "not_implemented"))
            }
            state = .chunkSize
            bodyExpected = true
        } else if !contentLengths.isEmpty {
            if contentLengths.count > 1 { return .failure(.bad("more than one Content-Length header")) }
            let text = contentLengths[0].utf8
            guard !text.isEmpty, text.allSatisfy(isDigit) else {
                return .failure(.bad("Content-Length '\(contentLengths[0].prefix(32))' is not a non-negative integer"))
            }
            guard text.count <= 18, let length = Int(contentLengths[0]) else {
                return .failure(.bad("Content-Length '\(contentLengths[0].prefix(32))' is too large"))
            }
            if length > limits.maxBodySize {
                return .failure(Self.bodyTooLarge(limits, detail: "Content-Length \(length)"))
            }
            body.reserveCapacity(min(length, 64 * 1024))
            state = .body(remaining: length)
            bodyExpected = length > 0
        } else {
            state = .body(remaining: 0)
        }

        let expectations = headers["Expect"]
        if !expectations.isEmpty {
            guard expectations.count == 1, asciiCaseInsensitiveEquals(expectations[0], "100-continue") else {
                return .failure(HTTPParserError(status: 417, message: "unsupported Expect '\(expectations[0].prefix(64))'", code: "expectation_failed"))
            }
            return .success(isHTTP11 && bodyExpected)
        }
        return .success(false)
    }

    private func parseChunkSize(_ range: Range<Int>) -> Result<Int, HTTPParserError> {
        var index = range.lowerBound
        var size = 0
        var digitCount = 0
        while index < range.upperBound, let digit = hexValue(buffer[index]) {
            size = size << 4 | digit
            digitCount += 1
            index += 1
            if digitCount > 15 { return .failure(.bad("chunk size is too large")) }
        }
        if digitCount == 0 { return .failure(.bad("chunk size is not a hexadecimal number")) }
        while index < range.upperBound && (buffer[index] == 0x20 || buffer[index] == 0x09) { index += 1 }
        if index < range.upperBound {
            if buffer[index] != 0x3B { return .failure(.bad("chunk size line has trailing garbage")) }
            for byte in buffer[index..<range.upperBound] where (byte < 0x20 && byte != 0x09) || byte == 0x7F {
                return .failure(.bad("chunk extension contains a control character"))
            }
        }
        return .success(size)
    }

    // MARK: - completion

    private mutating func completeRequest() -> RequestParserEvent {
        let request = ParsedRequest(
            method: head.method, target: head.target, version: head.version, headers: head.headers, body: body,
            keepAlive: head.keepAlive)
        head = Head()
        body = []
        headerSize = 0
        headerCount = 0
        state = .requestLine
        return .request(request)
    }

    /// `target`: the failed request line's (when it was read whole); otherwise the parsed one's, or the start of the
    /// unfinished request line's.
    private mutating func fail(_ error: HTTPParserError, target: String?? = .none) -> RequestParserEvent {
        if let target {
            failedTarget = target
        } else if case .requestLine = state {
            failedTarget = partialTarget(in: readIndex..<buffer.count)
        } else {
            failedTarget = requestTarget
        }
        state = .failed
        buffer = []
        body = []
        readIndex = 0
        scanIndex = 0
        return .error(error)
    }

    /// The origin-form target after the method in `range` (a request line, whole or its start), cut at 1,024
    /// bytes; nil when there is no space in the first 64 KiB, or the target does not start with `/`.
    private func partialTarget(in range: Range<Int>) -> String? {
        let end = min(range.upperBound, range.lowerBound + 64 * 1024)
        guard let space = buffer[range.lowerBound..<end].firstIndex(of: 0x20), space + 1 < end, buffer[space + 1] == 0x2F
        else { return nil }
        var stop = space + 1
        while stop < end && stop - space <= 1024 && buffer[stop] > 0x20 && buffer[stop] < 0x7F { stop += 1 }
        return String(decoding: buffer[space + 1..<stop], as: UTF8.self)
    }

    static func headersTooLarge(_ limits: HTTPParserLimits) -> HTTPParserError {
        HTTPParserError(status: 431, message: "request line and headers exceed \(limits.maxHeaderSize) bytes", code: "headers_too_large")
    }

    static func bodyTooLarge(_ limits: HTTPParserLimits, detail: String) -> HTTPParserError {
        HTTPParserError(status: 413, message: "\(detail) exceeds the body limit of \(limits.maxBodySize) bytes", code: "request_too_large")
    }
}

@inline(__always) private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

@inline(__always) private func hexValue(_ byte: UInt8) -> Int? {
    switch byte {
    case 0x30...0x39: return Int(byte - 0x30)
    case 0x41...0x46: return Int(byte - 0x41 + 10)
    case 0x61...0x66: return Int(byte - 0x61 + 10)
    default: return nil
    }
}

/// RFC 9110 tchar: `!#$%&'*+-.^_`|~`, digits and letters.
@inline(__always) func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
    default: return false
    }
}
