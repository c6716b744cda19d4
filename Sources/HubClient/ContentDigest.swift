private import COpenSSL

/// Incremental SHA-256 (LFS files: the Hub's `X-Linked-Etag`) or git blob SHA-1 (files stored in git: the
/// `ETag`, sha1 of `"blob <size>\0" + content`), over OpenSSL's EVP interface.
final class ContentDigest {
    enum Algorithm: String { case sha256, gitSHA1 = "git-sha1" }

    let algorithm: Algorithm
    private let context: OpaquePointer

    /// nil when OpenSSL cannot allocate a context.
    init?(_ algorithm: Algorithm, contentLength: Int64) {
        guard let context = EVP_MD_CTX_new() else { return nil }
        self.algorithm = algorithm
        self.context = context
        let md = algorithm == .sha256 ? EVP_sha256() : EVP_sha1()
        guard EVP_DigestInit_ex(context, md, nil) == 1 else { return nil }
        if algorithm == .gitSHA1 {
            let header = Array("blob \(contentLength)".utf8) + [0]
            header.withUnsafeBytes { update($0) }
        }
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    /// Lowercase hex of the digest; the context is spent.
    func finish() -> String {
        var output = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        output.withUnsafeMutableBufferPointer { buffer in _ = EVP_DigestFinal_ex(context, buffer.baseAddress, &length) }
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in output.prefix(Int(length)) {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The algorithm an etag implies: 64 hex digits are an LFS sha256, 40 a git blob sha1; nil otherwise.
    static func algorithm(forEtag etag: String) -> Algorithm? {
        let hex = etag.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        guard hex else { return nil }
        switch etag.utf8.count {
        case 64: return .sha256
        case 40: return .gitSHA1
        default: return nil
        }
    }
}
