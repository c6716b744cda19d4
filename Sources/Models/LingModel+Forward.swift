import Foundation
import KVCache
import Tensors

extension LingModel {
    /// Runs the decoder over a flat batch: writes every token's K/V into `kv` (decoder layers) and returns the
    /// logits of `batch.logitRows` (and the final-normed hidden states when `batch.returnsHidden`).
    public func forward(_ batch: ForwardBatch, kv: KVStorage) throws(ModelError) -> ForwardOutput {
        try forwardInScratch(batch, kv: kv).copied
    }

    /// `forward` without the copy: the logits and hidden states stay in the model's scratch until its next pass.
    public func forwardInScratch(_ batch: ForwardBatch, kv: KVStorage) throws(ModelError) -> ForwardView {
        try validate(batch, kv: kv, layerCount: config.layerCount)
        profile?.beginPass()
        let tokenCount = batch.tokenCount
        prepare(batch, kv: kv)
        let hiddenSize = config.hiddenSize
        let hidden = scratch.hidden.pointer
        for t in 0..<tokenCount {
            Kernels.rowToF32(hidden + t * hiddenSize, weights.embedding, row: Int(batch.tokenIds[t]))
        }
        profile?.lap(.embedding)
        for (index, layer) in weights.layers.enumerated() {
            runLayer(layer, index: index, kvLayer: index, batch: batch, kv: kv)
        }
        let normed = scratch.normed.pointer
        weights.finalNorm.withUnsafeBufferPointer { w in
            for t in 0..<tokenCount {
                rmsNorm(normed + t * hiddenSize, hidden + t * hiddenSize, w.baseAddress!, count: hiddenSize)
            }
        }
        profile?.lap(.norms)
        return output(batch, finalHidden: normed)
    }

    /// Runs the MTP layer. Row t takes `batch.tokenIds[t]` (the token AFTER the one main-model row t saw) and
    /// `hidden` row t (the main model's final-normed hidden state, [tokenCount, hiddenSize]) at `batch.positions[t]`,
    /// writes the MTP layer's own K/V, and returns logits (drafts for the token after `tokenIds[t]`).
    public func forwardMTP(_ batch: ForwardBatch, hidden mainHidden: [Float], kv: KVStorage) throws(ModelError) -> ForwardOutput {
        try mainHidden.withUnsafeBufferPointer { (h) throws(ModelError) -> ForwardOutput in
            try forwardMTPInScratch(batch, hidden: h, kv: kv).copied
        }
    }

    /// `forwardMTP` without the copies: `mainHidden` is read in place, the results stay in the model's scratch until
    /// its next pass.
    public func forwardMTPInScratch(_ batch: ForwardBatch, hidden mainHidden: UnsafeBufferPointer<Float>, kv: KVStorage)
        throws(ModelError) -> ForwardView
    {
        guard let mtp = weights.mtp else { throw ModelError("\(directory): this checkpoint has no MTP layer (num_nextn_predict_layers)") }
        try validate(batch, kv: kv, layerCount: config.layerCount + 1)
        let tokenCount = batch.tokenCount
        let hiddenSize = config.hiddenSize
        guard mainHidden.count == tokenCount * hiddenSize else {
            throw ModelError("forwardMTP: hidden has \(mainHidden.count) floats, expected tokenCount x hiddenSize = \(tokenCount * hiddenSize)")
        }
        profile?.beginPass()
        prepare(batch, kv: kv)
        let input = scratch.mtpInput.pointer   // [tokenCount, 2 * hiddenSize]: enorm(embedding) | hnorm(hidden)
        let embedding = scratch.normed.pointer
        mtp.embeddingNorm.withUnsafeBufferPointer { enorm in
            mtp.hiddenNorm.withUnsafeBufferPointer { hnorm in
                for t in 0..<tokenCount {
                    let e = embedding + t * hiddenSize
                    Kernels.rowToF32(e, weights.embedding, row: Int(batch.tokenIds[t]))
                    rmsNorm(input + t * 2 * hiddenSize, e, enorm.baseAddress!, count: hiddenSize)
                    rmsNorm(input + t * 2 * hiddenSize + hiddenSize, mainHidden.baseAddress! + t * hiddenSize,
                            hnorm.baseAddress!, count: hiddenSize)
                }
            }
        }
        let hidden = scratch.hidden.pointer
        pool.linear(hidden, yStride: hiddenSize, input, xStride: 2 * hiddenSize, mtp.projection, tokenCount: tokenCount)
        runLayer(mtp.layer, index: config.layerCount, kvLayer: config.layerCount, batch: batch, kv: kv)
        let normed = scratch.normed.pointer
        mtp.finalNorm.withUnsafeBufferPointer { w in
            for t in 0..<tokenCount {
                rmsNorm(normed + t * hiddenSize, hidden + t * hiddenSize, w.baseAddress!, count: hiddenSize)
            }
        }
        return output(batch, finalHidden: normed)
    }

    // MARK: - steps

    private func validate(_ batch: ForwardBatch, kv: KVStorage, layerCount: Int) throws(ModelError) {
        let count = batch.tokenCount
        guard count > 0 else { throw ModelError("forward: empty batch") }
        guard batch.positions.count == count, batch.sequenceIndices.count == count else {
            throw ModelError("forward: tokenIds, positions and sequenceIndices must have the same length")
        }
        guard kv.layerCount >= layerCount, kv.kvHeadCount == config.kvHeadCount, kv.headSize == config.headSize else {
            throw ModelError("forward: KV storage geometry (\(kv.layerCount) layers, \(kv.kvHeadCount)x\(kv.headSize)) "
                + "does not fit this model (\(layerCount) layers, \(config.kvHeadCount)x\(config.headSize))")
        }
        for t in 0..<count {
            let token = Int(batch.tokenIds[t])
            guard token >= 0 && token < config.vocabSize else {
                throw ModelError("forward: token id \(token) at row \(t) is outside the vocabulary (0..<\(config.vocabSize))")
            }
            let s = Int(batch.sequenceIndices[t])
            guard s >= 0 && s < batch.sequences.count else { throw ModelError("forward: row \(t) has sequence index \(s) out of range") }
            let sequence = batch.sequences[s]
            let position = Int(batch.positions[t])
            guard position >= 0, position < sequence.contextLength else {
                throw ModelError("forward: row \(t) position \(position) is outside 0..<contextLength (\(sequence.contextLength))")
            }
        }
        for (s, sequence) in batch.sequences.enumerated() {
            let needed = (sequence.contextLength + kv.blockSize - 1) / kv.blockSize
            guard sequence.blockTable.count >= needed else {
                throw ModelError("forward: sequence \(s) needs \(needed) blocks for \(sequence.contextLength) positions, "
                    + "block table has \(sequence.blockTable.count)")
            }
            for block in sequence.blockTable.prefix(needed) where block < 0 || Int(block) >= kv.blockCount {
                throw ModelError("forward: sequence \(s) block id \(block) is outside 0..<\(kv.blockCount)")
            }
        }
        for row in batch.logitRows where row < 0 || Int(row) >= count {
            throw ModelError("forward: logit row \(row) is outside 0..<\(count)")
        }
    }

    /// Sizes scratch, computes each token's KV slot and RoPE table.
    private func prepare(_ batch: ForwardBatch, kv: KVStorage) {
        let tokenCount = batch.tokenCount
        scratch.reserve(config: config, tokenCount: tokenCount)
        let half = rope.rotaryDimension / 2
        for t in 0..<tokenCount {
            let sequence = batch.sequences[Int(batch.sequenceIndices[t])]
            let position = Int(batch.positions[t])
            scratch.slots.pointer[t] = Int(sequence.blockTable[position / kv.blockSize]) * kv.blockSize + position % kv.blockSize
            rope.table(position: position, cosines: scratch.cosines.pointer + t * half, sines: scratch.sines.pointer + t * half)
        }
    }

    /// The logits of `batch.logitRows` into scratch.logits; the final-normed rows stay where they are.
    private func output(_ batch: ForwardBatch, finalHidden: UnsafeMutablePointer<Float>) -> ForwardView {
        let hiddenSize = config.hiddenSize
        let vocab = config.vocabSize
        let rows = batch.logitRows.count
        let input = scratch.logitInput.pointer   // [rows, hiddenSize]
        for (r, row) in batch.logitRows.enumerated() {
            (input + r * hiddenSize).update(from: finalHidden + Int(row) * hiddenSize, count: hiddenSize)
        }
        scratch.logits.reserve(rows * vocab)
        let logits = scratch.logits.pointer      // [rows, vocab]
        if rows > 0 {
            pool.linear(logits, yStride: vocab, input, xStride: hiddenSize, weights.lmHead, tokenCount: rows)
        }
        profile?.lap(.lmHead)
        let hidden = UnsafeBufferPointer(start: finalHidden, count: batch.returnsHidden ? batch.tokenCount * hiddenSize : 0)
        return ForwardView(logits: UnsafeMutableBufferPointer(start: logits, count: rows * vocab), vocabSize: vocab,
                           hidden: hidden)
    }

    /// One pre-norm decoder layer over scratch.hidden: attention block, then dense or MoE feed-forward.
    func runLayer(_ layer: LayerWeights, index: Int, kvLayer: Int, batch: ForwardBatch, kv: KVStorage) {
        attentionBlock(layer.attention, kvLayer: kvLayer, batch: batch, kv: kv)
        let tokenCount = batch.tokenCount
        let hiddenSize = config.hiddenSize
        let hidden = scratch.hidden.pointer
        let normed = scratch.normed.pointer
        layer.attention.postAttentionNorm.withUnsafeBufferPointer { w in
            for t in 0..<tokenCount {
                rmsNorm(normed + t * hiddenSize, hidden + t * hiddenSize, w.baseAddress!, count: hiddenSize)
            }
        }
        profile?.lap(.norms)
        let projection = scratch.projection.pointer
        switch layer.feedForward {
        case .dense(let mlp):
            swiGLU(mlp, input: normed, output: projection, tokenCount: tokenCount)
            for i in 0..<(tokenCount * hiddenSize) { hidden[i] += projection[i] }
            profile?.lap(.denseMLP)
        case .moe(let moe):
            mixtureOfExperts(moe, layer: index, input: normed, output: projection, tokenCount: tokenCount)
            for i in 0..<(tokenCount * hiddenSize) { hidden[i] += projection[i] }
            profile?.lap(.combine)
        }
    }

    /// output = down(silu(gate(x)) * up(x)) over the pool; x, output: [tokenCount, hiddenSize].
    func swiGLU(_ mlp: SwiGLUWeights, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, tokenCount: Int) {
        let width = mlp.gate.rowCount
        let hiddenSize = config.hiddenSize
        let gate = scratch.gate.pointer
        let up = scratch.up.pointer
        pool.linear(gate, yStride: width, input, xStride: hiddenSize, mlp.gate, tokenCount: tokenCount)
        pool.linear(up, yStride: width, input, xStride: hiddenSize, mlp.up, tokenCount: tokenCount)
        swiGLUActivate(gate, up, count: tokenCount * width)
        pool.linear(output, yStride: hiddenSize, gate, xStride: width, mlp.down, tokenCount: tokenCount)
    }

    /// RMSNorm in f32 statistics: out = w * (x / sqrt(mean(x^2) + eps)).
    @inline(__always)
    func rmsNorm(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, count: Int) {
        var sum: Double = 0
        for i in 0..<count { sum += Double(x[i]) * Double(x[i]) }
        let scale = Float(1 / (sum / Double(count) + config.rmsNormEps).squareRoot())
        for i in 0..<count { out[i] = w[i] * (x[i] * scale) }
    }
}
