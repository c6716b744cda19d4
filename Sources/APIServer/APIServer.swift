import JSON
import OpenAIAPI

/// Server settings the API layer needs. Defaults follow `openai-compat.md`.
public struct APIServerConfiguration: Sendable {
    public var model: ModelCard
    /// Changes with the build or the weights (`fp_lingserve_<build>`).
    public var systemFingerprint: String
    public var limits: RequestLimits
    /// `--api-key` values (and the key file's lines); empty = auth off.
    public var apiKeys: [String]
    /// Let scrapers read `/metrics` without a key.
    public var metricsWithoutAuth: Bool
    /// `--max-output-tokens`: cap when the request gives no maximum.
    public var maxOutputTokens: Int?
    /// Operator defaults when the request leaves them out.
    public var defaultTemperature: Double
    public var defaultTopP: Double
    public var defaultRepetitionPenalty: Double
    /// `--default-seed`: the sampling seed when the request gives none (Responses and Messages have no `seed`
    /// field); nil = each request seeds from the system's entropy.
    public var defaultSeed: UInt64?
    /// `/v1/responses`: seconds of silence before `response.in_progress` is repeated as a keep-alive (0 = never).
    public var responsesKeepAliveSeconds: Double = 15
    /// `/v1/responses` store for `previous_response_id` (`--responses-store`): entries (0 = off), text bytes, age.
    public var responsesStoreEntries = 256
    public var responsesStoreBytes = 64 << 20
    public var responsesStoreSeconds: Double = 3600
    /// `--strict-model-names`: `/v1/messages` refuses model ids that are not served (404); otherwise any id is served
    /// by the loaded model and echoed (`agent-protocols.md` §1.5).
    public var strictModelNames: Bool
    /// Seconds of silence on a Messages stream before an `event: ping` (§1.4). Default: 15.
    public var messagesPingSeconds: Double
    /// Serve the chat page (`ChatPage`) on `GET /`; off (`--no-webui`): `/` is only the empty 200 probe.
    public var chatPage: Bool

    public init(
        model: ModelCard, systemFingerprint: String, limits: RequestLimits = RequestLimits(), apiKeys: [String] = [],
        metricsWithoutAuth: Bool = false, maxOutputTokens: Int? = nil, defaultTemperature: Double = 1,
        defaultTopP: Double = 1, defaultRepetitionPenalty: Double = 1, defaultSeed: UInt64? = nil, strictModelNames: Bool = false,
        messagesPingSeconds: Double = 15, chatPage: Bool = false
    ) {
        self.chatPage = chatPage
        self.strictModelNames = strictModelNames
        self.messagesPingSeconds = messagesPingSeconds
        self.model = model
        self.systemFingerprint = systemFingerprint
        self.limits = limits
        self.apiKeys = apiKeys
        self.metricsWithoutAuth = metricsWithoutAuth
        self.maxOutputTokens = maxOutputTokens
        self.defaultTemperature = defaultTemperature
        self.defaultTopP = defaultTopP
        self.defaultRepetitionPenalty = defaultRepetitionPenalty
        self.defaultSeed = defaultSeed
    }
}

/// Readiness as `/health` reports it (§8).
public enum HealthStatus: Sendable, Equatable {
    case ok
    case loading
    case shuttingDown
    case unhealthy
}

/// The socket-free request handler: routing, auth, validation, prompt building, admission, and the response in
/// both modes. The HTTP layer calls `handle(_:sink:)` once per request.
public struct APIServer: Sendable {
    public let configuration: APIServerConfiguration
    let backend: any GenerationBackend
    let codec: any TextCodec
    let renderer: any PromptRenderer
    public let metrics: MetricsRegistry
    let authenticator: APIKeyAuthenticator
    let health: @Sendable () -> HealthStatus
    /// Seconds since the epoch.
    let clock: @Sendable () -> Double
    let makeID: @Sendable (String) -> String
    /// Compiles constrained-decoding specs against the served tokenizer; nil (tests with a scripted backend):
    /// requests run unconstrained.
    let constraintCompiler: ConstraintCompiler?
    /// Recent `/v1/responses` conversations for `previous_response_id`.
    let responseStore = ResponseStore()

    public init(
        configuration: APIServerConfiguration, backend: any GenerationBackend, codec: any TextCodec,
        renderer: any PromptRenderer, metrics: MetricsRegistry? = nil,
        health: @escaping @Sendable () -> HealthStatus = { .ok },
        clock: @escaping @Sendable () -> Double,
        makeID: @escaping @Sendable (String) -> String = { ResponseID.make(prefix: $0) },
        constraintCompiler: ConstraintCompiler? = nil
    ) {
        self.configuration = configuration
        self.backend = backend
        self.codec = codec
        self.renderer = renderer
        self.metrics = metrics ?? MetricsRegistry(modelName: configuration.model.id)
        authenticator = APIKeyAuthenticator(keys: configuration.apiKeys)
        self.health = health
        self.clock = clock
        self.makeID = makeID
        self.constraintCompiler = constraintCompiler
    }

    public func handle(_ request: APIRequest, sink: some ResponseSink) async {
        let requestID = requestID(headers: request.headers)
        do throws(APIError) {
            // Deny by default: the check runs before routing, on everything but the public allowlist.
            let path = Router.path(of: request.target)
            let isPublic = (request.method == "GET"
                && (path == "/health" || (configuration.metricsWithoutAuth && path == "/metrics")))
                || (try? Router.route(method: request.method, target: request.target).get())?.isPublic == true
            if !isPublic && !authenticator.isAuthorized(
                authorizationHeader: request.header("Authorization"), apiKeyHeader: request.header("x-api-key"))
            {
                throw APIError.invalidAPIKey
            }
            let route = try Router.route(method: request.method, target: request.target).get()
            switch route {
            case .health: try await handleHealth(requestID: requestID, sink: sink)
            case .probe where configuration.chatPage && request.method == "GET" && path == "/":
                // The chat page (public like the probe it shares `/` with): it asks for a key when the API answers 401.
                await sink.respond(
                    status: 200,
                    headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache"),
                              ("X-Content-Type-Options", "nosniff"), ("X-Request-Id", requestID)],
                    body: ChatPage.bytes)
            case .metrics:
                await sink.respond(
                    status: 200, headers: [("Content-Type", MetricsRegistry.contentType), ("X-Request-Id", requestID)],
                    body: Array(metrics.render().utf8))
            case .listModels: await sendJSON(configuration.model.listEncoded, requestID: requestID, sink: sink)
            case .model(let id):
                guard configuration.model.matches(id) else { throw APIError.modelNotFound(id) }
                await sendJSON(configuration.model.encoded(for: id), requestID: requestID, sink: sink)
            case .tokenize:
                let tokenize = try TokenizeRequest(json: try parseBody(request), limits: configuration.limits)
                try checkModel(tokenize.model)
                try await handleTokenize(tokenize, requestID: requestID, sink: sink)
            case .detokenize:
                let detokenize = try DetokenizeRequest(json: try parseBody(request), limits: configuration.limits)
                try checkModel(detokenize.model)
                await sendJSON(
                    TokenizerResponses.detokenize(text: codec.decode(detokenize.tokens)), requestID: requestID, sink: sink)
            case .chatCompletions:
                let chat = try ChatCompletionRequest(json: try parseBody(request), limits: configuration.limits)
                try checkModel(chat.model)
                try await handleChat(chat, requestID: requestID, sink: sink)
            case .completions:
                let completion = try CompletionRequest(json: try parseBody(request), limits: configuration.limits)
                try checkModel(completion.model)
                try await handleCompletion(completion, requestID: requestID, sink: sink)
            case .responses:
                let responses = try ResponsesRequest(json: try parseBody(request), limits: configuration.limits)
                try checkModel(responses.model)
                try await handleResponses(responses, requestID: requestID, sink: sink)
            case .messages, .countTokens, .probe, .eventLogging:
                try await handleAnthropicRoute(route, request, requestID: requestID, sink: sink)
            }
        } catch {
            if Router.usesAnthropicErrors(path: Router.path(of: request.target)) {
                await ErrorResponse.sendAnthropic(error, requestID: requestID, to: sink)
            } else {
                await ErrorResponse.send(error, requestID: requestID, to: sink)
            }
        }
    }

    /// The response of a request that needs no waiting (GET /health while healthy), or nil: the HTTP bridge answers
    /// it without starting a task. Same bytes as `handle` would send.
    public func immediateResponse(
        method: String, path: String, headers: [(name: String, value: String)]
    ) -> (status: Int, headers: [(name: String, value: String)], body: [UInt8])? {
        guard method == "GET", path == "/health", health() == .ok else { return nil }
        return (200, [("Content-Type", "application/json"), ("X-Request-Id", requestID(headers: headers))], Self.healthyBody)
    }

    static let healthyBody = Array(#"{"status":"ok"}"#.utf8)

    /// The client's `X-Request-Id` when usable (non-empty, at most 200 bytes), else a new one.
    func requestID(headers: [(name: String, value: String)]) -> String {
        for field in headers where field.name.utf8.count == 12 && field.name.lowercased() == "x-request-id" {
            return field.value.isEmpty || field.value.utf8.count > 200 ? makeID("req-") : field.value
        }
        return makeID("req-")
    }

    func sendJSON(_ body: [UInt8], requestID: String, sink: some ResponseSink) async {
        await sink.respond(
            status: 200, headers: [("Content-Type", "application/json"), ("X-Request-Id", requestID)], body: body)
    }

    func checkModel(_ model: String?) throws(APIError) {
        if let model, !configuration.model.matches(model) { throw .modelNotFound(model) }
    }

    /// JSON with depth <= 64; accepted content types: missing, `application/json` (and `+json`), and curl's default
    /// `application/x-www-form-urlencoded` (§1).
    func parseBody(_ request: APIRequest) throws(APIError) -> JSONValue {
        if let contentType = request.header("Content-Type") {
            let mediaType = contentType.split(separator: ";").first.map { String($0).lowercased() } ?? ""
            let trimmed = mediaType.trimmingSpaces
            guard trimmed.isEmpty || trimmed == "application/json" || trimmed.hasSuffix("+json")
                || trimmed == "application/x-www-form-urlencoded"
            else { throw .unsupportedContentType(contentType) }
        }
        do {
            return try JSONParser.parse(request.body, limits: JSONParser.Limits(maxDepth: 64))
        } catch {
            throw .invalidJSON("The body is not valid JSON: \(error.description) (at byte \(error.offset))")
        }
    }

    func handleHealth(requestID: String, sink: some ResponseSink) async throws(APIError) {
        switch health() {
        case .ok: await sendJSON(Array(#"{"status":"ok"}"#.utf8), requestID: requestID, sink: sink)
        case .loading: throw .unavailable(code: "model_loading", "The model is loading", retryAfterSeconds: 5)
        case .shuttingDown: throw .unavailable(code: "shutting_down", "The server is shutting down", retryAfterSeconds: 5)
        case .unhealthy: throw .unavailable(code: "engine_unhealthy", "The engine has not completed a step in time")
        }
    }

    func handleTokenize(_ request: TokenizeRequest, requestID: String, sink: some ResponseSink) async throws(APIError) {
        let tokens: [Int]
        switch request.input {
        case .prompt(let text, let addSpecialTokens): tokens = codec.encode(text, addSpecialTokens: addSpecialTokens)
        case .messages(let messages, let tools, let addGenerationPrompt):
            let prompt = try render(messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt)
            tokens = codec.encode(prompt, addSpecialTokens: false)
        }
        let strings = request.returnTokenStrings ? tokens.map { codec.tokenString($0) } : nil
        await sendJSON(
            TokenizerResponses.tokenize(
                tokens: tokens, maxModelLength: configuration.model.maxModelLength, tokenStrings: strings),
            requestID: requestID, sink: sink)
    }

    func render(messages: [ChatMessage], tools: JSONValue?, addGenerationPrompt: Bool) throws(APIError) -> String {
        do {
            return try renderer.render(
                messages: messages.map(\.templateValue), tools: tools, addGenerationPrompt: addGenerationPrompt)
        } catch {
            // The template raised on this conversation (its own checks): the client's input is at fault.
            throw .invalidValue(param: "messages", "The chat template rejected the messages: \(error)")
        }
    }

    /// §6.3: the number of tokens to generate, or `context_length_exceeded`.
    func resolveMaxTokens(promptTokenCount: Int, requested: Int?, param: String, promptParam: String) throws(APIError) -> Int {
        let contextLength = configuration.model.maxModelLength
        guard promptTokenCount < contextLength else {
            throw .contextLengthExceeded(
                param: promptParam, maxModelLength: contextLength, promptTokenCount: promptTokenCount,
                requestedTokenCount: nil)
        }
        if let requested {
            // Subtracted, not added: `requested` is range-checked by the reader, but the sum is never formed.
            guard requested <= contextLength - promptTokenCount else {
                throw .contextLengthExceeded(
                    param: param, maxModelLength: contextLength, promptTokenCount: promptTokenCount,
                    requestedTokenCount: requested)
            }
            return requested
        }
        let room = contextLength - promptTokenCount
        return min(room, configuration.maxOutputTokens ?? room)
    }

    func samplingConfig(_ options: SamplingOptions) -> SamplingConfig {
        SamplingConfig(
            temperature: options.temperature ?? configuration.defaultTemperature,
            topP: options.topP ?? configuration.defaultTopP, topK: options.topK, minP: options.minP ?? 0,
            repetitionPenalty: options.repetitionPenalty ?? configuration.defaultRepetitionPenalty,
            presencePenalty: options.presencePenalty, frequencyPenalty: options.frequencyPenalty,
            logitBias: options.logitBias.map { SamplingConfig.TokenBias(tokenId: $0.tokenId, bias: $0.bias) },
            seed: options.seed ?? configuration.defaultSeed)
    }

    /// Submits and maps a refusal to its error (429 with `Retry-After`, or the backend's status).
    func admit(_ request: GenerationRequest) throws(APIError) -> AsyncStream<GenerationEvent> {
        switch backend.submit(request) {
        case .accepted(let stream): return stream
        case .queueFull(let seconds): throw .overloaded(retryAfterSeconds: seconds)
        case .rejected(let status, let code, let message, let retryAfter):
            if status == 503 { throw .unavailable(code: code, message, retryAfterSeconds: retryAfter) }
            throw APIError(
                status: status, type: status >= 500 ? "server_error" : "invalid_request_error", code: code, param: nil,
                message: message, retryAfterSeconds: retryAfter)
        }
    }

    func logprobEntry(_ token: SampledToken) -> LogprobEntry? {
        guard let logprob = token.logprob else { return nil }
        return LogprobEntry(
            token: codec.tokenString(token.id), logprob: logprob, bytes: codec.tokenBytes(token.id),
            topLogprobs: token.topLogprobs.map {
                LogprobEntry.Alternative(token: codec.tokenString($0.id), logprob: $0.logprob, bytes: codec.tokenBytes($0.id))
            })
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while scalars.first == " " || scalars.first == "\t" { scalars = scalars.dropFirst() }
        while scalars.last == " " || scalars.last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
