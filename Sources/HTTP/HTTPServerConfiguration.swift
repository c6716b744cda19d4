/// Limits the request parser enforces. Every limit answers with a status and closes the connection.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Request line plus header section (and chunked trailers), in bytes. Over it: 431 (`headers_too_large`).
    /// Default: 65,536 (64 KiB).
    public var maxHeaderSize: Int = 64 * 1024
    /// Number of header fields (trailer fields count too). Over it: 431. Default: 100.
    public var maxHeaderCount: Int = 100
    /// Decoded body bytes. Decided from `Content-Length` before any body byte is read; for chunked bodies as soon as
    /// the running total passes it. Over it: 413 (`request_too_large`). Default: 8,388,608 (8 MiB).
    public var maxBodySize: Int = 8 * 1024 * 1024
    /// Request target (URI) length in bytes. Over it: 414. Default: 8,192.
    public var maxTargetSize: Int = 8 * 1024

    public init(maxHeaderSize: Int = 64 * 1024, maxHeaderCount: Int = 100, maxBodySize: Int = 8 * 1024 * 1024,
                maxTargetSize: Int = 8 * 1024) {
        self.maxHeaderSize = maxHeaderSize
        self.maxHeaderCount = maxHeaderCount
        self.maxBodySize = maxBodySize
        self.maxTargetSize = maxTargetSize
    }
}

/// Everything `HTTPServer` needs to listen and serve. All durations are in seconds.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind: an IPv4 or IPv6 literal or a host name. `::` listens dual-stack (IPv4 and IPv6),
    /// `0.0.0.0` on all IPv4 interfaces. Default: `127.0.0.1`.
    public var host: String = "127.0.0.1"
    /// TCP port; 0 picks a free port (read it back from `HTTPServer.localPort`). Default: 8000.
    public var port: Int = 8000
    /// `listen(2)` backlog. Default: 1024.
    public var backlog: Int32 = 1024
    /// Parser limits (header size and count, body size, target length).
    public var limits = HTTPParserLimits()
    /// Open connections at most; a connection over the limit gets `503` and is closed. Default: 1,024.
    public var maxConnectionCount: Int = 1024
    /// Total time allowed to receive a request's line and headers, counted from its first byte (or from the accept for
    /// the first request), and between two reads of a body. Not reset per byte, so slowloris clients are cut off.
    /// Expiry: `408` and close. Default: 30 s.
    public var headerTimeout: Double = 30
    /// Time an idle keep-alive connection (no request in progress) stays open. Default: 60 s.
    public var idleTimeout: Double = 60
    /// Bytes queued for a response above which `HTTPResponder.write` reports back-pressure (returns false).
    /// Default: 256 KiB.
    public var outputHighWatermark: Int = 256 * 1024
    /// Queued bytes below which waiting producers are resumed (`HTTPResponder.onWritable`). Default: 64 KiB.
    public var outputLowWatermark: Int = 64 * 1024
    /// Unparsed input (pipelined requests) buffered while a request is being handled before the server stops
    /// reading from the socket. Default: 1 MiB.
    public var maxPipelinedInputSize: Int = 1024 * 1024
    /// PEM certificate chain; with `tlsKeyPath`, the server speaks HTTPS (TLS 1.2+). Default: nil (plain HTTP).
    public var tlsCertificatePath: String? = nil
    /// PEM private key matching `tlsCertificatePath`.
    public var tlsKeyPath: String? = nil
    /// Renders the body of responses the HTTP layer generates itself (400, 408, 413, 414, 417, 431, 501, 503, 505).
    /// The API layer supplies its own error shape here, so the shape is defined once, where the API is.
    /// Default: `HTTPErrorBody.plainText` (the message as text).
    public var errorBody: @Sendable (HTTPErrorInfo) -> HTTPErrorBody = HTTPErrorBody.plainText
    /// Value of the `Server` header, or nil for none. Default: `LingServe`.
    public var serverName: String? = "LingServe"

    public init(host: String = "127.0.0.1", port: Int = 8000) {
        self.host = host
        self.port = port
    }
}

/// What the HTTP layer wants to say in an error response it generates without calling the handler.
public struct HTTPErrorInfo: Sendable, Equatable {
    public var status: Int
    /// Human-readable message naming the limit or the malformed part, e.g. "Content-Length 9000000 exceeds …".
    public var message: String
    /// Error class for the API's error body, e.g. `invalid_request_error`, `service_unavailable_error`.
    public var type: String
    /// Machine-readable reason, e.g. `request_too_large`, `headers_too_large`, `invalid_request`, `request_timeout`.
    public var code: String
    /// The request target (path and query) of the request at fault, when its request line was read (or, for a
    /// request line over a limit, its start): lets a renderer answer in the error shape of the API the path belongs
    /// to. Nil when unknown (over-capacity 503, a timeout between requests, a line without a target).
    public var target: String?

    public init(status: Int, message: String, type: String, code: String, target: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.target = target
    }
}

/// The body of an error response the HTTP layer generates, as `HTTPServerConfiguration.errorBody` renders it.
public struct HTTPErrorBody: Sendable, Equatable {
    /// The `Content-Type` header value, e.g. `application/json`.
    public var contentType: String
    public var bytes: [UInt8]

    public init(contentType: String, bytes: [UInt8]) {
        self.contentType = contentType
        self.bytes = bytes
    }

    /// The message and a newline as `text/plain`: the default for servers without an API error shape.
    @Sendable public static func plainText(_ info: HTTPErrorInfo) -> HTTPErrorBody {
        HTTPErrorBody(contentType: "text/plain; charset=utf-8", bytes: Array((info.message + "\n").utf8))
    }
}
