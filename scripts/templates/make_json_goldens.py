#!/usr/bin/env python3
"""Writes Tests/JSONTests/Fixtures/python_dumps.json: JSON inputs with what Python's json.dumps makes of them.

Each case: {"input": <JSON text>, "dumps": json.dumps(x, ensure_ascii=False),
            "indent2": json.dumps(x, ensure_ascii=False, indent=2), "ascii": json.dumps(x),
            "sorted": json.dumps(x, ensure_ascii=False, sort_keys=True)}.
Deterministic (fixed seed). Run: python3 scripts/templates/make_json_goldens.py
"""
import json
import math
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "JSONTests", "Fixtures", "python_dumps.json")

rng = random.Random(20261123)
inputs = [
    "1e16", "1e-05", "0.1", "5e-324", "1.7976931348623157e308", "-0.0", "100.0", "1e15", "1e-4", "0.0001",
    "123456789012345678.0", "2.5e-7", "1E400", "-1e400", "0.30000000000000004", "3.141592653589793", "1e22",
    "9007199254740993", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
    "123456789012345678901234567890", "-0", "0", "1.0", "-1.5e-300", "4.35", "2.2250738585072014e-308",
    '"plain"', '"quote \\" backslash \\\\ slash \\/ end"', '"\\b\\f\\n\\r\\t\\u0000\\u001f\\u007f"',
    '"caf\\u00e9 \\u4e2d\\u6587 \\ud83d\\ude00 emoji 😀 ünïcödé"', '"\\u2028\\u2029"',
    '{"b": 1, "a": [1, 2, {"z": null, "y": true}], "c": {}, "d": [], "é": "x", "B": false}',
    '{"a": 1, "b": 2, "a": 3}', '[[[]], {}, [{}], ""]', '{"nested": {"deep": {"list": [1.5, -2, "x"]}}}',
]
# Random doubles over the whole range, written as their repr (our parser must read them back exactly).
for _ in range(300):
    bits = rng.getrandbits(64)
    value = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if math.isfinite(value):
        inputs.append(repr(value))
for _ in range(200):
    inputs.append(repr(rng.uniform(-1000, 1000)))
    inputs.append(repr(rng.random() * 10 ** rng.randint(-20, 20)))

cases = []
for text in inputs:
    value = json.loads(text)
    cases.append({
        "input": text,
        "dumps": json.dumps(value, ensure_ascii=False),
        "indent2": json.dumps(value, ensure_ascii=False, indent=2),
        "ascii": json.dumps(value),
        "sorted": json.dumps(value, ensure_ascii=False, sort_keys=True),
    })
with open(OUT, "w", encoding="utf-8") as f:
    json.dump(cases, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")
