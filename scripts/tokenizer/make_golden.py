#!/usr/bin/env python3
"""Builds the tokenizer golden corpus under Tests/TokenizersTests/Fixtures/golden/.

1. Trains a small byte-level BPE (6,000 ids) with the `tokenizers` package on local source files, using Ling 2.0's
   exact pipeline: NFC normalizer, Split(Ling's regex, Isolated) + ByteLevel(use_regex=false), ByteLevel decoder,
   Ling's special tokens and two non-special added tokens. Writes it as `ling-style/tokenizer.json`.
2. Generates >= 2,000 test strings (code in several languages, CJK, emoji ZWJ/flags/skin tones, mixed scripts,
   whitespace runs, digit runs, special tokens inside text, combining marks, odd Unicode) with a fixed seed.
3. Encodes them with that tokenizer, with a variant whose added tokens use lstrip/rstrip/single_word, and with the
   reference checkpoint's cl100k-style tokenizer, and writes ids plus decoded text (with and without special
   tokens) as JSON.

Usage: pip install tokenizers && python3 scripts/tokenizer/make_golden.py
"""
import glob
import json
import os
import random
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "TokenizersTests", "Fixtures")
OUT = os.path.join(FIXTURES, "golden")

LING_REGEX = (r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]"
              r"|\s+(?!\S)|\s+")
SPECIAL = ["<|startoftext|>", "<|endoftext|>", "[CLS]", "[gMASK]", "<|role_end|>", "<tool_call>", "</tool_call>",
           "<tool_response>", "</tool_response>"] + [f"<|reserved_token_{i}|>" for i in range(5, 12)] + ["<role>", "</role>"]
ADDED = ["<think>", "</think>"]


def source_files():
    patterns = [
        "/root/.pyenv/versions/3.11.7/lib/python3.11/*.py",
        "/root/.pyenv/versions/3.13.0/include/python3.13/*.h",
        "/root/.pyenv/versions/3.13.0/lib/python3.13/test/*.c",
        "/usr/lib/node_modules/npm/node_modules/*/lib/*.js",
        os.path.join(ROOT, ".build/checkouts/swift-argument-parser/Sources/ArgumentParser/*/*.swift"),
        "/usr/share/doc/git/contrib/*/*.go",
        "/usr/share/dpkg/sh/*.sh",
        "/usr/lib/node_modules/npm/node_modules/glob/dist/esm/*.d.ts",
    ]
    files = []
    for pattern in patterns:
        files.extend(sorted(glob.glob(pattern)))
    return [f for f in files if os.path.getsize(f) > 500]


def read(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def train(files):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LING_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=6000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    texts = [read(f) for f in files[:400]]
    texts += [MULTILINGUAL] * 20
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=True) for t in ADDED])
    return tokenizer


MULTILINGUAL = """
人工智能是计算机科学的一个分支。你好，世界！我们今天讨论分词器的实现细节。
日本語のテキストとカタカナ、ひらがなを混ぜた文章です。東京で会いましょう。
한국어 문장도 포함합니다. 안녕하세요, 세계!
Привет, мир! Это тестовая строка на русском языке.
Γειά σου κόσμε! Ελληνικά κείμενα.
مرحبا بالعالم! هذا نص عربي.
שלום עולם! טקסט בעברית.
नमस्ते दुनिया! यह हिंदी पाठ है।
สวัสดีชาวโลก ภาษาไทย
Tiếng Việt có dấu: Xin chào thế giới.
naïve café résumé Ångström Zürich São Paulo façade coöperate
😀😃😄😁 👍🏽👋🏿 👨‍👩‍👧‍👦 🇨🇳🇺🇸🇯🇵 ❤️ ✨ 🎉
"""

CJK = "人工智能是计算机科学的一个分支你好世界我们今天讨论分词器的实现细节中文测试东京大阪漢字"
KANA = "あいうえおかきくけこさしすせそがぎぐげごぱぴぷぺぽアイウエオカキクケコガギグゲゴ"
HANGUL = "안녕하세요세계한국어문장도포함합니다"
SCRIPTS = ["Привет мир", "Γειά σου", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดี", "Xin chào",
           "ሰላም", "Բարեւ", "გამარჯობა", "வணக்கம்", "ಹಲೋ", "ສະບາຍດີ", "မင်္ဂလာပါ", "ᏣᎳᎩ"]
EMOJI = ["😀", "👍🏽", "👋🏿", "👨‍👩‍👧‍👦", "👩🏾‍💻", "🏳️‍🌈", "🇨🇳", "🇺🇸", "🇯🇵", "❤️", "✨", "#️⃣", "1️⃣", "🧑🏻‍🤝‍🧑🏿",
         "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "👁️‍🗨️", "🤷‍♀️", "🎉", "☺︎", "🫠"]
WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085", "\u200b",
              "\u2003", "\u202f", "\u000b", "\u000c", " \n ", "\n\n\n", "\t\t "]
DIGITS = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "０１２３４５", "²³¹", "½¼¾", "ⅠⅡⅢⅫ", "①②③", "१२३", "๑๒๓", "𝟘𝟙𝟚"]
COMBINING = ["e\u0301", "a\u0308", "o\u0302\u0323", "o\u0323\u0302", "\u212b", "\u2126", "\uf900", "\u0344",
             "\u1100\u1161\u11a8", "\u304b\u3099", "\u30cf\u309a", "n\u0303\u0301", "q\u0307\u0323",
             "\u0958", "\u1e9b\u0323", "A\u030a", "\u0041\u0300\u0316"]
ODD = ["\u0000", "\u007f", "\ufeff", "\u200e", "\u200f", "\u202e", "\u200d", "\ufe0f", "\ue000", "\uffff",
       "\U0010ffff", "\U000e0061", "\u00ad", "\u034f", "\u2060", "'ſ", "'S", "'LL", "'Re", "'VE", "'d", "'x",
       "\u01c5", "\u1e9e", "\u0130", "ǅ", "ﬁ", "\U0001d400", "\u2028x", "\U00020000", "\U0002a6d6"]
CONTRACTIONS = ["don't", "we'll", "I'M", "You'RE", "they've", "she'd", "it's", "O'Neil", "rock'n'roll", "'''",
                "ma'am", "y'all", "'tis", "ca n't", "DON'T"]
PUNCT = ["...", "!!!", "?!", "->", "=>", "::", "//", "/*", "*/", "{}", "[]", "()", "<>", "&&", "||", "!=", "==",
         "+=", "**", "##", "@@", "$$", "%%", "^^", "~~", "``", "\"\"", "''", "—", "–", "…", "«»", "„“", "、。",
         "！？", "：；", "【】", "「」"]
PARTIAL_SPECIAL = ["<role", "role>", "<|endoftext", "|>", "<|", "[gMASK", "</think", "<think >", "< think>",
                   "<THINK>", "<|ROLE_END|>"]


def pick(rng, items):
    return items[rng.randrange(len(items))]


def random_scalar(rng):
    while True:
        ranges = [(0x20, 0x7f), (0xa0, 0x2ff), (0x300, 0x36f), (0x370, 0x52f), (0x590, 0x6ff), (0x900, 0xdff),
                  (0x1100, 0x11ff), (0x1e00, 0x1fff), (0x2000, 0x2bff), (0x3000, 0x30ff), (0x3400, 0x4dbf),
                  (0x4e00, 0x9fff), (0xac00, 0xd7a3), (0xf900, 0xfaff), (0xfb00, 0xfdff), (0xfe00, 0xffef),
                  (0x10000, 0x1ffff), (0x1f300, 0x1faff), (0x20000, 0x2ffff), (0xe0000, 0xe007f), (0x0, 0x10ffff)]
        low, high = pick(rng, ranges)
        value = rng.randint(low, high)
        if 0xd800 <= value <= 0xdfff:
            continue
        return chr(value)


def code_snippet(rng, files):
    text = read(pick(rng, files))
    if len(text) < 50:
        return text
    start = rng.randrange(0, max(1, len(text) - 50))
    return text[start:start + rng.randint(20, 600)]


def generators(files):
    def code(rng):
        return code_snippet(rng, files)

    def cjk(rng):
        parts = [pick(rng, [CJK, KANA, HANGUL])[rng.randrange(10):][:rng.randint(1, 30)] for _ in range(rng.randint(1, 4))]
        return pick(rng, ["", " ", "，", "。", "\n", "、"]).join(parts)

    def emoji(rng):
        return "".join(pick(rng, EMOJI) + pick(rng, ["", "", " ", "text", "\n", "中"]) for _ in range(rng.randint(1, 8)))

    def mixed(rng):
        pool = SCRIPTS + [CJK[:8], KANA[:8], "English words", "mixedCase", "snake_case_name", "ÀÉÎÕÜ"] + EMOJI[:5]
        return pick(rng, [" ", "", "-", ", "]).join(pick(rng, pool) for _ in range(rng.randint(2, 7)))

    def whitespace(rng):
        return "".join(pick(rng, WHITESPACE + ["a", "b", "word", "x1", "!", "中", "é"]) for _ in range(rng.randint(1, 20)))

    def digits(rng):
        run = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 60)))
        return pick(rng, ["", "id ", "x", " ", "$", "v", "-", "+"]) + run + pick(rng, ["", ".", ".5", " and ", "e10", "km"]) + \
            pick(rng, DIGITS)[:rng.randint(1, 6)]

    def special(rng):
        pieces = []
        for _ in range(rng.randint(1, 8)):
            pieces.append(pick(rng, SPECIAL + ADDED + PARTIAL_SPECIAL + ["hi", " there", "\n", "SYSTEM", "HUMAN", "中文", "😀",
                                                                           " ", "  ", "a", "x=1"]))
        return "".join(pieces)

    def combining(rng):
        return "".join(pick(rng, COMBINING + ["a", "e", " ", "x", "\u0301", "\u0308\u0301", "ß"]) for _ in range(rng.randint(1, 10)))

    def odd(rng):
        return "".join(pick(rng, ODD + CONTRACTIONS + PUNCT + [" ", "a", "A", "\n"]) for _ in range(rng.randint(1, 10)))

    def random_unicode(rng):
        return "".join(random_scalar(rng) for _ in range(rng.randint(1, 40)))

    def contractions(rng):
        return " ".join(pick(rng, CONTRACTIONS + ["word", "'", "''", "’s"]) for _ in range(rng.randint(1, 8)))

    def punctuation(rng):
        return "".join(pick(rng, PUNCT + [" ", "\n", "a", "1", "  "]) for _ in range(rng.randint(1, 12)))

    return [("code", code, 500), ("cjk", cjk, 180), ("emoji", emoji, 180), ("mixed", mixed, 180),
            ("whitespace", whitespace, 200), ("digits", digits, 150), ("special", special, 200),
            ("combining", combining, 150), ("odd", odd, 150), ("random", random_unicode, 200),
            ("contractions", contractions, 80), ("punctuation", punctuation, 100)]


def corpus(files):
    rng = random.Random(20261123)
    strings = ["", " ", "\n", "a", "Hello, world!", MULTILINGUAL]
    strings += SPECIAL + ADDED + SCRIPTS + EMOJI + WHITESPACE + DIGITS + COMBINING + ODD + CONTRACTIONS
    for _, make, count in generators(files):
        strings += [make(rng) for _ in range(count)]
    # Long inputs: a whole source file, a long digit run, a long whitespace run, a long punctuation run.
    strings.append(read(files[0])[:20000])
    strings.append("1234567890" * 300)
    strings.append(" " * 3000 + "x")
    strings.append("=" * 2000)
    strings.append("ab" * 2000)
    return strings


def golden(tokenizer, strings):
    cases = []
    for text in strings:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        cases.append({
            "text": text,
            "ids": ids,
            "ids_add_special_tokens": tokenizer.encode(text, add_special_tokens=True).ids,
            "decoded": tokenizer.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tokenizer.decode(ids, skip_special_tokens=True),
        })
    return cases


def write(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, ensure_ascii=False, separators=(",", ":"))


def main():
    import tokenizers
    files = source_files()
    if len(files) < 50:
        sys.exit(f"only {len(files)} local source files found")
    tokenizer = train(files)
    os.makedirs(os.path.join(OUT, "ling-style"), exist_ok=True)
    tokenizer.save(os.path.join(OUT, "ling-style", "tokenizer.json"))
    strings = corpus(files)

    meta = {"library": f"tokenizers {tokenizers.__version__}", "strings": len(strings)}
    write(os.path.join(OUT, "ling-style", "golden.json"), {"meta": meta, "cases": golden(tokenizer, strings)})

    # Variant: the same model with added tokens using lstrip / rstrip / single_word / normalized content.
    variant = json.loads(tokenizer.to_str())
    next_id = max(t["id"] for t in variant["added_tokens"]) + 1
    extra = [("<mask>", dict(lstrip=True)), ("[SEP]", dict(rstrip=True)), ("hello", dict(single_word=True)),
             ("<pad>", dict(lstrip=True, rstrip=True)), ("ÉCOLE", dict(normalized=True))]
    for offset, (content, flags) in enumerate(extra):
        entry = {"id": next_id + offset, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True}
        entry.update(flags)
        variant["added_tokens"].append(entry)
    variant["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]}
    variant_tokenizer = Tokenizer.from_str(json.dumps(variant))
    os.makedirs(os.path.join(OUT, "added-flags"), exist_ok=True)
    variant_tokenizer.save(os.path.join(OUT, "added-flags", "tokenizer.json"))
    rng = random.Random(7)
    variant_strings = []
    for _ in range(400):
        parts = [pick(rng, ["<mask>", "[SEP]", "hello", "<pad>", "ÉCOLE", "école", "E\u0301COLE", " ", "  ", "\t",
                            "\n", "say", "hello", "ohello", "hello_x", "hello!", " hello ", "中文", "<think>",
                            "<|endoftext|>", "x"]) for _ in range(rng.randint(1, 9))]
        variant_strings.append("".join(parts))
    write(os.path.join(OUT, "added-flags", "golden.json"),
          {"meta": meta, "cases": golden(variant_tokenizer, variant_strings)})

    # cl100k-style: the reference checkpoint's tokenizer (1-3 digit groups) on the same corpus.
    reference = Tokenizer.from_file(os.path.join(FIXTURES, "stress-f32", "tokenizer.json"))
    write(os.path.join(OUT, "cl100k-style-golden.json"), {"meta": meta, "cases": golden(reference, strings)})
    component_variants(files, strings)
    print(f"{len(strings)} strings, vocab {tokenizer.get_vocab_size()}, written to {OUT}")


def component_variants(files, strings):
    """Small tokenizers exercising the other components, each with a golden file over part of the corpus."""
    import tokenizers
    texts = [read(f) for f in files[:150]] + [MULTILINGUAL] * 10
    subset = strings[:700]
    meta = {"library": f"tokenizers {tokenizers.__version__}", "strings": len(subset)}

    def save(name, tokenizer):
        os.makedirs(os.path.join(OUT, name), exist_ok=True)
        tokenizer.save(os.path.join(OUT, name, "tokenizer.json"))
        write(os.path.join(OUT, name, "golden.json"), {"meta": meta, "cases": golden(tokenizer, subset)})

    # GPT-2 style: ByteLevel with its own regex and a prefix space; TemplateProcessing around the sequence.
    gpt2 = Tokenizer(models.BPE())
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    gpt2.decoder = decoders.ByteLevel()
    gpt2.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=2000, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<s>", "</s>"]))
    gpt2.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 1)])
    save("gpt2-style", gpt2)

    # SentencePiece style: Metaspace pre-tokenizer and decoder, character BPE with byte fallback and <unk>.
    spm = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    spm.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    spm.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    spm.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=3000, show_progress=False, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=300))
    config = json.loads(spm.to_str())
    vocab = config["model"]["vocab"]
    for byte in range(256):
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    spm = Tokenizer.from_str(json.dumps(config))
    spm.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    save("metaspace-style", spm)

    # Llama-2 style on the same model: normalizer Prepend + Replace, no pre-tokenizer, decoder chain.
    config = json.loads(spm.to_str())
    config["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    config["pre_tokenizer"] = None
    config["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    save("llama2-style", Tokenizer.from_str(json.dumps(config)))

    # BERT-like chain: NFKC, Lowercase, Strip; Whitespace, Digits and Punctuation pre-tokenizers; no decoder.
    chain = Tokenizer(models.BPE(unk_token="[UNK]"))
    chain.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Strip()])
    chain.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.Punctuation()])
    chain.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=2000, show_progress=False, special_tokens=["[UNK]", "[CLS]", "[SEP]"], limit_alphabet=200))
    chain.post_processor = processors.BertProcessing(("[SEP]", 2), ("[CLS]", 1))
    save("bert-chain", chain)

    # WhitespaceSplit and a Split with a general regex and MergedWithPrevious / Contiguous behaviours.
    config = json.loads(chain.to_str())
    config["normalizer"] = None
    config["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"},
        {"type": "Split", "pattern": {"Regex": "[aeiou]+"}, "behavior": "MergedWithPrevious", "invert": False},
        {"type": "Split", "pattern": {"String": "-"}, "behavior": "Contiguous", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[0-9]"}, "behavior": "MergedWithNext", "invert": True}]}
    save("split-behaviors", Tokenizer.from_str(json.dumps(config)))


if __name__ == "__main__":
    main()
