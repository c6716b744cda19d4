import Tensors

/// All per-pass buffers of the forward pass, sized for the largest batch seen so far.
final class ForwardScratch: @unchecked Sendable {
    let hidden = ScratchArray<Float>()          // [tokenCount, hiddenSize] residual stream
    let normed = ScratchArray<Float>()          // [tokenCount, hiddenSize] norm output / MLP input
    let queryKeyValue = ScratchArray<Float>()   // [tokenCount, qkvSize]
    let attention = ScratchArray<Float>()       // [tokenCount, headCount * headSize]
    let projection = ScratchArray<Float>()      // [tokenCount, hiddenSize] block output before the residual add
    let shared = ScratchArray<Float>()          // [tokenCount, hiddenSize] shared-expert output
    let gate = ScratchArray<Float>()            // [tokenCount, max MLP width]
    let up = ScratchArray<Float>()              // [tokenCount, max MLP width]
    let cosines = ScratchArray<Float>()         // [tokenCount, rotaryDimension / 2]
    let sines = ScratchArray<Float>()           // [tokenCount, rotaryDimension / 2]
    let slots = ScratchArray<Int>()             // [tokenCount] KV slot of each token
    let routerLogits = ScratchArray<Float>()    // [tokenCount, expertCount]
    let expertIds = ScratchArray<Int32>()       // [tokenCount, expertsPerToken]
    let expertWeights = ScratchArray<Float>()   // [tokenCount, expertsPerToken]
    let expertOutput = ScratchArray<Float>()    // [tokenCount * expertsPerToken, hiddenSize]
    let groupOffsets = ScratchArray<Int32>()    // [expertCount + 1]
    let groupRows = ScratchArray<Int32>()       // [tokenCount * expertsPerToken] rows (t * K + k) grouped by expert
    let mtpInput = ScratchArray<Float>()        // [tokenCount, 2 * hiddenSize]
    let attentionLengths = ScratchArray<Int32>()  // [tokenCount] positions each token attends to (position + 1)
    let attentionTiles = ScratchArray<Int>()      // [tileCount, 4] query tiles of the attention pass
    let attentionItems = ScratchArray<Int>()      // [itemCount, 3] (tile, KV head, span) work items
    let attentionWork = ScratchArray<Float>()     // [workerCount, PagedAttention.scratchCount] per-worker kernel scratch
    let attentionPartials = ScratchArray<Float>() // span partials of split tiles (see pagedAttention)
    let logitInput = ScratchArray<Float>()      // [logitRows, hiddenSize]
    let logits = ScratchArray<Float>()          // [logitRows, vocabSize] the pass's output, read in place by the engine

    func reserve(config: ModelConfig, tokenCount: Int) {
        let hiddenSize = config.hiddenSize
        let k = config.expertsPerToken
        let width = max(config.intermediateSize, config.moeIntermediateSize, config.sharedExpertIntermediateSize)
        hidden.reserve(tokenCount * hiddenSize)
        normed.reserve(tokenCount * hiddenSize)
        queryKeyValue.reserve(tokenCount * config.qkvSize)
        attention.reserve(tokenCount * config.headCount * config.headSize)
        projection.reserve(tokenCount * hiddenSize)
        shared.reserve(tokenCount * hiddenSize)
        gate.reserve(tokenCount * width)
        up.reserve(tokenCount * width)
        cosines.reserve(tokenCount * config.rotaryDimension / 2)
        sines.reserve(tokenCount * config.rotaryDimension / 2)
        slots.reserve(tokenCount)
        routerLogits.reserve(tokenCount * config.expertCount)
        expertIds.reserve(tokenCount * k)
        expertWeights.reserve(tokenCount * k)
        expertOutput.reserve(tokenCount * k * hiddenSize)
        groupOffsets.reserve(config.expertCount + 1)
        groupRows.reserve(tokenCount * k)
        mtpInput.reserve(tokenCount * 2 * hiddenSize)
        logitInput.reserve(tokenCount * hiddenSize)
    }
}
