import Glibc
import Synchronization

/// Serialises response heads and chunked framing into bytes. Pure functions; the connection owns the buffers.
enum ResponseEncoder {
    /// `HTTP/1.1 <status> <reason>\r\n<headers>\r\n`. `headers` must already hold the framing and connection fields.
    static func head(status: Int, headers: HTTPHeaders, into output: inout [UInt8]) {
        output.append(contentsOf: "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n".utf8)
        for field in headers {
            output.append(contentsOf: field.name.utf8)
            output.append(0x3A)
            output.append(0x20)
            // Header injection guard: CR and LF in handler-supplied values become spaces.
            for byte in field.value.utf8 { output.append(byte == 0x0D || byte == 0x0A ? 0x20 : byte) }
            output.append(0x0D)
            output.append(0x0A)
        }
        output.append(0x0D)
        output.append(0x0A)
    }

    /// One chunk of a chunked body: `<hex size>\r\n<bytes>\r\n`. Empty input writes nothing (an empty chunk would end
    /// the body).
    static func chunk(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        appendHex(bytes.count, into: &output)
        output.append(0x0D)
        output.append(0x0A)
        output.append(contentsOf: bytes)
        output.append(0x0D)
        output.append(0x0A)
    }

    /// The last chunk, no trailers.
    static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    private static func appendHex(_ value: Int, into output: inout [UInt8]) {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var shift = (Int.bitWidth - value.leadingZeroBitCount + 3) / 4 * 4 - 4
        if shift < 0 { shift = 0 }
        while shift >= 0 {
            output.append(digits[(value >> shift) & 0xF])
            shift -= 4
        }
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 499: return "Client Closed Request"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}

/// The `Date` header value (IMF-fixdate, RFC 9110 §5.6.7), formatted at most once per second process-wide.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((second: -1, text: ""))

    static func now() -> String {
        let second = time(nil)
        return cache.withLock { cached in
            if cached.second == second { return cached.text }
            let text = format(second)
            cached = (second: second, text: text)
            return text
        }
    }

    static func format(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
