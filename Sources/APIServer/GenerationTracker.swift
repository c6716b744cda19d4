import Synchronization
import OpenAIAPI

/// Per-request bookkeeping shared by chat and completions: incremental decoders per choice, token -> piece
/// conversion, and the request-level metrics (queue time, TTFT, ITL, tokens, e2e, outcome).
struct GenerationTracker {
    let metrics: MetricsRegistry
    let arrival: Double
    let promptTokenCount: Int
    private var decoders: [any IncrementalDecoder]
    private var lastTokenTime: [Double]
    private var sawFirstToken = false
    private var sawScheduled = false
    private(set) var cachedTokenCount = 0

    init(server: APIServer, choiceCount: Int, promptTokenCount: Int, arrival: Double) {
        metrics = server.metrics
        self.arrival = arrival
        self.promptTokenCount = promptTokenCount
        decoders = (0..<choiceCount).map { _ in server.codec.makeIncrementalDecoder() }
        lastTokenTime = [Double](repeating: 0, count: choiceCount)
    }

    mutating func scheduled(cachedPromptTokenCount: Int, now: Double) {
        guard !sawScheduled else { return }
        sawScheduled = true
        cachedTokenCount = cachedPromptTokenCount
        metrics.observeQueueTime(max(0, now - arrival))
        metrics.addTokens(prompt: promptTokenCount, generation: 0)
    }

    /// Decodes one step of one choice. The last token of a `.stopToken` step is the EOS/stop token.
    mutating func pieces(
        server: APIServer, choice: Int, tokens: [SampledToken], finish: GenerationFinishReason?, now: Double,
        withLogprobs: Bool
    ) -> [GeneratedPiece] {
        guard decoders.indices.contains(choice) else { return [] }
        if !tokens.isEmpty {
            if !sawFirstToken {
                sawFirstToken = true
                metrics.observeTimeToFirstToken(max(0, now - arrival))
            } else if lastTokenTime[choice] > 0 {
                metrics.observeInterTokenLatency(max(0, now - lastTokenTime[choice]))
            }
            lastTokenTime[choice] = now
            metrics.addTokens(prompt: 0, generation: tokens.count)
        }
        var pieces: [GeneratedPiece] = []
        pieces.reserveCapacity(tokens.count)
        for (position, token) in tokens.enumerated() {
            if finish == .stopToken && position == tokens.count - 1 {
                pieces.append(GeneratedPiece(text: [], isStopToken: true))
            } else {
                pieces.append(GeneratedPiece(
                    text: decoders[choice].append(token.id), logprob: withLogprobs ? server.logprobEntry(token) : nil))
            }
        }
        if finish != nil && finish != .cancelled {
            let tail = decoders[choice].finish()
            if !tail.isEmpty, let last = pieces.lastIndex(where: { !$0.isStopToken }) { pieces[last].text += tail }
        }
        return pieces
    }

    /// `tool_calls` counts as `stop`.
    func finished(reasons: [FinishReason?], aborted: Bool, now: Double) {
        let outcome: MetricsRegistry.RequestOutcome
        if aborted || reasons.contains(where: { $0 == nil }) {
            outcome = .abort
        } else if reasons.contains(.length) {
            outcome = .length
        } else {
            outcome = .stop
        }
        metrics.recordFinished(outcome, e2eSeconds: max(0, now - arrival))
    }
}

/// Set once when the request is abandoned (client disconnect or failed write), so the backend is cancelled once.
final class DisconnectFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    /// True for the first caller only.
    func set() -> Bool { value.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
}
