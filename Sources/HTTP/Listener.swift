import Glibc

/// A bound, listening, non-blocking TCP socket.
struct Listener {
    let fd: Int32
    /// The bound port (useful when the configuration asked for port 0).
    let port: Int

    /// Resolves `host`, binds and listens. `::` is made dual-stack (IPV6_V6ONLY off) so one socket serves IPv4 too.
    static func bind(host: String, port: Int, backlog: Int32) throws(HTTPServerError) -> Listener {
        guard (0...65535).contains(port) else { throw HTTPServerError("port \(port) is out of range 0...65535") }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = gai_strerror(status).map { String(cString: $0) } ?? "error \(status)"
            throw HTTPServerError("cannot resolve listen address '\(host)': \(reason)")
        }
        defer { freeaddrinfo(list) }
        var lastError = HTTPServerError("no usable address for '\(host)'")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            do throws(HTTPServerError) {
                return try bind(info.pointee, host: host, port: port, backlog: backlog)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func bind(_ info: addrinfo, host: String, port: Int, backlog: Int32) throws(HTTPServerError)
        -> Listener
    {
        let fd = socket(info.ai_family, info.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw HTTPServerError("socket() failed: \(errnoDescription(errno))", errnoCode: errno) }
        do throws(HTTPServerError) {
            try setSocketOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
            if info.ai_family == AF_INET6 {
                try setSocketOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, host == "::" ? 0 : 1, "IPV6_V6ONLY")
            }
            if Glibc.bind(fd, info.ai_addr, info.ai_addrlen) != 0 {
                throw HTTPServerError("bind to \(host):\(port) failed: \(errnoDescription(errno))", errnoCode: errno)
            }
            if listen(fd, backlog) != 0 {
                throw HTTPServerError("listen on \(host):\(port) failed: \(errnoDescription(errno))", errnoCode: errno)
            }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let boundPort = withUnsafeMutablePointer(to: &storage) { pointer -> Int in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
                return socketAddressPort(pointer)
            }
            return Listener(fd: fd, port: boundPort)
        } catch {
            closeDescriptor(fd)
            throw error
        }
    }

    /// Accepts one pending connection as a non-blocking, close-on-exec socket with `TCP_NODELAY`.
    func accept() throws(HTTPServerError) -> IOResult<(fd: Int32, address: String)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &storage) { pointer throws(HTTPServerError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(HTTPServerError) in
                try syscall("accept") { Glibc.accept(fd, address, &length) }
            }
        }
        switch result {
        case .wouldBlock: return .wouldBlock
        case .processed(let client):
            // accept4 is not exported by the Glibc module; two fcntl calls do the same.
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            _ = setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let address = withUnsafePointer(to: &storage) { formatSocketAddress($0) }
            return .processed((fd: client, address: address))
        }
    }
}

private func socketAddressPort(_ storage: UnsafePointer<sockaddr_storage>) -> Int {
    let raw = UnsafeRawPointer(storage)
    switch Int32(storage.pointee.ss_family) {
    case AF_INET: return Int(UInt16(bigEndian: raw.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port))
    case AF_INET6: return Int(UInt16(bigEndian: raw.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_port))
    default: return 0
    }
}

/// `1.2.3.4:5678` or `[::1]:5678`.
func formatSocketAddress(_ storage: UnsafePointer<sockaddr_storage>) -> String {
    let raw = UnsafeRawPointer(storage)
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    let port = socketAddressPort(storage)
    switch Int32(storage.pointee.ss_family) {
    case AF_INET:
        var address = raw.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_addr
        _ = inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
        return "\(cText(text)):\(port)"
    case AF_INET6:
        var address = raw.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_addr
        _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
        return "[\(cText(text))]:\(port)"
    default:
        return "unknown"
    }
}

private func cText(_ text: [CChar]) -> String {
    String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
