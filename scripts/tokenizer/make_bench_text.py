#!/usr/bin/env python3
"""Writes ~10 MB of mixed text (source code, prose in several scripts, emoji, digits) for the tokenizer benchmark."""
import glob
import random
import sys

out = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
files = sorted(glob.glob("/root/.pyenv/versions/3.11.7/lib/python3.11/*.py")) + \
    sorted(glob.glob("/root/.pyenv/versions/3.13.0/include/python3.13/*.h")) + \
    sorted(glob.glob("/usr/lib/node_modules/npm/node_modules/*/lib/*.js"))
prose = ("人工智能是计算机科学的一个分支。你好，世界！日本語のテキストとカタカナ。안녕하세요, 세계! Привет, мир! "
         "naïve café résumé 😀👍🏽 👨‍👩‍👧‍👦 🇨🇳 The quick brown fox jumps over the lazy dog in 2025, costing $1,234.56.\n")
rng = random.Random(1)
parts, total = [], 0
while total < size:
    with open(rng.choice(files), encoding="utf-8", errors="replace") as handle:
        chunk = handle.read()[:200_000]
    chunk += prose * rng.randint(1, 20)
    parts.append(chunk)
    total += len(chunk.encode("utf-8"))
text = "".join(parts).encode("utf-8")[:size].decode("utf-8", errors="ignore")
with open(out, "w", encoding="utf-8") as handle:
    handle.write(text)
