import JSON

private import CCurlShim

/// libcurl's process-wide initialisation, done once before the first handle.
enum CurlGlobal {
    static let initialized: Bool = lb_global_init() == 0
}

/// Blocking HTTP for the few non-streamed calls (`/v1/models`, `/tokenize`, `/detokenize`, `/metrics`).
/// Not thread-safe: one client per thread.
public final class SimpleHTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    private let easy: UnsafeMutableRawPointer
    private let headers: [String]
    private let timeoutMs: Int
    private final class Sink { var bytes: [UInt8] = [] }

    /// `headers` are full lines (`"Authorization: Bearer …"`), sent with every call.
    public init(headers: [String], timeoutSeconds: Double = 60) throws {
        guard CurlGlobal.initialized, let easy = lb_easy_new() else { throw BenchError("libcurl failed to initialise") }
        self.easy = easy
        self.headers = headers
        self.timeoutMs = Int(timeoutSeconds * 1000)
    }

    deinit { lb_easy_free(easy) }

    /// GET when `body` is nil, otherwise POST with `Content-Type: application/json`.
    public func send(url: String, body: String? = nil) throws -> Response {
        let sink = Sink()
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var lines = headers
        if body != nil { lines.append("Content-Type: application/json") }
        let code = withCStrings(lines) { headerPointers in
            let bodyChars = Array((body ?? "").utf8CString)  // NUL-terminated
            let prepareCode: Int32 = bodyChars.withUnsafeBufferPointer { chars in
                lb_easy_prepare(
                    easy, url, body == nil ? nil : chars.baseAddress, bodyChars.count - 1,
                    headerPointers.baseAddress, headerPointers.count, Self.collectWrite, context, timeoutMs,
                    min(timeoutMs, 10_000))
            }
            guard prepareCode == 0 else { return prepareCode }
            return lb_easy_perform(easy)
        }
        guard code == 0 else {
            throw BenchError("\(url): \(String(cString: lb_strerror(code)))")
        }
        return Response(status: lb_easy_status(easy), body: sink.bytes)
    }

    /// GET or POST returning parsed JSON; non-2xx statuses become errors naming the route.
    public func json(url: String, body: JSONValue? = nil) throws -> JSONValue {
        let response = try send(url: url, body: body?.compactJSON())
        guard (200..<300).contains(response.status) else {
            throw BenchError("\(url): HTTP \(response.status): \(String(response.text.prefix(300)))")
        }
        return try JSONParser.parse(response.body)
    }

    private static let collectWrite: lb_write_fn = { data, size, count, context in
        guard let context, let data else { return 0 }
        let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
        let byteCount = size * count
        data.withMemoryRebound(to: UInt8.self, capacity: byteCount) { bytes in
            sink.bytes.append(contentsOf: UnsafeBufferPointer(start: bytes, count: byteCount))
        }
        return byteCount
    }
}

/// Calls `body` with C strings for `strings`, valid during the call.
func withCStrings<R>(_ strings: [String], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> R) -> R {
    var storage: [[CChar]] = strings.map { Array($0.utf8CString) }
    var pointers: [UnsafePointer<CChar>?] = []
    pointers.reserveCapacity(storage.count)
    return storage.withUnsafeMutableBufferPointer { arrays in
        func recurse(_ index: Int) -> R {
            if index == arrays.count { return pointers.withUnsafeBufferPointer { body($0) } }
            return arrays[index].withUnsafeBufferPointer { chars in
                pointers.append(chars.baseAddress)
                return recurse(index + 1)
            }
        }
        return recurse(0)
    }
}
