import JSON

private import CCurlShim

/// One request the driver should send.
public struct OutgoingRequest: Sendable {
    public var url: String
    public var body: String
    public var promptLength: Int
    public var expectedOutputLength: Int

    public init(url: String, body: String, promptLength: Int, expectedOutputLength: Int) {
        self.url = url
        self.body = body
        self.promptLength = promptLength
        self.expectedOutputLength = expectedOutputLength
    }
}

/// Supplies the requests of one run. Conversations arrive at scheduled offsets; each has one or more turns, sent
/// one after the other on the same concurrency slot (turn k + 1 only after turn k answered).
public protocol RequestSource: AnyObject {
    /// Number of conversations; `nil` means unbounded (the run ends at its deadline).
    var conversationCount: Int? { get }
    /// Scheduled arrival of conversation `index`, seconds from the run's start.
    func arrivalOffset(_ index: Int) -> Double
    /// The request for turn `turn` of conversation `index`, given the answers to the earlier turns, or nil when
    /// the conversation is over.
    func request(conversation index: Int, turn: Int, answers: [TurnAnswer]) -> OutgoingRequest?
}

/// What the model answered to an earlier turn of a conversation.
public struct TurnAnswer: Sendable {
    public var text: String
    public var tokenCount: Int
}

/// Progress of a running benchmark, for the live line.
public struct DriverProgress: Sendable {
    public var finished = 0
    public var failed = 0
    public var inFlight = 0
    public var elapsed = 0.0
}

/// A finished request with where it came from.
public struct DriverRecord: Sendable {
    public var conversation: Int
    public var turn: Int
    public var scheduledOffset: Double
    public var output: RequestOutput
}

/// Runs many streamed requests concurrently from the calling thread over libcurl's multi interface
/// (`curl_multi_poll` loop); every received chunk is time-stamped with CLOCK_MONOTONIC before parsing.
public final class StreamingDriver {
    public struct Options: Sendable {
        /// Closed loop: at most this many conversations in flight (nil: unbounded, open loop).
        public var maxConcurrency: Int?
        /// Stop starting new conversations this many seconds after the start.
        public var durationLimit: Double?
        public var requestTimeoutSeconds: Double
        /// Full header lines sent with each request.
        public var headers: [String]

        public init(maxConcurrency: Int?, durationLimit: Double?, requestTimeoutSeconds: Double, headers: [String]) {
            self.maxConcurrency = maxConcurrency
            self.durationLimit = durationLimit
            self.requestTimeoutSeconds = requestTimeoutSeconds
            self.headers = headers
        }
    }

    private let options: Options
    private let multi: UnsafeMutableRawPointer
    private var idle: [Transfer] = []
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]

    public init(options: Options) throws {
        guard CurlGlobal.initialized else { throw BenchError("libcurl failed to initialise") }
        let connectionLimit = options.maxConcurrency.map { $0 + 1 } ?? 0
        guard let multi = lb_multi_new(connectionLimit) else { throw BenchError("curl_multi_init failed") }
        self.options = options
        self.multi = multi
    }

    deinit {
        for transfer in active.values { lb_multi_remove(multi, transfer.easy) }
        lb_multi_free(multi)
    }

    /// Runs the whole workload and returns the records in completion order. `onProgress` is called about five
    /// times a second and once at the end.
    public func run(
        source: RequestSource, onProgress: ((DriverProgress) -> Void)? = nil
    ) throws -> (records: [DriverRecord], duration: Double) {
        let start = MonotonicClock.now()
        var records: [DriverRecord] = []
        var progress = DriverProgress()
        var nextConversation = 0
        var lastProgress = start
        var answers: [Int: [TurnAnswer]] = [:]
        let total = source.conversationCount

        func startTurn(_ conversation: Int, turn: Int, scheduled: Double, now: Double) throws -> Bool {
            guard let request = source.request(conversation: conversation, turn: turn, answers: answers[conversation] ?? [])
            else { return false }
            let transfer = try idle.popLast() ?? Transfer()
            try transfer.begin(
                request: request, headers: options.headers, timeoutSeconds: options.requestTimeoutSeconds,
                startTime: now)
            transfer.conversation = conversation
            transfer.turn = turn
            transfer.scheduledOffset = scheduled
            transfer.queueTime = turn == 0 ? max(0, now - start - scheduled) : 0
            guard lb_multi_add(multi, transfer.easy) == 0 else { throw BenchError("curl_multi_add_handle failed") }
            active[transfer.easy] = transfer
            return true
        }

        while true {
            var now = MonotonicClock.now()
            let elapsed = now - start
            let deadlinePassed = options.durationLimit.map { elapsed >= $0 } ?? false
            var moreToStart = !deadlinePassed && (total.map { nextConversation < $0 } ?? true)
            while moreToStart, options.maxConcurrency.map({ progress.inFlight < $0 }) ?? true,
                source.arrivalOffset(nextConversation) <= elapsed
            {
                if try startTurn(nextConversation, turn: 0, scheduled: source.arrivalOffset(nextConversation), now: now) {
                    progress.inFlight += 1
                }
                nextConversation += 1
                moreToStart = total.map { nextConversation < $0 } ?? true
            }
            if !moreToStart && progress.inFlight == 0 { break }

            var running: Int32 = 0
            guard lb_multi_perform(multi, &running) == 0 else { throw BenchError("curl_multi_perform failed") }
            var freedSlot = false
            var result: Int32 = 0
            while let easy = lb_multi_next_done(multi, &result) {
                lb_multi_remove(multi, easy)
                guard let transfer = active.removeValue(forKey: easy) else { continue }
                var output = transfer.complete(curlCode: result)
                output.queueTime = transfer.queueTime
                records.append(
                    DriverRecord(
                        conversation: transfer.conversation, turn: transfer.turn,
                        scheduledOffset: transfer.scheduledOffset, output: output))
                progress.finished += 1
                if !output.success { progress.failed += 1 }
                idle.append(transfer)
                now = MonotonicClock.now()
                var continued = false
                if output.success {
                    answers[transfer.conversation, default: []].append(
                        TurnAnswer(text: output.generatedText, tokenCount: output.outputTokenCount))
                    continued = try startTurn(
                        transfer.conversation, turn: transfer.turn + 1, scheduled: transfer.scheduledOffset, now: now)
                }
                if !continued {
                    answers[transfer.conversation] = nil
                    progress.inFlight -= 1
                    freedSlot = true
                }
            }
            now = MonotonicClock.now()
            if let onProgress, now - lastProgress >= 0.2 {
                lastProgress = now
                progress.elapsed = now - start
                onProgress(progress)
            }
            if freedSlot { continue }
            var waitMs = 100
            if moreToStart, options.maxConcurrency.map({ progress.inFlight < $0 }) ?? true {
                let untilNext = source.arrivalOffset(nextConversation) - (now - start)
                waitMs = max(0, min(100, Int((untilNext * 1000).rounded(.up))))
            }
            if let limit = options.durationLimit, moreToStart {
                waitMs = max(0, min(waitMs, Int(((limit - (now - start)) * 1000).rounded(.up))))
            }
            if waitMs > 0 { _ = lb_multi_poll(multi, Int32(waitMs)) }
        }
        let duration = MonotonicClock.now() - start
        progress.elapsed = duration
        onProgress?(progress)
        return (records, duration)
    }
}

/// One reusable easy handle with its parser state.
private final class Transfer {
    let easy: UnsafeMutableRawPointer
    var parser = SSEParser()
    var recorder = StreamRecorder(startTime: 0, promptLength: 0, expectedOutputLength: 0)
    var status = 0
    var errorBody: [UInt8] = []
    var conversation = 0
    var turn = 0
    var scheduledOffset = 0.0
    var queueTime = 0.0

    init() throws {
        guard let easy = lb_easy_new() else { throw BenchError("curl_easy_init failed") }
        self.easy = easy
    }

    deinit { lb_easy_free(easy) }

    func begin(request: OutgoingRequest, headers: [String], timeoutSeconds: Double, startTime: Double) throws {
        parser = SSEParser()
        recorder = StreamRecorder(
            startTime: startTime, promptLength: request.promptLength, expectedOutputLength: request.expectedOutputLength)
        status = 0
        errorBody.removeAll(keepingCapacity: true)
        let context = Unmanaged.passUnretained(self).toOpaque()
        let timeoutMs = Int(timeoutSeconds * 1000)
        let code = withCStrings(headers + ["Content-Type: application/json", "Accept: text/event-stream"]) { lines in
            let body = Array(request.body.utf8CString)
            return body.withUnsafeBufferPointer { chars in
                lb_easy_prepare(
                    easy, request.url, chars.baseAddress, body.count - 1, lines.baseAddress, lines.count,
                    Transfer.onData, context, timeoutMs, min(timeoutMs, 30_000))
            }
        }
        guard code == 0 else { throw BenchError("curl option setup failed: \(String(cString: lb_strerror(code)))") }
    }

    /// Called by libcurl for each received piece of body.
    static let onData: lb_write_fn = { data, size, count, context in
        guard let context, let data else { return 0 }
        let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
        let byteCount = size * count
        let timestamp = MonotonicClock.now()
        if transfer.status == 0 { transfer.status = lb_easy_status(transfer.easy) }
        let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: byteCount)
        if transfer.status != 200 {
            if transfer.errorBody.count < 4096 { transfer.errorBody.append(contentsOf: bytes.prefix(4096)) }
            return byteCount
        }
        transfer.parser.feed(bytes) { event in transfer.recorder.handleEvent(event, timestamp: timestamp) }
        return byteCount
    }

    func complete(curlCode: Int32) -> RequestOutput {
        if status == 0 { status = lb_easy_status(easy) }
        if curlCode != 0 {
            let message = String(cString: lb_strerror(curlCode))
            recorder.fail(lb_is_timeout(curlCode) != 0 ? .timeout : .connection, message)
        } else if status != 200 {
            var message = String(decoding: errorBody, as: UTF8.self)
            if let parsed = try? JSONParser.parse(errorBody), let text = parsed["error"]?["message"]?.stringValue {
                message = text
            }
            recorder.fail(.httpStatus(status), message)
        } else {
            let timestamp = MonotonicClock.now()
            parser.finish { event in recorder.handleEvent(event, timestamp: timestamp) }
        }
        return recorder.finish()
    }
}
