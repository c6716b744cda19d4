/// The `pre_tokenizer` section of tokenizer.json as a flat list of steps applied in order to each text piece.
///
/// Pieces are UTF-8 byte slices handed to a non-escaping callback, so the common Split-then-ByteLevel pipeline
/// streams matches straight into the BPE model without materialising a list. `ByteLevel` needs no step of its own
/// unless it adds a prefix space or splits with GPT-2's regex: the model works on raw bytes (see
/// `ByteLevelAlphabet`), so the byte -> character mapping is the identity here.
enum PreTokenizerStep: Sendable {
    case split(SplitMatcher, SplitBehavior, invert: Bool)
    /// Prepends a space to every piece not starting with one (`ByteLevel(add_prefix_space: true)`).
    case prefixSpace
    /// Metaspace: spaces become `replacement`, optionally prepended, then split before each replacement.
    case metaspace(replacement: [UInt8], prepend: MetaspacePrependScheme, split: Bool)
}

enum MetaspacePrependScheme: String, Sendable {
    case always, first, never
}

struct PreTokenizer: Sendable {
    var steps: [PreTokenizerStep]
    /// True when a ByteLevel pre-tokenizer is present: the BPE vocabulary is written in `ByteLevelAlphabet`.
    var isByteLevel: Bool

    /// Calls `emit` for each final piece of `text`. `atStart` tells whether the piece begins the original input
    /// (Metaspace's `prepend_scheme: first`).
    func forEachPiece(
        _ text: UnsafeBufferPointer<UInt8>, atStart: Bool, _ emit: (UnsafeBufferPointer<UInt8>) -> Void
    ) {
        run(stepIndex: 0, text, atStart: atStart, emit)
    }

    private func run(
        stepIndex: Int, _ text: UnsafeBufferPointer<UInt8>, atStart: Bool, _ emit: (UnsafeBufferPointer<UInt8>) -> Void
    ) {
        guard text.count > 0 else { return }
        guard stepIndex < steps.count else {
            emit(text)
            return
        }
        switch steps[stepIndex] {
        case .split(let matcher, let behavior, let invert):
            var merger = SegmentMerger(behavior: behavior, invert: invert)
            let isLast = stepIndex + 1 == steps.count
            func forward(_ range: Range<Int>) {
                let piece = UnsafeBufferPointer(rebasing: text[range])
                if isLast {
                    emit(piece)
                } else {
                    run(stepIndex: stepIndex + 1, piece, atStart: atStart && range.lowerBound == 0, emit)
                }
            }
            matcher.forEachSegment(text) { range, isMatch in merger.add(range, isMatch, forward) }
            merger.finish(forward)
        case .prefixSpace:
            if text[0] == 0x20 {
                run(stepIndex: stepIndex + 1, text, atStart: atStart, emit)
            } else {
                var prefixed: [UInt8] = [0x20]
                prefixed.append(contentsOf: text)
                prefixed.withUnsafeBufferPointer { run(stepIndex: stepIndex + 1, $0, atStart: atStart, emit) }
            }
        case .metaspace(let replacement, let prepend, let split):
            var replaced: [UInt8] = []
            replaced.reserveCapacity(text.count + replacement.count)
            for byte in text {
                if byte == 0x20 { replaced.append(contentsOf: replacement) } else { replaced.append(byte) }
            }
            let startsWithReplacement = replaced.starts(with: replacement)
            if !startsWithReplacement && (prepend == .always || (prepend == .first && atStart)) {
                replaced.insert(contentsOf: replacement, at: 0)
            }
            replaced.withUnsafeBufferPointer { buffer in
                if split {
                    var merger = SegmentMerger(behavior: .mergedWithNext, invert: false)
                    func forward(_ range: Range<Int>) {
                        run(
                            stepIndex: stepIndex + 1, UnsafeBufferPointer(rebasing: buffer[range]),
                            atStart: atStart && range.lowerBound == 0, emit)
                    }
                    SplitMatcher.literal(replacement).forEachSegment(buffer) { range, isMatch in
                        merger.add(range, isMatch, forward)
                    }
                    merger.finish(forward)
                } else {
                    run(stepIndex: stepIndex + 1, buffer, atStart: atStart, emit)
                }
            }
        }
    }
}
