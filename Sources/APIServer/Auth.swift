/// API-key check (§3): `Authorization: Bearer <key>`, scheme case-insensitive, or `x-api-key: <key>` (what Claude
/// Code sends for `ANTHROPIC_API_KEY`, `agent-protocols.md` §1.2), on every route; keys compared exactly in constant
/// time over all configured keys. With no key configured, auth is off. The presented token is never logged.
public struct APIKeyAuthenticator: Sendable {
    private let keys: [[UInt8]]

    public init(keys: [String]) { self.keys = keys.filter { !$0.isEmpty }.map { Array($0.utf8) } }

    public var isEnabled: Bool { !keys.isEmpty }

    /// True when auth is off or either header carries a configured key. Both comparisons always run, so which
    /// header is present (or right) does not show in the timing.
    public func isAuthorized(authorizationHeader: String?, apiKeyHeader: String? = nil) -> Bool {
        guard isEnabled else { return true }
        // A missing header still runs the comparison, so it costs what a wrong one does.
        let bearer = authorizationHeader.flatMap(Self.bearerToken)
        let bearerMatches = Self.matchesAny(keys, token: bearer ?? [])
        let apiKey = apiKeyHeader.map { Self.trimmed(Array($0.utf8)) }
        let apiKeyMatches = Self.matchesAny(keys, token: apiKey ?? [])
        return (bearer != nil && bearerMatches) || (apiKey != nil && apiKeyMatches)
    }

    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        var start = 0
        var end = bytes.count
        while start < end && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
        while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        return Array(bytes[start..<end])
    }

    /// `Bearer <token>` with the scheme in any case and one or more spaces; nil for other schemes.
    static func bearerToken(_ header: String) -> [UInt8]? {
        let bytes = Array(header.utf8)
        let scheme = Array("bearer".utf8)
        guard bytes.count > scheme.count else { return nil }
        for position in 0..<scheme.count where bytes[position] | 0x20 != scheme[position] { return nil }
        var start = scheme.count
        guard bytes[start] == 0x20 || bytes[start] == 0x09 else { return nil }
        while start < bytes.count && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
        var end = bytes.count
        while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        return Array(bytes[start..<end])
    }

    /// `diff = len(k) ^ len(t); for i in 0..<len(k): diff |= k[i] ^ t[i < len(t) ? i : 0]`, for every key without
    /// early exit; run time depends only on the configured key lengths.
    static func matchesAny(_ keys: [[UInt8]], token: [UInt8]) -> Bool {
        var anyMatch: UInt8 = 0
        for key in keys {
            var diff = UInt(truncatingIfNeeded: key.count ^ token.count)
            for index in 0..<key.count {
                let presented: UInt8 = token.isEmpty ? 0 : token[index < token.count ? index : 0]
                diff |= UInt(key[index] ^ presented)
            }
            anyMatch |= diff == 0 ? 1 : 0
        }
        return anyMatch != 0
    }
}
