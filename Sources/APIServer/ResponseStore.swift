import OpenAIAPI
import Synchronization

/// Recent responses kept for `previous_response_id` (`agent-protocols.md` §2.9): each entry is the conversation that
/// produced the response plus its output, as chat messages. Bounded by entry count, by total text bytes and by age
/// (least recently used first out); in memory only, so a restart forgets everything.
final class ResponseStore: Sendable {
    struct Limits: Sendable {
        var maxEntries: Int
        var maxBytes: Int
        var maxAgeSeconds: Double
    }

    private struct Entry {
        var messages: [ChatMessage]
        var bytes: Int
        var storedAt: Double
        var lastUse: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())

    /// The stored conversation, or nil when unknown, evicted or expired.
    func conversation(id: String, now: Double, limits: Limits) -> [ChatMessage]? {
        state.withLock { state in
            guard var entry = state.entries[id] else { return nil }
            guard now - entry.storedAt <= limits.maxAgeSeconds else {
                state.bytes -= entry.bytes
                state.entries[id] = nil
                return nil
            }
            state.clock &+= 1
            entry.lastUse = state.clock
            state.entries[id] = entry
            return entry.messages
        }
    }

    func store(id: String, messages: [ChatMessage], now: Double, limits: Limits) {
        guard limits.maxEntries > 0 else { return }
        let bytes = messages.reduce(0) { total, message in
            total + (message.content?.utf8.count ?? 0) + (message.reasoningContent?.utf8.count ?? 0)
                + message.toolCalls.reduce(0) { $0 + $1.name.utf8.count + $1.arguments.compactJSON().utf8.count } + 64
        }
        guard bytes <= limits.maxBytes else { return }
        state.withLock { state in
            state.clock &+= 1
            if let old = state.entries[id] { state.bytes -= old.bytes }
            state.entries[id] = Entry(messages: messages, bytes: bytes, storedAt: now, lastUse: state.clock)
            state.bytes += bytes
            while state.entries.count > limits.maxEntries || state.bytes > limits.maxBytes {
                guard let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) else { break }
                state.bytes -= oldest.value.bytes
                state.entries[oldest.key] = nil
            }
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
