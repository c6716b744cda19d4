"""Builds the corpus, the tokenizer and the token streams for the tiny Ling 2.0 model.

Corpus: the .py sources of this machine's Python standard library (PSF licence), sorted by relative path, without
site-packages and test directories. Validation split by file: files whose sha1(relative path) ends in byte % 25 == 0.
Chat samples: for each top-level function with a docstring, HUMAN "Write a Python function `sig` that <summary>"
-> ASSISTANT the function's source, rendered with Ling's real chat template (chat_template.jinja, verbatim from
docs/ling2-arch.md section 5).

Writes into OUT (default: ./work): tokenizer.json, train.pt / val.pt (token streams), chat_train.pt / chat_val.pt
(rendered conversations), corpus.json (the files and byte counts used).

Usage: python3 prepare_data.py --out work --vocab 6144
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import random
import sysconfig
from pathlib import Path

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = Path(__file__).resolve().parent

# Ling's pre-tokenizer regex, verbatim from docs/ling2-arch.md section 5 (single digits, possessive quantifiers).
LING_REGEX = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
)

# Added tokens in Ling's id order (docs/ling2-arch.md section 5), (content, special). Ling's 251 reserved tokens
# between </tool_response> and <role> are left out; <think>/</think> are ordinary text in Ling.
ADDED_TOKENS = [
    ("<|startoftext|>", True),
    ("<|endoftext|>", True),
    ("[CLS]", True),
    ("[gMASK]", True),
    ("<|role_end|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<role>", True),
    ("</role>", True),
]

SKIP_DIRS = {"site-packages", "test", "tests", "idle_test", "__pycache__"}


def corpus_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(".py"):
                files.append(Path(dirpath) / name)
    return sorted(files, key=lambda p: str(p.relative_to(root)))


def is_validation(rel: str) -> bool:
    return hashlib.sha1(rel.encode()).digest()[-1] % 25 == 0


def build_tokenizer(texts: list[str], vocab: int) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LING_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab - len(ADDED_TOKENS),
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(texts, trainer=trainer)
    for content, special in ADDED_TOKENS:  # appended one by one so the ids follow Ling's order
        token = AddedToken(content, special=special, normalized=not special, lstrip=False, rstrip=False)
        if special:
            tok.add_special_tokens([token])
        else:
            tok.add_tokens([token])
    return tok


def function_samples(source: str) -> list[tuple[str, str]]:
    """(request, code) pairs for top-level functions and methods with a docstring and a short body."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.col_offset != 0:
            continue
        doc = ast.get_docstring(node)
        code = ast.get_source_segment(source, node)
        if not doc or not code or node.name.startswith("_") or len(code) > 1500:
            continue
        summary = doc.strip().split("\n\n")[0].replace("\n", " ").strip()
        summary = " ".join(summary.split())
        if len(summary) < 12 or len(summary) > 300:
            continue
        args = ast.unparse(node.args)
        summary = summary[0].lower() + summary[1:]
        summary = summary.rstrip(".")
        request = f"Write a Python function `{node.name}({args})` that does the following: {summary}."
        out.append((request, code))
    return out


def render_chat(template, request: str, code: str, system: str | None) -> str:
    messages = []
    if system:
        messages.append({"role": "system", "content": system})
    messages += [{"role": "user", "content": request}, {"role": "assistant", "content": code}]
    return template.render(messages=messages, tools=None, add_generation_prompt=False)


def chat_environment():
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda v, indent=None: json.dumps(v, ensure_ascii=False, indent=indent)
    return env.from_string((HERE / "chat_template.jinja").read_text())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="work")
    ap.add_argument("--vocab", type=int, default=6144)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    root = Path(sysconfig.get_paths()["stdlib"])
    files = corpus_files(root)
    train_texts, val_texts, record = [], [], {"root": str(root), "train": [], "val": []}
    train_bytes = val_bytes = 0
    for path in files:
        rel = str(path.relative_to(root))
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        size = len(text.encode())
        if is_validation(rel):
            val_texts.append((rel, text))
            record["val"].append([rel, size])
            val_bytes += size
        else:
            train_texts.append((rel, text))
            record["train"].append([rel, size])
            train_bytes += size
    record["train_bytes"], record["val_bytes"] = train_bytes, val_bytes
    print(f"corpus: {len(train_texts)} train files ({train_bytes} bytes), {len(val_texts)} val files ({val_bytes} bytes)")

    tok = build_tokenizer([t for _, t in train_texts], args.vocab)
    tok.save(str(out / "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")
    print(f"tokenizer: {tok.get_vocab_size()} tokens, <|endoftext|>={eot}, <|role_end|>={tok.token_to_id('<|role_end|>')}")

    def stream(texts):
        ids = []
        for enc in tok.encode_batch([t for _, t in texts], add_special_tokens=False):
            ids.extend(enc.ids)
            ids.append(eot)
        return torch.tensor(ids, dtype=torch.int32)

    train_ids, val_ids = stream(train_texts), stream(val_texts)
    torch.save(train_ids, out / "train.pt")
    torch.save(val_ids, out / "val.pt")
    print(f"tokens: train {len(train_ids)}, val {len(val_ids)}")

    template = chat_environment()
    rng = random.Random(0)
    systems = [None, None, "You are a helpful assistant.", "You are Ling, an assistant created by inclusionAI."]
    for split, texts in (("train", train_texts), ("val", val_texts)):
        convs = []
        for _, text in texts:
            for request, code in function_samples(text):
                convs.append(render_chat(template, request, code, rng.choice(systems)))
        encs = tok.encode_batch(convs, add_special_tokens=False)
        torch.save([torch.tensor(e.ids + [eot], dtype=torch.int32) for e in encs], out / f"chat_{split}.pt")
        record[f"chat_{split}_samples"] = len(convs)
        print(f"chat {split}: {len(convs)} samples; example:\n{convs[0][:400]}" if convs else f"chat {split}: 0")
    record["train_tokens"], record["val_tokens"] = len(train_ids), len(val_ids)
    (out / "corpus.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
