// Socket-level test client shared by the HTTP and API server test suites.
import Dispatch
import Glibc

import HTTP

public struct TestClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A parsed response as the test client saw it.
public struct TestResponse {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
    /// The chunk payloads when the body was chunked (framing checked), else empty.
    public var chunks: [[UInt8]] = []
}

/// A blocking TCP client with a receive timeout, so a server bug fails the test instead of hanging it.
public final class TestClient {
    public let fd: Int32
    private var buffer: [UInt8] = []  // unread bytes are buffer[readIndex...]
    private var readIndex = 0
    private var scratch = [UInt8](repeating: 0, count: 65536)

    public init(host: String = "127.0.0.1", port: Int, receiveTimeout: Int = 10) throws {
        let family = host.contains(":") ? AF_INET6 : AF_INET
        fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError("socket failed") }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let result: Int32
        if family == AF_INET {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            inet_pton(AF_INET, host, &address.sin_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        } else {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = UInt16(port).bigEndian
            inet_pton(AF_INET6, host, &address.sin6_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        if result != 0 {
            Glibc.close(fd)
            throw TestClientError("connect to \(host):\(port) failed: errno \(errno)")
        }
    }

    deinit { Glibc.close(fd) }

    /// Sends everything (returns false if the peer reset the connection).
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Sends one byte per `send` call.
    public func sendByteByByte(_ text: String) {
        for byte in text.utf8 { send([byte]) }
    }

    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Reads more bytes; returns false on EOF, throws on timeout or error.
    private func fill() throws -> Bool {
        if readIndex > 0 {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
        let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count == 0 { return false }
        if count < 0 {
            if errno == ECONNRESET { return false }
            throw TestClientError("recv failed: errno \(errno) (timeout?)")
        }
        buffer.append(contentsOf: scratch[0..<count])
        return true
    }

    private func readLine() throws -> String {
        while true {
            if let index = buffer[readIndex...].firstIndex(of: 0x0A) {
                var line = Array(buffer[readIndex..<index])
                readIndex = index + 1
                if line.last == 0x0D { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if try !fill() { throw TestClientError("EOF inside a line") }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count - readIndex < count {
            if try !fill() { throw TestClientError("EOF inside a body (\(buffer.count - readIndex)/\(count))") }
        }
        let bytes = Array(buffer[readIndex..<readIndex + count])
        readIndex += count
        return bytes
    }

    /// Reads a response head only.
    public func readHead() throws -> (status: Int, headers: HTTPHeaders) {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw TestClientError("bad status line '\(statusLine)'")
        }
        var headers = HTTPHeaders()
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw TestClientError("bad header '\(line)'") }
            headers.add(name: String(line[..<colon]), value: String(trimmingOptionalWhitespace(line[line.index(after: colon)...])))
        }
        return (status, headers)
    }

    /// Reads one chunk of a chunked body; nil at the last chunk.
    public func readChunk() throws -> [UInt8]? {
        let sizeLine = try readLine()
        guard let size = Int(sizeLine, radix: 16) else { throw TestClientError("bad chunk size '\(sizeLine)'") }
        if size == 0 {
            let end = try readLine()
            if !end.isEmpty { throw TestClientError("trailer after last chunk") }
            return nil
        }
        let data = try readExactly(size)
        if try readLine() != "" { throw TestClientError("chunk not followed by CRLF") }
        return data
    }

    /// Reads a full response (Content-Length, chunked, or until close).
    public func readResponse(headRequest: Bool = false) throws -> TestResponse {
        var head = try readHead()
        while head.status == 100 { head = try readHead() }
        var response = TestResponse(status: head.status, headers: head.headers, body: [])
        if headRequest { return response }
        if let length = head.headers[first: "Content-Length"].flatMap({ Int($0) }) {
            response.body = try readExactly(length)
        } else if head.headers.containsToken(name: "Transfer-Encoding", token: "chunked") {
            while let chunk = try readChunk() {
                response.chunks.append(chunk)
                response.body += chunk
            }
        } else {
            while try fill() {}
            response.body = Array(buffer[readIndex...])
            buffer = []
            readIndex = 0
        }
        return response
    }

    /// True when the server closed the connection (EOF or reset) before `timeout` seconds.
    public func waitForClose() throws -> Bool {
        while true {
            buffer.removeAll()
            readIndex = 0
            if try !fill() { return true }
        }
    }
}

/// Leading and trailing spaces and tabs removed (HTTP's optional whitespace around a field value).
private func trimmingOptionalWhitespace<S: StringProtocol>(_ text: S) -> Substring {
    var slice = Substring(text)
    while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
    while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
    return slice
}

/// Deterministic xorshift64* generator: a fuzz corpus is the same on every run.
public struct FuzzRandom {
    private var state: UInt64
    public init(seed: UInt64) { state = seed | 1 }
    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}
