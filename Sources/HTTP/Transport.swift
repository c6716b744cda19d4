import Glibc

/// Outcome of one transport read or write.
enum TransportResult {
    /// Bytes read or written (> 0).
    case bytes(Int)
    /// The peer closed its sending side (reads only).
    case endOfFile
    /// Retry when the descriptor is readable.
    case wantRead
    /// Retry when the descriptor is writable.
    case wantWrite
}

/// A connection's byte stream: plain TCP or TLS over it. All calls happen on the connection's queue.
enum Transport {
    case plain(Int32)
    case tls(TLSSession)

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(HTTPServerError) -> TransportResult {
        switch self {
        case .plain(let fd):
            switch try syscall("recv", { recv(fd, buffer.baseAddress, buffer.count, 0) }) {
            case .wouldBlock: return .wantRead
            case .processed(0): return .endOfFile
            case .processed(let count): return .bytes(count)
            }
        case .tls(let session):
            return try session.read(into: buffer)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(HTTPServerError) -> TransportResult {
        switch self {
        case .plain(let fd):
            // MSG_NOSIGNAL: a peer that has gone away yields EPIPE instead of killing the process with SIGPIPE.
            switch try syscall("send", { send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }) {
            case .wouldBlock: return .wantWrite
            case .processed(let count): return .bytes(count)
            }
        case .tls(let session):
            return try session.write(bytes)
        }
    }

    /// Whether decrypted input is buffered inside the transport (TLS), so that no readiness event will announce it.
    var hasBufferedInput: Bool {
        switch self {
        case .plain: return false
        case .tls(let session): return session.hasBufferedInput
        }
    }

    /// Ends the sending direction (TLS close_notify, then TCP FIN) so that a final response is delivered before close.
    func shutdownOutput(fd: Int32) {
        if case .tls(let session) = self { session.sendCloseNotify() }
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Frees TLS state; the descriptor itself is closed by the connection.
    func release() {
        if case .tls(let session) = self { session.free() }
    }
}
