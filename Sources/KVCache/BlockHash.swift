/// Identity of a full block of tokens together with everything before it: a 128-bit hash chained over the previous
/// block's hash and this block's token ids. Two sequences share a block only when their whole prefixes agree, so a
/// cached block's K/V (which depends on every earlier token through attention) is valid for both. 128 bits make an
/// accidental collision negligible (vLLM defaults to a 64-bit builtin hash; it offers sha256 when that worries).
public struct BlockHash: Hashable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The hash of the block holding `tokens` after the block whose hash is `parent` (nil for the first block).
    /// `extra` separates caches that must not share (e.g. a different model revision or LoRA; 0 by default).
    public init(parent: BlockHash?, tokens: some Collection<Int>, extra: UInt64 = 0) {
        // Two independent 64-bit lanes (different seeds and multipliers) of a multiply-xorshift mix.
        var a: UInt64 = (parent?.high ?? 0x243F_6A88_85A3_08D3) ^ extra
        var b: UInt64 = (parent?.low ?? 0x1319_8A2E_0370_7344) ^ (extra &* 0x9E37_79B9_7F4A_7C15)
        func mix(_ x: UInt64) -> UInt64 {
            var z = x
            z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
            z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
            return z ^ (z >> 33)
        }
        for token in tokens {
            let value = UInt64(bitPattern: Int64(token))
            a = mix(a ^ value) &+ 0x9E37_79B9_7F4A_7C15
            b = mix(b &+ value &* 0xD6E8_FEB8_6659_FD93) ^ 0x6A09_E667_F3BC_C909
        }
        a = mix(a ^ UInt64(tokens.count))
        b = mix(b ^ (UInt64(tokens.count) << 32))
        high = a
        low = b
    }

    /// Hashes of every FULL block of `tokens` (a partial last block has none).
    public static func chain(_ tokens: [Int], blockSize: Int, extra: UInt64 = 0) -> [BlockHash] {
        var hashes: [BlockHash] = []
        hashes.reserveCapacity(tokens.count / blockSize)
        var parent: BlockHash?
        var start = 0
        while start + blockSize <= tokens.count {
            let hash = BlockHash(parent: parent, tokens: tokens[start..<start + blockSize], extra: extra)
            hashes.append(hash)
            parent = hash
            start += blockSize
        }
        return hashes
    }

    public var description: String {
        let digits = String(high, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits + String(low, radix: 16)
    }
}
