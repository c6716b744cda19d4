#!/usr/bin/env python3
"""Encode throughput of Python `tokenizers` on one file, as one string (single-threaded: no encode_batch)."""
import json
import os
import sys
import time

from tokenizers import Tokenizer

model, path = sys.argv[1], sys.argv[2]
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
tokenizer = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
with open(path, encoding="utf-8") as handle:
    text = handle.read()
size = len(text.encode("utf-8"))


def documents(text, chunk_size=8192):
    """Lines joined into documents of at least chunk_size UTF-8 bytes (the Swift side cuts identically)."""
    result, current, current_size = [], [], 0
    lines = text.split("\n")
    for index, line in enumerate(lines):
        piece = line + ("\n" if index + 1 < len(lines) else "")
        current.append(piece)
        current_size += len(piece.encode("utf-8"))
        if current_size >= chunk_size:
            result.append("".join(current))
            current, current_size = [], 0
    if current:
        result.append("".join(current))
    return result


for mode, inputs in (("whole", [text]), ("documents", documents(text))):
    best = float("inf")
    count = 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = sum(len(tokenizer.encode(item, add_special_tokens=False).ids) for item in inputs)
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"implementation": "python-tokenizers", "mode": mode, "inputs": len(inputs), "bytes": size,
                      "tokens": count, "seconds": round(best, 4), "mb_per_s": round(size / 1e6 / best, 2)}))
