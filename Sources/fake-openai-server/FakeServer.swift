// fake-openai-server: a test fixture for ling-bench. Streams pre-generated chunks as fast as the socket takes
// them, with OpenAI chat/completions SSE shapes, usage chunks, a word-level tokenizer behind /tokenize and
// /detokenize (token id N is the word "tN", so random prompts round-trip exactly), and spec-decode counters on
// /metrics. One thread per connection, HTTP/1.1 keep-alive, plain POSIX sockets.
import BenchClient
import JSON
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct ServerOptions: Sendable {
    var host = "127.0.0.1"
    var port: UInt16 = 8000
    var apiKey: String?
    var tokensPerEvent = 1  // > 1 mimics MTP: several tokens per event, spec-decode counters move
    var eventsPerWrite = 8  // events coalesced into one write (1 = one syscall per event)
    var defaultMaxTokens = 16
    var failEvery = 0  // every Nth generation request answers 500 (0 = never)
    var eventDelayMicroseconds = 0  // pause after each write (0 = as fast as the socket takes them)
    var modelName = "fake-model"
}

struct Counters {
    var requests = 0
    var drafts = 0
    var draftTokens = 0
    var acceptedTokens = 0
    var acceptedPerPosition: [Int] = []
    var generatedTokens = 0
}

let counters = Mutex(Counters())
nonisolated(unsafe) var options = ServerOptions()

func parseArguments() -> ServerOptions? {
    var result = ServerOptions()
    var arguments = CommandLine.arguments.dropFirst().makeIterator()
    while let flag = arguments.next() {
        guard let value = arguments.next() else {
            print("fake-openai-server: \(flag) needs a value")
            return nil
        }
        switch flag {
        case "--host": result.host = value
        case "--port": result.port = UInt16(value) ?? 0
        case "--api-key": result.apiKey = value
        case "--tokens-per-event": result.tokensPerEvent = max(1, Int(value) ?? 1)
        case "--events-per-write": result.eventsPerWrite = max(1, Int(value) ?? 1)
        case "--default-max-tokens": result.defaultMaxTokens = max(1, Int(value) ?? 16)
        case "--fail-every": result.failEvery = max(0, Int(value) ?? 0)
        case "--model": result.modelName = value
        case "--event-delay-us": result.eventDelayMicroseconds = max(0, Int(value) ?? 0)
        default:
            print("fake-openai-server: unknown flag \(flag)")
            return nil
        }
    }
    return result
}

// MARK: - tokenizer

func tokenize(_ text: String) -> [Int] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map { word in
        if word.first == "t", let id = Int(word.dropFirst()), id >= 0 { return id }
        var hash: UInt64 = 1_469_598_103_934_665_603
        for byte in word.utf8 { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
        return Int(hash % 30000)
    }
}

func detokenize(_ ids: [Int]) -> String { ids.map { "t\($0)" }.joined(separator: " ") }

// MARK: - HTTP

struct HTTPRequest {
    var method: String
    var path: String
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name }?.1
    }
}

final class Connection {
    let fd: Int32
    var buffer: [UInt8] = []

    init(fd: Int32) { self.fd = fd }

    func readRequest() -> HTTPRequest? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = headerEnd() {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                var lines = head.split(separator: "\r\n").map(String.init)
                guard !lines.isEmpty else { return nil }
                let requestLine = lines.removeFirst().split(separator: " ")
                guard requestLine.count >= 2 else { return nil }
                var headers: [(String, String)] = []
                for line in lines {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers.append(
                        (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces()))
                }
                let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
                while buffer.count < end + 4 + length {
                    let count = read(fd, &chunk, chunk.count)
                    if count <= 0 { return nil }
                    buffer.append(contentsOf: chunk[0..<count])
                }
                let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                buffer.removeFirst(end + 4 + length)
                return HTTPRequest(
                    method: String(requestLine[0]), path: String(requestLine[1]), headers: headers, body: body)
            }
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { return nil }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    func headerEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4)
        where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    @discardableResult
    func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if count <= 0 { return false }
            offset += count
        }
        return true
    }

    func respond(status: Int, reason: String, contentType: String, body: String) {
        let bytes = Array(body.utf8)
        let head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(bytes.count)\r\n\r\n"
        writeAll(Array(head.utf8) + bytes)
    }

    func respondJSON(_ value: JSONValue, status: Int = 200) {
        respond(status: status, reason: status == 200 ? "OK" : "Error", contentType: "application/json", body: value.compactJSON())
    }

    func respondError(_ status: Int, _ message: String) {
        respondJSON(
            .object(JSONObject([
                ("error", .object(JSONObject([("message", .string(message)), ("type", .string("invalid_request_error")),
                                   ("param", .null), ("code", .null)])))
            ])), status: status)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " || text.last == "\r" { text = text.dropLast() }
        return String(text)
    }
}

// MARK: - routes

func handle(_ request: HTTPRequest, on connection: Connection) {
    if let key = options.apiKey, request.path != "/health", request.header("authorization") != "Bearer \(key)" {
        connection.respondError(401, "invalid api key")
        return
    }
    let body = (try? JSONParser.parse(request.body)) ?? .null
    switch (request.method, request.path) {
    case ("GET", "/health"): connection.respondJSON(.object(JSONObject([("status", .string("ok"))])))
    case ("GET", "/v1/models"):
        connection.respondJSON(
            .object(JSONObject([
                ("object", .string("list")),
                ("data", .array([.object(JSONObject([("id", .string(options.modelName)), ("object", .string("model")),
                                          ("root", .string(options.modelName)), ("owned_by", .string("fake"))]))])),
            ])))
    case ("POST", "/tokenize"):
        let text = body["prompt"]?.stringValue ?? body["content"]?.stringValue ?? ""
        let ids = tokenize(text)
        connection.respondJSON(.object(JSONObject([("count", .int(ids.count)), ("max_model_len", .int(1 << 20)),
                                        ("tokens", .array(ids.map { .int($0) })), ("token_strs", .null)])))
    case ("POST", "/detokenize"):
        let ids = body["tokens"]?.arrayValue?.compactMap(\.intValue) ?? []
        connection.respondJSON(.object(JSONObject([("prompt", .string(detokenize(ids)))])))
    case ("GET", "/metrics"): connection.respond(status: 200, reason: "OK", contentType: "text/plain; version=0.0.4", body: metricsText())
    case ("POST", "/v1/chat/completions"): stream(request: body, chat: true, on: connection)
    case ("POST", "/v1/completions"): stream(request: body, chat: false, on: connection)
    default: connection.respondError(404, "no route \(request.method) \(request.path)")
    }
}

func metricsText() -> String {
    let snapshot = counters.withLock { $0 }
    var lines = [
        "# TYPE lingserve:spec_decode_num_drafts_total counter",
        "lingserve:spec_decode_num_drafts_total{model_name=\"\(options.modelName)\"} \(snapshot.drafts)",
        "lingserve:spec_decode_num_draft_tokens_total{model_name=\"\(options.modelName)\"} \(snapshot.draftTokens)",
        "lingserve:spec_decode_num_accepted_tokens_total{model_name=\"\(options.modelName)\"} \(snapshot.acceptedTokens)",
        "lingserve:generation_tokens_total{model_name=\"\(options.modelName)\"} \(snapshot.generatedTokens)",
    ]
    for (position, count) in snapshot.acceptedPerPosition.enumerated() {
        lines.append(
            "lingserve:spec_decode_num_accepted_tokens_per_pos_total{model_name=\"\(options.modelName)\",position=\"\(position)\"} \(count)")
    }
    return lines.joined(separator: "\n") + "\n"
}

func stream(request body: JSONValue, chat: Bool, on connection: Connection) {
    let index = counters.withLock { c -> Int in
        c.requests += 1
        return c.requests
    }
    if options.failEvery > 0 && index % options.failEvery == 0 {
        connection.respondError(500, "injected failure for request \(index)")
        return
    }
    guard body["stream"] == .bool(true) else {
        connection.respondError(400, "this fixture only streams; send stream: true")
        return
    }
    let outputCount = max(1, body["max_completion_tokens"]?.intValue ?? body["max_tokens"]?.intValue ?? options.defaultMaxTokens)
    var promptText = body["prompt"]?.stringValue ?? ""
    for message in body["messages"]?.arrayValue ?? [] { promptText += " " + (message["content"]?.stringValue ?? "") }
    let promptCount = tokenize(promptText).count
    let id = chat ? "chatcmpl-fake\(index)" : "cmpl-fake\(index)"
    let object = chat ? "chat.completion.chunk" : "text_completion"
    let head = "\"id\":\"\(id)\",\"object\":\"\(object)\",\"created\":1732270000,\"model\":\"\(options.modelName)\""
    func choice(_ text: String, finish: String?) -> String {
        let finishText = finish.map { "\"\($0)\"" } ?? "null"
        let escaped = jsonQuoted(text)
        if chat {
            return "{\"index\":0,\"delta\":{\"content\":\(escaped)},\"logprobs\":null,\"finish_reason\":\(finishText)}"
        }
        return "{\"index\":0,\"text\":\(escaped),\"logprobs\":null,\"finish_reason\":\(finishText)}"
    }
    var events: [String] = []
    if chat {
        events.append(
            "data: {\(head),\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n")
    }
    var produced = 0
    var drafts = 0
    var accepted = 0
    var perPosition = [Int](repeating: 0, count: max(0, options.tokensPerEvent - 1))
    while produced < outputCount {
        let count = min(options.tokensPerEvent, outputCount - produced)
        var text = ""
        for i in 0..<count { text += "t\(produced + i) " }
        produced += count
        if options.tokensPerEvent > 1 {
            drafts += 1
            accepted += count - 1
            for position in 0..<(count - 1) { perPosition[position] += 1 }
        }
        let finish = produced >= outputCount ? "length" : nil
        events.append("data: {\(head),\"choices\":[\(choice(text, finish: finish))],\"usage\":null}\n\n")
    }
    events.append(
        "data: {\(head),\"choices\":[],\"usage\":{\"prompt_tokens\":\(promptCount),\"completion_tokens\":\(outputCount),\"total_tokens\":\(promptCount + outputCount)}}\n\n"
    )
    events.append("data: [DONE]\n\n")
    counters.withLock { c in
        c.generatedTokens += outputCount
        c.drafts += drafts
        c.draftTokens += drafts * (options.tokensPerEvent - 1)
        c.acceptedTokens += accepted
        if c.acceptedPerPosition.count < perPosition.count {
            c.acceptedPerPosition += [Int](repeating: 0, count: perPosition.count - c.acceptedPerPosition.count)
        }
        for (i, n) in perPosition.enumerated() { c.acceptedPerPosition[i] += n }
    }
    let header = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
    guard connection.writeAll(Array(header.utf8)) else { return }
    var start = 0
    while start < events.count {
        let end = min(events.count, start + options.eventsPerWrite)
        let payload = Array(events[start..<end].joined().utf8)
        let chunk = Array((String(payload.count, radix: 16) + "\r\n").utf8) + payload + Array("\r\n".utf8)
        guard connection.writeAll(chunk) else { return }
        start = end
        if options.eventDelayMicroseconds > 0 { usleep(UInt32(options.eventDelayMicroseconds)) }
    }
    connection.writeAll(Array("0\r\n\r\n".utf8))
}

// MARK: - main

func serve(fd: Int32) {
    let connection = Connection(fd: fd)
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    while let request = connection.readRequest() { handle(request, on: connection) }
    close(fd)
}

/// Thread entry: owns the boxed descriptor. A free function so it carries no actor isolation.
func connectionThread(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let argument else { return nil }
    let fd = argument.assumingMemoryBound(to: Int32.self).pointee
    argument.deallocate()
    serve(fd: fd)
    return nil
}

@main
struct FakeOpenAIServer {
    static func main() {
        guard let parsed = parseArguments() else { exit(2) }
        options = parsed
        signal(SIGPIPE, SIG_IGN)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { print("socket failed"); exit(1) }
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = options.port.bigEndian
        inet_pton(AF_INET, options.host, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 1024) == 0 else { print("cannot listen on \(options.host):\(options.port)"); exit(1) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        print("listening on \(options.host):\(UInt16(bigEndian: address.sin_port))")
        fflush(nil)
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { continue }
            let box = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
            box.pointee = client
            var thread = pthread_t()
            let created = pthread_create(&thread, nil, connectionThread, box)
            if created == 0 { pthread_detach(thread) } else { box.deallocate(); close(client) }
        }
    }
}
