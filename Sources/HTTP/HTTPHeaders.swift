/// HTTP header fields in arrival order, with case-insensitive lookup by name (RFC 9110 §5.1).
/// Names keep the spelling they were sent or added with; values are stored as given (the parser already trimmed OWS).
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// The fields in order; duplicates are kept as separate entries.
    public private(set) var fields: [(name: String, value: String)]

    public init() { fields = [] }
    public init(_ fields: [(name: String, value: String)]) { self.fields = fields }
    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    public var count: Int { fields.count }
    public var description: String { fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n") }
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    /// Appends a field (keeps any existing field of the same name).
    public mutating func add(name: String, value: String) { fields.append((name: name, value: value)) }

    /// Replaces every field named `name` (case-insensitively) by one field with `value`.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        fields.append((name: name, value: value))
    }

    /// Removes every field named `name` (case-insensitively).
    public mutating func remove(name: String) {
        fields.removeAll { asciiCaseInsensitiveEquals($0.name, name) }
    }

    /// The first value of `name` (case-insensitive), or nil.
    public subscript(first name: String) -> String? {
        for field in fields where asciiCaseInsensitiveEquals(field.name, name) { return field.value }
        return nil
    }

    /// Every value of `name` (case-insensitive), in order.
    public subscript(name: String) -> [String] {
        fields.compactMap { asciiCaseInsensitiveEquals($0.name, name) ? $0.value : nil }
    }

    /// Whether a field named `name` exists.
    public func contains(name: String) -> Bool { self[first: name] != nil }

    /// Whether the comma-separated list values of `name` contain `token` (case-insensitive), e.g.
    /// `containsToken(name: "Connection", token: "close")`.
    public func containsToken(name: String, token: String) -> Bool {
        for value in self[name] {
            for item in value.split(separator: ",") where asciiCaseInsensitiveEquals(trimOWS(item), token) {
                return true
            }
        }
        return false
    }
}

/// ASCII case-insensitive comparison (header names and tokens are ASCII; no Unicode folding wanted).
func asciiCaseInsensitiveEquals<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
    let au = a.utf8, bu = b.utf8
    guard au.count == bu.count else { return false }
    for (x, y) in zip(au, bu) where x != y {
        let lx = (x >= 0x41 && x <= 0x5A) ? x | 0x20 : x
        let ly = (y >= 0x41 && y <= 0x5A) ? y | 0x20 : y
        if lx != ly { return false }
    }
    return true
}

/// Strips spaces and tabs from both ends.
func trimOWS<S: StringProtocol>(_ text: S) -> Substring {
    let s = Substring(text)
    var start = s.startIndex, end = s.endIndex
    while start < end, s[start] == " " || s[start] == "\t" { start = s.index(after: start) }
    while end > start, s[s.index(before: end)] == " " || s[s.index(before: end)] == "\t" { end = s.index(before: end) }
    return s[start..<end]
}
