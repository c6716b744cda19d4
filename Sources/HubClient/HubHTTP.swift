import Foundation
private import CCurlShim

/// One blocking libcurl handle for Hub requests (metadata, HEAD, ranged GET). Not thread-safe: one per worker.
final class HubHTTP {
    /// The status line and headers of one response (names lowercased).
    struct Response {
        var status = 0
        var headers: [String: String] = [:]
        func header(_ name: String) -> String? { headers[name.lowercased()] }
        var isRedirect: Bool { (300..<400).contains(status) && header("location") != nil }
    }

    enum Outcome {
        /// Every response of the exchange in order (redirects first) and the last one's body when it was collected.
        case completed(responses: [Response], body: [UInt8])
        case failed(message: String, aborted: Bool, responses: [Response])
    }

    /// Receives the final response's body; returning false aborts the transfer.
    typealias BodySink = (_ response: Response, _ bytes: UnsafeRawBufferPointer) -> Bool

    private let easy: UnsafeMutableRawPointer
    private let baseHeaders: [String]
    private let tokenHeader: String?

    private final class Exchange {
        var responses: [Response] = []
        var body: [UInt8] = []
        var sink: BodySink?
        var aborted = false
    }

    static let initialized: Bool = lb_global_init() == 0

    init(token: String?, userAgent: String) throws(HubError) {
        guard Self.initialized, let easy = lb_easy_new() else {
            throw .transfer(url: "", message: "libcurl failed to initialise", partialKept: false)
        }
        self.easy = easy
        baseHeaders = ["User-Agent: \(userAgent)"]
        tokenHeader = token.map { "Authorization: Bearer \($0)" }
    }

    deinit { lb_easy_free(easy) }

    /// One exchange. Without `sink` the final body is collected (metadata, error texts); with it every body byte
    /// of the final response goes there. The token goes with `authorize` only (requests to the Hub itself, not to
    /// the CDN a file was redirected to, which gets a signed URL instead); libcurl also drops a custom Authorization
    /// header when it follows a redirect to another host.
    func perform(url: String, head: Bool = false, followRedirects: Bool, resumeFrom: Int64 = 0, authorize: Bool = true,
                 extraHeaders: [String] = [], sink: BodySink? = nil) -> Outcome {
        let exchange = Exchange()
        exchange.sink = sink
        let context = Unmanaged.passRetained(exchange)
        defer { context.release() }
        let pointer = context.toOpaque()
        let lines = baseHeaders + (authorize ? tokenHeader.map { [$0] } ?? [] : []) + ["Accept-Encoding: identity"] + extraHeaders
        let code: Int32 = hubWithCStrings(lines) { headerPointers in
            let prepared = lb_easy_prepare_download(
                easy, url, headerPointers.baseAddress, headerPointers.count, Self.bodyCallback, pointer,
                Self.headerCallback, pointer, resumeFrom, followRedirects ? 1 : 0, head ? 1 : 0, 30_000, 1024, 60)
            guard prepared == 0 else { return prepared }
            return lb_easy_perform(easy)
        }
        guard code == 0 else {
            let message = String(cString: lb_strerror(code))
            return .failed(message: message, aborted: exchange.aborted || lb_is_write_error(code) != 0,
                           responses: exchange.responses)
        }
        return .completed(responses: exchange.responses, body: exchange.body)
    }

    private static let headerCallback: lb_write_fn = { data, size, count, context in
        guard let data, let context else { return 0 }
        let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
        let length = size * count
        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            var response = Response()
            let parts = line.split(separator: " ")
            if parts.count >= 2, let status = Int(parts[1]) { response.status = status }
            exchange.responses.append(response)
        } else if let colon = line.firstIndex(of: ":"), !exchange.responses.isEmpty {
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            exchange.responses[exchange.responses.count - 1].headers[name] = value
        }
        return length
    }

    private static let bodyCallback: lb_write_fn = { data, size, count, context in
        guard let data, let context else { return 0 }
        let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
        let length = size * count
        let bytes = UnsafeRawBufferPointer(start: data, count: length)
        let response = exchange.responses.last ?? Response()
        // Bodies of error statuses are collected for the message whatever the sink.
        if let sink = exchange.sink, (200..<300).contains(response.status) {
            guard sink(response, bytes) else {
                exchange.aborted = true
                return 0
            }
        } else if exchange.body.count < 1 << 24 {
            exchange.body.append(contentsOf: bytes)
        }
        return length
    }
}

/// Calls `body` with C strings for `strings`, valid during the call.
func hubWithCStrings<R>(_ strings: [String], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> R) -> R {
    let storage: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { storage.forEach { free($0) } }
    let pointers = storage.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0) }
}
