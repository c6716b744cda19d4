/// Row dequantizers for the ggml block formats of `GGMLQuantizer` (the layouts are drawn there), following ggml's
/// `dequantize_row_*`: x = d * q (Q8_0), d * (q - 16) (Q5_0), d * q + m (Q5_1), d * sc * q - dmin * m (Q4_K, Q5_K),
/// d * sc * (q - 32) (Q6_K). Every bit pattern decodes (NaN or infinite scales give NaN or infinite values), so
/// file bytes cannot make it trap; the caller checks sizes (`GGUFFile` validates them against the shape).
public enum GGMLDequantizer {
    public static func canRead(_ type: GGUFTensorType) -> Bool { GGMLQuantizer.canWrite(type) }

    /// Decodes `destination.count` values from `source`, which must hold exactly
    /// `GGMLQuantizer.rowByteCount(type, destination.count)` bytes.
    public static func dequantize(_ type: GGUFTensorType, _ source: UnsafeRawBufferPointer,
                                  into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(canRead(type), "GGMLDequantizer cannot read \(type)")
        precondition(GGMLQuantizer.rowByteCount(type, count: destination.count) == source.count, "source size mismatch")
        guard let x = source.baseAddress, let y = destination.baseAddress else { return }
        let n = destination.count
        func u8(_ offset: Int) -> UInt8 { x.load(fromByteOffset: offset, as: UInt8.self) }
        func half(_ offset: Int) -> Float {
            Float(Float16(bitPattern: UInt16(littleEndian: x.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
        }
        switch type {
        case .f32:
            for i in 0..<n { y[i] = Float(bitPattern: UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in 0..<n { y[i] = half(2 * i) }
        case .bf16:
            for i in 0..<n {
                let bits = UInt16(littleEndian: x.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                y[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .q8_0:
            for b in 0..<(n / 32) {
                let base = 34 * b
                let d = half(base)
                for j in 0..<32 { y[32 * b + j] = Float(Int8(bitPattern: u8(base + 2 + j))) * d }
            }
        case .q5_0, .q5_1:
            let affine = type == .q5_1
            let blockBytes = affine ? 24 : 22
            for b in 0..<(n / 32) {
                let base = blockBytes * b
                let d = half(base)
                let m: Float = affine ? half(base + 2) : 0
                let qhOffset = base + (affine ? 4 : 2)
                let qh = UInt32(littleEndian: x.loadUnaligned(fromByteOffset: qhOffset, as: UInt32.self))
                for j in 0..<16 {
                    let byte = u8(qhOffset + 4 + j)
                    let q0 = Int32(byte & 0xF) | Int32((qh >> j) & 1) << 4
                    let q1 = Int32(byte >> 4) | Int32((qh >> (j + 16)) & 1) << 4
                    if affine {
                        y[32 * b + j] = Float(q0) * d + m
                        y[32 * b + j + 16] = Float(q1) * d + m
                    } else {
                        y[32 * b + j] = Float(q0 - 16) * d
                        y[32 * b + j + 16] = Float(q1 - 16) * d
                    }
                }
            }
        case .q4K, .q5K:
            let five = type == .q5K
            let blockBytes = five ? 176 : 144
            let qsOffset = five ? 48 : 16
            for b in 0..<(n / 256) {
                let base = blockBytes * b
                let d = half(base), dmin = half(base + 2)
                let scales = UnsafeRawBufferPointer(start: x + base + 4, count: 12)
                for group in 0..<4 {
                    let (sc1, m1) = GGMLQuantizer.scaleMin(2 * group, scales)
                    let (sc2, m2) = GGMLQuantizer.scaleMin(2 * group + 1, scales)
                    let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                    let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                    for l in 0..<32 {
                        let byte = u8(base + qsOffset + 32 * group + l)
                        var low = Int32(byte & 0xF), high = Int32(byte >> 4)
                        if five {
                            let qh = u8(base + 16 + l)
                            if qh & (UInt8(1) << (2 * group)) != 0 { low += 16 }
                            if qh & (UInt8(2) << (2 * group)) != 0 { high += 16 }
                        }
                        y[256 * b + 64 * group + l] = d1 * Float(low) - min1
                        y[256 * b + 64 * group + 32 + l] = d2 * Float(high) - min2
                    }
                }
            }
        case .q6K:
            for b in 0..<(n / 256) {
                let base = 210 * b
                let d = half(base + 208)
                for part in 0..<2 {
                    let ql = base + 64 * part, qh = base + 128 + 32 * part, sc = base + 192 + 8 * part
                    for l in 0..<32 {
                        let low0 = u8(ql + l), low1 = u8(ql + l + 32), high = u8(qh + l)
                        let q1 = Int32((low0 & 0xF) | ((high & 3) << 4)) - 32
                        let q2 = Int32((low1 & 0xF) | (((high >> 2) & 3) << 4)) - 32
                        let q3 = Int32((low0 >> 4) | (((high >> 4) & 3) << 4)) - 32
                        let q4 = Int32((low1 >> 4) | (((high >> 6) & 3) << 4)) - 32
                        let s = l / 16
                        func scale(_ i: Int) -> Float { Float(Int8(bitPattern: u8(sc + i))) }
                        let out = 256 * b + 128 * part + l
                        y[out] = d * scale(s) * Float(q1)
                        y[out + 32] = d * scale(s + 2) * Float(q2)
                        y[out + 64] = d * scale(s + 4) * Float(q3)
                        y[out + 96] = d * scale(s + 6) * Float(q4)
                    }
                }
            }
        default:
            break
        }
    }
}

extension GGUFTensor {
    /// Values per row (the innermost dimension) and number of rows (all outer dimensions together).
    public var rowShape: (rowCount: Int, rowLength: Int) {
        let length = shape.last ?? 0
        return (shape.dropLast().reduce(1, *), length)
    }

    /// Rows `rows` of the tensor as f32, `destination.count == rows.count * rowLength`; errors name the tensor when
    /// its type cannot be read or the rows are out of range.
    public func dequantize(rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws(ModelError) {
        let (rowCount, rowLength) = rowShape
        guard GGMLDequantizer.canRead(type), let rowBytes = GGMLQuantizer.rowByteCount(type, count: rowLength) else {
            throw ModelError("\(file): tensor \(name) has type \(type), which LingServe cannot dequantize")
        }
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount, destination.count == rows.count * rowLength,
              rowBytes * rowCount == byteCount else {
            throw ModelError("\(file): tensor \(name): rows \(rows) out of range 0..<\(rowCount) (or wrong destination size)")
        }
        guard let out = destination.baseAddress else { return }
        for (i, row) in rows.enumerated() {
            GGMLDequantizer.dequantize(type, UnsafeRawBufferPointer(start: data + row * rowBytes, count: rowBytes),
                                       into: UnsafeMutableBufferPointer(start: out + i * rowLength, count: rowLength))
        }
    }
}
