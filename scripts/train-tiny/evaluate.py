"""Evaluates a model folder: validation loss, MTP greedy acceptance and greedy continuations of code prompts.

The figures use train.py's own evaluation (fixed, evenly spaced windows of the held-out split), so a checkpoint can
be measured again, or two checkpoints compared, without training. They are given twice: on the whole held-out split
(as train.py reports) and on the held-out split without its generated codec tables.

Usage (after prepare_data.py):
  python3 evaluate.py --model ../../models/ling-tiny --data work --eval-windows 32
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from ling2 import load_checkpoint
from train import codec_table_mask, evaluate, greedy

PROMPTS = [
    "def fibonacci(n):\n",
    "import os\n\ndef ",
    "class Stack:\n",
    "class Stack:\n    def __init__(self):\n",
    "import os\n\n\ndef list_python_files(directory):\n",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="work")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--eval-windows", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    from tokenizers import Tokenizer

    model_dir = Path(args.model)
    model = load_checkpoint(model_dir).eval()
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    vocab = tokenizer.get_vocab()
    stop_ids = {vocab["<|endoftext|>"], vocab["<|role_end|>"]}
    val_ids = torch.load(Path(args.data) / "val.pt")
    val_loss, val_mtp_loss, acceptance = evaluate(model, val_ids, args.seq, args.eval_windows)
    # The held-out split is 32% generated codec tables (cp862, cp865, cp874, palmos): also measure the rest alone.
    code_ids = val_ids[~codec_table_mask(val_ids, tokenizer, vocab["<|endoftext|>"])]
    code_loss, code_mtp_loss, code_acceptance = evaluate(model, code_ids, args.seq, args.eval_windows)
    samples = [{"prompt": p, "completion": greedy(model, tokenizer, p, args.max_tokens, stop_ids)} for p in PROMPTS]
    report = {
        "model": str(model_dir),
        "eval_tokens": args.eval_windows * args.seq,
        "val_loss": round(val_loss, 4),
        "val_perplexity": round(math.exp(val_loss), 2),
        "val_mtp_loss": round(val_mtp_loss, 4),
        "mtp_greedy_acceptance": round(acceptance, 4),
        "without_codec_tables": {
            "val_tokens": len(code_ids),
            "val_loss": round(code_loss, 4),
            "val_mtp_loss": round(code_mtp_loss, 4),
            "mtp_greedy_acceptance": round(code_acceptance, 4),
        },
        "samples": samples,
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
