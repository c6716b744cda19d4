private import COpenSSL
import Glibc

/// A server-side OpenSSL context loaded from a PEM certificate chain and key (TLS 1.2 minimum).
final class TLSContext: @unchecked Sendable {
    // NOTE: SSL_CTX is internally reference counted and safe to share between threads once configured.
    fileprivate let context: OpaquePointer

    init(certificatePath: String, keyPath: String) throws(HTTPServerError) {
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw HTTPServerError("SSL_CTX_new failed: \(tlsErrorText())")
        }
        self.context = context
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        // Partial writes and a moving write buffer: the connection retries from its own growing output array.
        _ = SSL_CTX_ctrl(
            context, SSL_CTRL_MODE, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), nil)
        if SSL_CTX_use_certificate_chain_file(context, certificatePath) != 1 {
            throw HTTPServerError("cannot load TLS certificate chain '\(certificatePath)': \(tlsErrorText())")
        }
        if SSL_CTX_use_PrivateKey_file(context, keyPath, SSL_FILETYPE_PEM) != 1 {
            throw HTTPServerError("cannot load TLS private key '\(keyPath)': \(tlsErrorText())")
        }
        if SSL_CTX_check_private_key(context) != 1 {
            throw HTTPServerError("TLS private key '\(keyPath)' does not match certificate '\(certificatePath)': \(tlsErrorText())")
        }
    }

    deinit { SSL_CTX_free(context) }

    /// A session in server (accept) state on `fd`; the handshake runs inside the first reads and writes.
    func makeSession(fd: Int32) throws(HTTPServerError) -> TLSSession {
        guard let ssl = SSL_new(context) else { throw HTTPServerError("SSL_new failed: \(tlsErrorText())") }
        if SSL_set_fd(ssl, fd) != 1 {
            SSL_free(ssl)
            throw HTTPServerError("SSL_set_fd failed: \(tlsErrorText())")
        }
        SSL_set_accept_state(ssl)
        return TLSSession(ssl: ssl)
    }
}

/// One TLS connection. Confined to its connection's queue.
final class TLSSession {
    private var ssl: OpaquePointer?

    fileprivate init(ssl: OpaquePointer) { self.ssl = ssl }

    deinit { free() }

    func free() {
        if let ssl { SSL_free(ssl) }
        ssl = nil
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(HTTPServerError) -> TransportResult {
        guard let ssl else { return .endOfFile }
        var count = 0
        ERR_clear_error()
        if SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count) == 1 { return .bytes(count) }
        return try interpret(SSL_get_error(ssl, 0), call: "SSL_read")
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(HTTPServerError) -> TransportResult {
        guard let ssl else { throw HTTPServerError("TLS session already closed", errnoCode: EPIPE) }
        var count = 0
        ERR_clear_error()
        if SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &count) == 1 { return .bytes(count) }
        switch try interpret(SSL_get_error(ssl, 0), call: "SSL_write") {
        case .endOfFile: throw HTTPServerError("SSL_write: peer closed the TLS session", errnoCode: EPIPE)
        case let other: return other
        }
    }

    var hasBufferedInput: Bool {
        guard let ssl else { return false }
        return SSL_pending(ssl) > 0
    }

    func sendCloseNotify() {
        guard let ssl else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
    }

    private func interpret(_ code: Int32, call: StaticString) throws(HTTPServerError) -> TransportResult {
        let savedErrno = errno
        switch code {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .endOfFile
        case SSL_ERROR_SYSCALL:
            if savedErrno == 0 || savedErrno == EAGAIN { return .endOfFile }
            throw HTTPServerError("\(call) failed: \(errnoDescription(savedErrno))", errnoCode: savedErrno)
        default:
            throw HTTPServerError("\(call) failed: \(tlsErrorText())", errnoCode: ECONNRESET)
        }
    }
}

/// The oldest queued OpenSSL error as text (and clears the queue).
private func tlsErrorText() -> String {
    let code = ERR_get_error()
    ERR_clear_error()
    if code == 0 { return "no OpenSSL error queued" }
    var text = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &text, text.count)
    return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
