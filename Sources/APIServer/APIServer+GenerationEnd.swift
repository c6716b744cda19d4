import OpenAIAPI

/// The end of a chat or completions generation, shared by both handlers once their event loop is over.
extension APIServer {
    /// How the loop ended. A client that went away aborts; an engine that stopped before every choice finished is a
    /// failure even without a failed event.
    struct GenerationEnd {
        var aborted: Bool
        var failure: String?

        init(aborted: Bool, disconnected: Bool, failure: String?, allFinished: Bool) {
            self.aborted = aborted || disconnected
            self.failure = failure
            if !self.aborted && failure == nil && !allFinished {
                self.failure = "the engine ended the request before every choice finished"
            }
        }

        /// Whether the tracker counts the request as aborted.
        var isIncomplete: Bool { aborted || failure != nil }
    }

    /// Ends a response whose generation did not complete, and returns true; false when the generation completed.
    /// An aborted stream is just closed. A failure cancels the generations (`cancel`) and is an internal error:
    /// thrown for a buffered response, an in-stream error event and `[DONE]` for a stream.
    func endIncompleteGeneration(
        _ end: GenerationEnd, stream: Bool, cancel: () -> Void, sink: some ResponseSink
    ) async throws(APIError) -> Bool {
        if end.aborted {
            if stream { await sink.finishStream() }
            return true
        }
        guard let failure = end.failure else { return false }
        cancel()
        guard stream else { throw .internalError("Generation failed: \(failure)") }
        _ = await sink.write(ErrorResponse.streamEvent(message: "Generation failed: \(failure)"))
        _ = await sink.write(ServerSentEvent.done)
        await sink.finishStream()
        return true
    }

    /// Ends a completed stream: the usage chunk (when the client asked for it), then `[DONE]`.
    func endStream(usageChunk: [UInt8]?, sink: some ResponseSink) async {
        if let usageChunk { _ = await sink.write(ServerSentEvent.data(usageChunk)) }
        _ = await sink.write(ServerSentEvent.done)
        await sink.finishStream()
    }
}
