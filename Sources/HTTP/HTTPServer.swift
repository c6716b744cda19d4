import Dispatch
import Glibc
import Synchronization

/// An HTTP/1.1 server (optionally HTTPS) on POSIX sockets and Dispatch.
///
/// ```swift
/// let server = HTTPServer(configuration: HTTPServerConfiguration(host: "::", port: 8000), handler: router)
/// try server.start()            // binds and listens; returns at once
/// ...
/// server.shutdown(deadline: .now() + .seconds(30))   // on SIGTERM: drain, then force-close
/// ```
///
/// Thread safety: `start`, `shutdown` and `localPort` may be called from any thread. Handlers run on the
/// connections' queues (see `HTTPHandler`).
public final class HTTPServer: Sendable {
    private let core: ServerCore

    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        core = ServerCore(configuration: configuration, handler: handler)
    }

    /// The configuration the server was created with.
    public var configuration: HTTPServerConfiguration { core.configuration }

    /// The bound port once started (the real one when the configuration asked for port 0), else nil.
    public var localPort: Int? { core.localPort }

    /// Number of open connections.
    public var connectionCount: Int { core.connectionCount }

    /// Loads the TLS certificate (if configured), binds, listens and starts accepting. Throws `HTTPServerError` when
    /// the address cannot be bound or the certificate or key cannot be loaded. Ignores SIGPIPE process-wide (writes
    /// to a vanished peer must fail with EPIPE, not kill the server).
    public func start() throws(HTTPServerError) {
        try core.start()
    }

    /// Graceful shutdown, blocking until done: stops accepting, closes idle connections, lets requests in progress
    /// finish (their responses carry `Connection: close`) until `deadline`, then force-closes the rest (their
    /// handlers see `onCancel`). Do not call it from a handler or a connection queue.
    public func shutdown(deadline: DispatchTime) {
        core.shutdown(deadline: deadline)
    }
}

/// Shared server state: the listener, its poller registration and the set of open connections.
final class ServerCore: @unchecked Sendable {
    // NOTE: immutable after init except `state`, which is guarded by its Mutex.
    let configuration: HTTPServerConfiguration
    let handler: any HTTPHandler
    /// Connection queues target this concurrent queue, so connections run in parallel on Dispatch's worker threads.
    let ioQueue = DispatchQueue(label: "http.io", attributes: .concurrent)
    private let acceptQueue = DispatchQueue(label: "http.accept")
    private let connectionGroup = DispatchGroup()

    private struct State {
        var listener: Listener?
        var listenerToken: UInt64 = 0
        var acceptPaused = false
        var tlsContext: TLSContext?
        var connections: [UInt64: Connection] = [:]
        var nextConnectionID: UInt64 = 1
        var started = false
        var shuttingDown = false
    }

    private let state = Mutex(State())
    /// The process-wide poller; `start` fails when it could not be created, so a started server always has it.
    private var poller: Poller? { try? Poller.shared.get() }

    init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
    }

    var localPort: Int? { state.withLock { $0.listener?.port } }
    var connectionCount: Int { state.withLock { $0.connections.count } }

    func start() throws(HTTPServerError) {
        signal(SIGPIPE, SIG_IGN)
        var tlsContext: TLSContext?
        switch (configuration.tlsCertificatePath, configuration.tlsKeyPath) {
        case (let certificate?, let key?):
            tlsContext = try TLSContext(certificatePath: certificate, keyPath: key)
        case (nil, nil):
            break
        default:
            throw HTTPServerError("TLS needs both tlsCertificatePath and tlsKeyPath")
        }
        let alreadyStarted = state.withLock { $0.started }
        if alreadyStarted { throw HTTPServerError("HTTPServer.start() called twice") }
        let poller = try Poller.shared.get()
        let listener = try Listener.bind(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        let token: UInt64
        do throws(HTTPServerError) {
            token = try poller.add(fd: listener.fd, interest: .read, queue: acceptQueue) { [self] _ in
                acceptPending()
            }
        } catch {
            closeDescriptor(listener.fd)
            throw error
        }
        state.withLock { state in
            state.listener = listener
            state.listenerToken = token
            state.tlsContext = tlsContext
            state.started = true
        }
    }

    /// Accepts until the backlog is empty (bounded per event for fairness), then re-arms the listener (on
    /// `acceptQueue`, like every use of the listener registration).
    private func acceptPending() {
        guard let listener = state.withLock({ $0.listener }) else { return }
        for _ in 0..<128 {
            let accepted: IOResult<(fd: Int32, address: String)>
            do {
                accepted = try listener.accept()
            } catch {
                if error.errnoCode == EMFILE || error.errnoCode == ENFILE || error.errnoCode == ENOBUFS
                    || error.errnoCode == ENOMEM
                {
                    pauseAccepting()  // out of descriptors: retry later instead of spinning
                    return
                }
                continue  // ECONNABORTED and friends: that connection is gone, keep accepting
            }
            guard case .processed(let client) = accepted else { break }
            admit(fd: client.fd, address: client.address)
        }
        rearmListener()
    }

    private func rearmListener() {
        let registration = state.withLock { state -> (Int32, UInt64)? in
            guard let listener = state.listener, state.listenerToken != 0, !state.acceptPaused else { return nil }
            return (listener.fd, state.listenerToken)
        }
        guard let (fd, token) = registration, let poller else { return }
        poller.rearm(fd: fd, token: token, interest: .read)
    }

    private func admit(fd: Int32, address: String) {
        let admission = state.withLock { state -> (UInt64, TLSContext?)? in
            if state.shuttingDown || state.connections.count >= configuration.maxConnectionCount { return nil }
            let id = state.nextConnectionID
            state.nextConnectionID += 1
            return (id, state.tlsContext)
        }
        guard let (id, tlsContext) = admission else {
            rejectOverCapacity(fd)
            return
        }
        let transport: Transport
        if let tlsContext {
            do {
                transport = .tls(try tlsContext.makeSession(fd: fd))
            } catch {
                closeDescriptor(fd)
                return
            }
        } else {
            transport = .plain(fd)
        }
        guard let poller else {
            closeDescriptor(fd)
            return
        }
        let connection = Connection(
            id: id, fd: fd, remoteAddress: address, transport: transport, server: self, poller: poller)
        connectionGroup.enter()
        state.withLock { $0.connections[id] = connection }
        connection.start()
    }

    /// Over `maxConnectionCount` (or shutting down): a best-effort 503 on the fresh socket, then close. The send
    /// cannot block (non-blocking socket, tiny response) and plain-text only: a TLS client just sees the close.
    private func rejectOverCapacity(_ fd: Int32) {
        let shuttingDown = state.withLock { $0.shuttingDown }
        let tls = configuration.tlsCertificatePath != nil
        if !tls {
            let info = HTTPErrorInfo(
                status: 503,
                message: shuttingDown ? "server is shutting down" : "too many open connections (limit \(configuration.maxConnectionCount))",
                type: "service_unavailable_error", code: shuttingDown ? "shutting_down" : "server_overloaded")
            let rendered = configuration.errorBody(info)
            let body = rendered.bytes
            let headers: HTTPHeaders = [
                "Content-Type": rendered.contentType, "Content-Length": String(body.count), "Connection": "close",
                "Retry-After": "1", "Date": HTTPDate.now(),
            ]
            var bytes: [UInt8] = []
            ResponseEncoder.head(status: 503, headers: headers, into: &bytes)
            bytes.append(contentsOf: body)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            _ = Glibc.shutdown(fd, Int32(SHUT_WR))
        }
        closeDescriptor(fd)
    }

    private func pauseAccepting() {
        state.withLock { $0.acceptPaused = true }
        acceptQueue.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in
            state.withLock { $0.acceptPaused = false }
            rearmListener()
        }
    }

    func connectionClosed(_ connection: Connection) {
        let removed = state.withLock { $0.connections.removeValue(forKey: connection.id) != nil }
        if removed { connectionGroup.leave() }
    }

    func shutdown(deadline: DispatchTime) {
        // On acceptQueue, so that no accept pass is running on the listener being closed.
        let connections = acceptQueue.sync { () -> [Connection] in
            let (listener, token, connections) = state.withLock { state -> (Listener?, UInt64, [Connection]) in
                state.shuttingDown = true
                let listener = state.listener
                let token = state.listenerToken
                state.listener = nil
                state.listenerToken = 0
                return (listener, token, Array(state.connections.values))
            }
            if let listener {
                if token != 0, let poller { poller.remove(fd: listener.fd, token: token) }
                closeDescriptor(listener.fd)
            }
            return connections
        }
        for connection in connections { connection.queue.async { connection.beginDraining() } }
        if connectionGroup.wait(timeout: deadline) == .timedOut {
            let remaining = state.withLock { Array($0.connections.values) }
            for connection in remaining { connection.queue.async { connection.close() } }
            _ = connectionGroup.wait(timeout: .now() + .seconds(5))
        }
    }
}
