/// A model repository on the Hub with the revision asked for: `ORG/NAME` or `ORG/NAME@REVISION`.
public struct HubRepository: Equatable, Sendable, CustomStringConvertible {
    /// `ORG/NAME`.
    public let id: String
    /// A branch, a tag or a commit hash; `main` by default.
    public let revision: String

    public init(id: String, revision: String = "main") throws(HubError) {
        guard Self.isValidID(id), !revision.isEmpty else { throw .invalidRepositoryID(id) }
        self.id = id
        self.revision = revision
    }

    /// Parses `ORG/NAME[@REVISION]`; `revision` (from --revision) wins over an `@` suffix when both are given.
    public init(parsing text: String, revision: String? = nil) throws(HubError) {
        var name = Substring(text)
        var suffix: String?
        if let at = text.firstIndex(of: "@") {
            name = text[..<at]
            suffix = String(text[text.index(after: at)...])
            if suffix?.isEmpty == true { throw .invalidRepositoryID(text) }
        }
        guard Self.isValidID(String(name)) else { throw .invalidRepositoryID(text) }
        try self.init(id: String(name), revision: revision ?? suffix ?? "main")
    }

    /// huggingface_hub's `validate_repo_id` for the two-part form: `[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+`, at most 96
    /// characters, no `--` or `..`, no part starting or ending with `-` or `.`.
    public static func isValidID(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, text.count <= 96, !text.contains("--"), !text.contains("..") else { return false }
        for part in parts {
            guard let first = part.first, let last = part.last else { return false }
            if "-.".contains(first) || "-.".contains(last) { return false }
            for scalar in part.unicodeScalars {
                let ok = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
                    || scalar == "_" || scalar == "-" || scalar == "."
                if !ok { return false }
            }
        }
        return true
    }

    /// The cache folder name: `models--ORG--NAME`.
    public var folderName: String { "models--" + id.replacingOccurrences(of: "/", with: "--") }

    /// True when the revision is a full commit hash (40 lowercase hex digits).
    public var revisionIsCommit: Bool { Self.isCommitHash(revision) }

    static func isCommitHash(_ text: String) -> Bool {
        text.utf8.count == 40 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    public var description: String { revision == "main" ? id : "\(id)@\(revision)" }
}
