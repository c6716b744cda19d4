import OpenAIAPI
import Tokenizers

/// One streamed completions chunk of one choice.
public struct CompletionStreamItem: Sendable, Equatable {
    public var text: String
    public var logprobs: LegacyLogprobs?
    public var finishReason: FinishReason?
}

/// The per-choice machine of `/v1/completions` (§7): stop strings, echo, legacy logprobs; no reasoning, no tools.
/// One item per engine step at most (coalesced), the finish merged with the last text.
public struct CompletionChoiceMachine {
    public let index: Int
    private var stopMatcher: StopStringMatcher
    private let logprobs: Bool
    private var echoText: String?
    /// Characters of text produced so far (echo included), for `text_offset`.
    private var textOffset = 0
    private var pendingLogprobs = LegacyLogprobs()
    public private(set) var completionTokenCount = 0
    public private(set) var isFinished = false
    public private(set) var wantsEngineStop = false

    /// - Parameters:
    ///   - logprobs: whether legacy logprobs are returned (`logprobs` not null).
    ///   - echo: the prompt text to prepend, nil without `echo`.
    public init(index: Int, stop: [String], logprobs: Bool, echo: String?) {
        self.index = index
        stopMatcher = StopStringMatcher(stopStrings: stop)
        self.logprobs = logprobs
        echoText = echo
        textOffset = echo?.unicodeScalars.count ?? 0
    }

    public mutating func step(_ pieces: [GeneratedPiece], finish: GenerationFinishReason?) -> [CompletionStreamItem] {
        guard !isFinished else { return [] }
        if finish == .cancelled {
            isFinished = true
            return []
        }
        var released: [UInt8] = []
        var endedHere = false
        for piece in pieces {
            completionTokenCount += 1
            if piece.isStopToken { break }
            if logprobs, let entry = piece.logprob {
                pendingLogprobs.tokens.append(entry.token)
                pendingLogprobs.tokenLogprobs.append(entry.logprob)
                pendingLogprobs.topLogprobs.append(entry.topLogprobs.map { ($0.token, $0.logprob) })
                pendingLogprobs.textOffset.append(textOffset)
            }
            textOffset += String(decoding: piece.text, as: UTF8.self).unicodeScalars.count
            released += stopMatcher.feed(bytes: piece.text).bytes
            if stopMatcher.isStopped {
                endedHere = true
                wantsEngineStop = true
                break
            }
        }
        let finishing = endedHere || finish != nil
        if finishing { released += stopMatcher.finishBytes() }
        var text = String(decoding: released, as: UTF8.self)
        if let echo = echoText, !pieces.isEmpty || finishing {
            text = echo + text
            echoText = nil
        }
        var reason: FinishReason?
        if finishing {
            isFinished = true
            reason = finish == .length && !endedHere ? .length : .stop
        }
        guard !text.isEmpty || reason != nil else { return [] }
        var item = CompletionStreamItem(text: text, logprobs: nil, finishReason: reason)
        if logprobs {
            item.logprobs = pendingLogprobs
            pendingLogprobs = LegacyLogprobs()
        }
        return [item]
    }
}
