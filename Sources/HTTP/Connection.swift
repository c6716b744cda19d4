import Dispatch
import Glibc
import Synchronization

/// One accepted socket: the I/O shell around `RequestParser` and the response encoder.
///
/// Threading: every mutable field below is confined to `queue` (a serial queue per connection); the responder reaches
/// the connection only through `perform`. Reads and writes are non-blocking, driven by readiness events from the
/// process-wide `Poller` (one-shot: re-armed after each event, with what the connection then waits for), handled on
/// `queue`; a single Dispatch timer enforces the header, idle and linger deadlines.
///
/// Life cycle: awaitingRequest -> handling -> awaitingRequest ... -> closing (flush the last response) ->
/// lingering (FIN sent, input discarded until EOF or 2 s, so the peer reads the response before any RST) -> closed.
final class Connection: @unchecked Sendable {
    private enum Phase {
        case awaitingRequest
        case handling(HTTPResponder)
        case closing
        case lingering
        case closed
    }

    private enum DeadlineAction { case none, headerTimeout, idleClose, lingerClose }

    /// What the current response looks like on the wire.
    private struct ResponseState {
        var keepAlive = true
        var isHead = false
        var isHTTP10 = false
        var chunked = false
        var headSent = false
        var status: Int?
        var bodyBytes = 0
    }

    static let queueKey = DispatchSpecificKey<UInt64>()
    private static let lingerNanoseconds: UInt64 = 2_000_000_000

    let id: UInt64
    let fd: Int32
    let queue: DispatchQueue
    let remoteAddress: String
    /// Bytes in the output buffer not yet accepted by the kernel (read by responders on other threads).
    let outputPendingSize = Atomic<Int>(0)

    private let transport: Transport
    private let server: ServerCore
    private let configuration: HTTPServerConfiguration

    private var parser: RequestParser
    private var phase = Phase.awaitingRequest
    private var response = ResponseState()
    private var output: [UInt8] = []  // [pending output bytes], unsent part is output[outputIndex...]
    private var outputIndex = 0
    private let poller: Poller
    /// The poller registration (0 before `start` and after `close`).
    private var pollToken: UInt64 = 0
    /// What the kernel registration is armed for; nil while an event is being handled (one-shot: the kernel has
    /// disarmed it) and before the registration exists.
    private var armedInterest: Poller.Interest?
    private var timer: DispatchSourceTimer?
    /// Reading paused (pipelined input over its limit); writing paused (nothing to send, or waiting for buffer space).
    private var readSuspended = false
    private var writeSuspended = true
    private var readWantsWrite = false
    private var writeWantsRead = false
    private var isProcessing = false
    private var draining = false
    private var servedRequestCount = 0
    private var deadline: UInt64 = .max
    private var deadlineAction = DeadlineAction.none
    private var timerScheduledAt: UInt64 = .max

    init(id: UInt64, fd: Int32, remoteAddress: String, transport: Transport, server: ServerCore, poller: Poller) {
        self.id = id
        self.fd = fd
        self.poller = poller
        self.remoteAddress = remoteAddress
        self.transport = transport
        self.server = server
        self.configuration = server.configuration
        self.parser = RequestParser(limits: server.configuration.limits)
        self.queue = DispatchQueue(label: "http.connection", target: server.ioQueue)
        queue.setSpecific(key: Self.queueKey, value: id)
    }

    /// Runs `body` on the connection queue: inline when already on it (a handler answering synchronously), else
    /// asynchronously.
    func perform(_ body: @escaping @Sendable (Connection) -> Void) {
        if DispatchQueue.getSpecific(key: Self.queueKey) == id {
            body(self)
        } else {
            queue.async { body(self) }
        }
    }

    /// Registers with the poller and starts reading. Call once.
    func start() {
        queue.async { [self] in
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.setEventHandler { [unowned self] in timerFired() }
            self.timer = timer
            timer.activate()
            do {
                // The registration holds the connection until `close` removes it.
                pollToken = try poller.add(fd: fd, interest: .read, queue: queue) { [self] events in
                    handleEvents(events)
                }
                armedInterest = .read
            } catch {
                close()  // out of kernel memory for epoll watches: refuse this connection, keep serving
                return
            }
            setDeadline(after: configuration.headerTimeout, .headerTimeout)
        }
    }

    /// One readiness event (the registration is now disarmed): serve it, then re-arm for what is wanted next.
    private func handleEvents(_ events: Poller.Events) {
        if case .closed = phase { return }  // an event that was in flight when the connection closed
        armedInterest = nil
        if (events.readable || events.hangUpOrError) && !readSuspended { handleReadable() }
        if case .closed = phase { return }
        if (events.writable || events.hangUpOrError) && !writeSuspended { handleWritable() }
        if case .closed = phase { return }
        if events.hangUpOrError && readSuspended && writeSuspended {
            // Reset or fully shut while waiting for neither: the peer is gone (and re-arming would report it again).
            close()
            return
        }
        armedInterest = wantedInterest
        poller.rearm(fd: fd, token: pollToken, interest: wantedInterest)
    }

    private var wantedInterest: Poller.Interest {
        var interest: Poller.Interest = []
        if !readSuspended { interest.insert(.read) }
        if !writeSuspended { interest.insert(.write) }
        return interest
    }

    /// After a suspension change outside an event: re-arm when the kernel waits for something else. Inside an event
    /// (`armedInterest == nil`) the re-arm at its end picks the change up.
    private func interestChanged() {
        guard let armed = armedInterest, armed != wantedInterest, pollToken != 0 else { return }
        armedInterest = wantedInterest
        poller.rearm(fd: fd, token: pollToken, interest: wantedInterest)
    }

    // MARK: - reading

    private func handleReadable() {
        if writeWantsRead {
            writeWantsRead = false
            flush()
        }
        readAvailable()
    }

    private func readAvailable() {
        var receivedCount = 0
        var sawEndOfFile = false
        withUnsafeTemporaryAllocation(byteCount: 32 * 1024, alignment: 16) { scratch in
            while true {
                switch phase {
                case .closed: return
                case .handling where parser.bufferedByteCount >= configuration.maxPipelinedInputSize:
                    suspendReading()
                    return
                default: break
                }
                if receivedCount >= 256 * 1024 { break }  // fairness: the re-armed (level) registration fires again
                let result: TransportResult
                do {
                    result = try transport.read(into: scratch)
                } catch {
                    connectionFailed()
                    return
                }
                switch result {
                case .bytes(let count):
                    switch phase {
                    case .closing, .lingering: break  // discard
                    default: parser.feed(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
                    }
                    receivedCount += count
                    // A short read of a plain socket drained it: skip the recv that would only say EAGAIN (the
                    // re-armed registration reports anything that arrives later). TLS may hold decrypted bytes.
                    if count < scratch.count, case .plain = transport { return }
                case .endOfFile:
                    sawEndOfFile = true
                    return
                case .wantRead:
                    return
                case .wantWrite:
                    readWantsWrite = true
                    resumeWriting()
                    return
                }
            }
        }
        if case .closed = phase { return }
        if receivedCount > 0 { processInput() }
        if sawEndOfFile {
            peerClosed()
        } else if transport.hasBufferedInput, !readSuspended {
            queue.async { [self] in readAvailable() }
        }
    }

    /// Parses buffered input and dispatches requests, one at a time.
    private func processInput() {
        guard !isProcessing else { return }
        isProcessing = true
        defer { isProcessing = false }
        while case .awaitingRequest = phase, let event = parser.next() {
            switch event {
            case .sendContinue:
                appendOutput(ResponseEncoder.continueResponse)
                flush()
            case .error(let error):
                sendError(HTTPErrorInfo(
                    status: error.status, message: error.message,
                    type: "invalid_request_error", code: error.code, target: parser.requestTarget))
            case .request(let request):
                dispatch(request)
            }
        }
        updateDeadline()
    }

    private func dispatch(_ parsed: ParsedRequest) {
        servedRequestCount += 1
        let responder = HTTPResponder(
            connection: self, highWatermark: configuration.outputHighWatermark,
            lowWatermark: configuration.outputLowWatermark)
        response = ResponseState(
            keepAlive: parsed.keepAlive && !draining, isHead: parsed.method == "HEAD",
            isHTTP10: parsed.version == .http1_0)
        phase = .handling(responder)
        deadlineAction = .none
        let request = HTTPRequest(
            method: parsed.method, target: parsed.target, version: parsed.version, headers: parsed.headers,
            body: parsed.body, remoteAddress: remoteAddress, keepAlive: parsed.keepAlive)
        server.handler.handle(request, responder)
    }

    /// EOF from the peer. While a request is being handled this is the client-disconnect signal: `close()` cancels
    /// the handler at once (this is what frees a generation). A client that half-closes after sending its request
    /// is treated the same way (openai-compat §5).
    private func peerClosed() {
        close()
    }

    /// A read or write failed (ECONNRESET, EPIPE, TLS error): the peer is gone.
    private func connectionFailed() {
        close()
    }

    // MARK: - responses (called through the responder)

    func sendResponse(_ responder: HTTPResponder, status: Int, headers: HTTPHeaders, body: [UInt8]) {
        guard case .handling(let current) = phase, current === responder, !response.headSent else { return }
        response.headSent = true
        var headers = headers
        let bodyAllowed = status >= 200 && status != 204 && status != 304
        finalizeHeaders(&headers, contentLength: bodyAllowed ? body.count : nil)
        ResponseEncoder.head(status: status, headers: headers, into: &output)
        response.status = status
        if bodyAllowed && !response.isHead {
            output.append(contentsOf: body)
            response.bodyBytes = body.count
        }
        responseComplete()
    }

    func sendStreamHead(_ responder: HTTPResponder, status: Int, headers: HTTPHeaders) {
        guard case .handling(let current) = phase, current === responder, !response.headSent else { return }
        response.headSent = true
        var headers = headers
        if response.isHTTP10 {
            response.keepAlive = false  // no chunked coding in HTTP/1.0: the close delimits the body
        } else if !response.isHead {
            response.chunked = true
        }
        finalizeHeaders(&headers, contentLength: nil)
        if !response.isHTTP10 { headers.add(name: "Transfer-Encoding", value: "chunked") }
        ResponseEncoder.head(status: status, headers: headers, into: &output)
        response.status = status
        flush()
    }

    func sendChunk(_ responder: HTTPResponder, _ bytes: [UInt8]) {
        responder.didMoveToOutput(bytes.count)
        guard case .handling(let current) = phase, current === responder, response.headSent else { return }
        if response.isHead { return }
        response.bodyBytes += bytes.count
        if response.chunked {
            bytes.withUnsafeBytes { ResponseEncoder.chunk($0, into: &output) }
        } else {
            output.append(contentsOf: bytes)
        }
        flush()
    }

    func finishStream(_ responder: HTTPResponder) {
        guard case .handling(let current) = phase, current === responder, response.headSent else { return }
        if response.chunked { output.append(contentsOf: ResponseEncoder.lastChunk) }
        responseComplete()
    }

    private func finalizeHeaders(_ headers: inout HTTPHeaders, contentLength: Int?) {
        if headers.containsToken(name: "Connection", token: "close") || draining { response.keepAlive = false }
        headers.remove(name: "Connection")
        headers.remove(name: "Content-Length")
        headers.remove(name: "Transfer-Encoding")
        if !headers.contains(name: "Date") { headers.add(name: "Date", value: HTTPDate.now()) }
        if let serverName = configuration.serverName, !headers.contains(name: "Server") {
            headers.add(name: "Server", value: serverName)
        }
        if let contentLength { headers.add(name: "Content-Length", value: String(contentLength)) }
        if !response.keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if response.isHTTP10 {
            headers.add(name: "Connection", value: "keep-alive")
        }
    }

    private func responseComplete() {
        if case .handling(let responder) = phase {
            responder.completed(HTTPResponseSummary(status: response.status, bodyBytes: response.bodyBytes, completed: true))
        }
        if response.keepAlive && !draining {
            phase = .awaitingRequest
            resumeReading()
        } else {
            phase = .closing
        }
        flush()
        if case .awaitingRequest = phase {
            processInput()
        }
    }

    /// Writes a generated error response (parser failure, timeout) and closes after it is delivered.
    private func sendError(_ info: HTTPErrorInfo) {
        let rendered = configuration.errorBody(info)
        let body = rendered.bytes
        var headers: HTTPHeaders = ["Content-Type": rendered.contentType]
        response = ResponseState(keepAlive: false)
        finalizeHeaders(&headers, contentLength: body.count)
        ResponseEncoder.head(status: info.status, headers: headers, into: &output)
        output.append(contentsOf: body)
        phase = .closing
        // A peer that does not read its error response must not hold the connection forever.
        setDeadline(after: configuration.headerTimeout, .lingerClose)
        flush()
    }

    // MARK: - writing

    private func appendOutput(_ bytes: [UInt8]) { output.append(contentsOf: bytes) }

    private func handleWritable() {
        if readWantsWrite {
            readWantsWrite = false
            readAvailable()
        }
        flush()
    }

    private func flush() {
        if case .closed = phase { return }
        while outputIndex < output.count {
            let result: TransportResult
            do {
                result = try output.withUnsafeBytes { buffer throws(HTTPServerError) in
                    try transport.write(UnsafeRawBufferPointer(rebasing: buffer[outputIndex...]))
                }
            } catch {
                connectionFailed()  // EPIPE / ECONNRESET: the client is gone
                return
            }
            switch result {
            case .bytes(let count): outputIndex += count
            case .wantWrite:
                resumeWriting()
                break
            case .wantRead:
                writeWantsRead = true
                resumeReading()
                break
            case .endOfFile:
                connectionFailed()
                return
            }
            if case .bytes = result { continue }
            break
        }
        if outputIndex == output.count {
            if output.capacity > 1024 * 1024 { output = [] } else { output.removeAll(keepingCapacity: true) }
            outputIndex = 0
            if !readWantsWrite { suspendWriting() }
        } else if outputIndex >= 64 * 1024 && outputIndex * 2 >= output.count {
            output.removeSubrange(0..<outputIndex)
            outputIndex = 0
        }
        let pending = output.count - outputIndex
        outputPendingSize.store(pending, ordering: .relaxed)
        switch phase {
        case .handling(let responder) where pending < configuration.outputLowWatermark:
            responder.outputDrained()
        case .closing where pending == 0:
            startLingering()
        default:
            break
        }
    }

    // MARK: - closing

    /// Half-closes and discards input until the peer closes (or 2 s), so the last response is not lost to an RST
    /// caused by unread request bytes.
    private func startLingering() {
        phase = .lingering
        transport.shutdownOutput(fd: fd)
        resumeReading()
        deadlineAction = .lingerClose
        setDeadline(nanoseconds: DispatchTime.now().uptimeNanoseconds + Self.lingerNanoseconds, .lingerClose)
    }

    /// Closes now. A request being handled is cancelled (its `onCancel` callbacks run).
    func close() {
        let previous = phase
        if case .closed = previous { return }
        phase = .closed
        outputPendingSize.store(0, ordering: .relaxed)
        if case .handling(let responder) = previous {
            responder.cancel()
            responder.completed(HTTPResponseSummary(status: response.status, bodyBytes: response.bodyBytes, completed: false))
        }
        timer?.cancel()
        timer = nil
        if pollToken != 0 {
            poller.remove(fd: fd, token: pollToken)  // synchronous: the descriptor may be closed now
            pollToken = 0
        }
        armedInterest = nil
        transport.release()
        closeDescriptor(fd)
        server.connectionClosed(self)
    }

    /// Server shutdown: close if idle, otherwise close after the current response.
    func beginDraining() {
        draining = true
        switch phase {
        case .awaitingRequest where parser.isBetweenRequests:
            close()
        case .handling where !response.headSent:
            response.keepAlive = false
        default:
            break
        }
    }

    // MARK: - suspension

    private func suspendReading() {
        guard !readSuspended else { return }
        readSuspended = true
        interestChanged()
    }

    private func resumeReading() {
        guard readSuspended else { return }
        readSuspended = false
        interestChanged()
    }

    private func suspendWriting() {
        guard !writeSuspended else { return }
        writeSuspended = true
        interestChanged()
    }

    private func resumeWriting() {
        guard writeSuspended else { return }
        writeSuspended = false
        interestChanged()
    }

    // MARK: - deadlines

    private func updateDeadline() {
        guard case .awaitingRequest = phase else { return }
        if parser.isBetweenRequests && servedRequestCount > 0 {
            if deadlineAction != .idleClose { setDeadline(after: configuration.idleTimeout, .idleClose) }
        } else if parser.isReadingBody {
            setDeadline(after: configuration.headerTimeout, .headerTimeout)  // between body reads
        } else if deadlineAction != .headerTimeout {
            setDeadline(after: configuration.headerTimeout, .headerTimeout)  // total for the head, not per byte
        }
    }

    private func setDeadline(after seconds: Double, _ action: DeadlineAction) {
        let nanoseconds = UInt64(max(0, seconds) * 1e9)
        setDeadline(nanoseconds: DispatchTime.now().uptimeNanoseconds &+ nanoseconds, action)
    }

    /// Records the deadline; the timer is only re-armed when the deadline moves earlier (cheap on the hot path).
    private func setDeadline(nanoseconds: UInt64, _ action: DeadlineAction) {
        deadline = nanoseconds
        deadlineAction = action
        if nanoseconds < timerScheduledAt, let timer {
            timer.schedule(deadline: DispatchTime(uptimeNanoseconds: nanoseconds))
            timerScheduledAt = nanoseconds
        }
    }

    private func timerFired() {
        timerScheduledAt = .max
        guard deadlineAction != .none else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if now < deadline {
            setDeadline(nanoseconds: deadline, deadlineAction)
            return
        }
        let action = deadlineAction
        deadlineAction = .none
        switch (action, phase) {
        case (.headerTimeout, .awaitingRequest):
            sendError(HTTPErrorInfo(
                status: 408, message: "request not received within \(configuration.headerTimeout) s",
                type: "invalid_request_error", code: "request_timeout", target: parser.requestTarget))
        case (.idleClose, .awaitingRequest), (.lingerClose, .lingering), (.lingerClose, .closing):
            close()
        default:
            break
        }
    }
}
