"""Trains the tiny Ling 2.0 model (time-boxed) and writes the Hugging Face layout into --out.

Usage (after prepare_data.py):
  nice -n 5 python3 train.py --data work --out ../../models/ling-tiny --minutes 38

The learning rate follows a warmup + cosine schedule over the time box (progress = elapsed / budget), so a run
ends on a decayed learning rate whatever the machine's speed. A checkpoint (all files of the model folder) is
written every --save-minutes, so an interrupted run still leaves a usable model.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import time
from pathlib import Path

import torch

from ling2 import LingConfig, LingForCausalLM, save_checkpoint

HERE = Path(__file__).resolve().parent


def ant_config(vocab: dict, args) -> dict:
    """config.json in the format of Ant's converter (gen_config) for BailingMoeV2ForCausalLM."""
    return {
        "architectures": ["BailingMoeV2ForCausalLM"],
        "attention_dropout": 0.0,
        "auto_map": {
            "AutoConfig": "configuration_bailing_moe_v2.BailingMoeV2Config",
            "AutoModel": "modeling_bailing_moe_v2.BailingMoeV2Model",
            "AutoModelForCausalLM": "modeling_bailing_moe_v2.BailingMoeV2ForCausalLM",
        },
        "bos_token_id": vocab["<|startoftext|>"],
        "eos_token_id": vocab["<|endoftext|>"],
        "pad_token_id": vocab["<|endoftext|>"],
        "embedding_dropout": 0.0,
        "first_k_dense_replace": 1,
        "head_dim": args.head_dim,
        "hidden_act": "silu",
        "hidden_size": args.hidden,
        "initializer_range": 0.02,
        "intermediate_size": args.intermediate,
        "max_position_embeddings": 32768,
        "max_window_layers": args.layers,
        "model_type": "bailing_moe",
        "moe_intermediate_size": args.moe_intermediate,
        "moe_router_enable_expert_bias": True,
        "moe_shared_expert_intermediate_size": args.moe_intermediate,
        "mtp_loss_scaling_factor": args.mtp_scale,
        "n_group": args.groups,
        "norm_topk_prob": True,
        "num_attention_heads": args.heads,
        "num_experts": args.experts,
        "num_experts_per_tok": args.topk,
        "num_hidden_layers": args.layers,
        "num_key_value_heads": args.kv_heads,
        "num_nextn_predict_layers": 1,
        "num_shared_experts": 1,
        "output_dropout": 0.0,
        "output_router_logits": False,
        "partial_rotary_factor": 0.5,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 600000.0,
        "routed_scaling_factor": 2.5,
        "router_dtype": "fp32",
        "score_function": "sigmoid",
        "tie_word_embeddings": False,
        "topk_group": args.topk_groups,
        "torch_dtype": "bfloat16",
        "dtype": "bfloat16",
        "transformers_version": "4.57.6",
        "use_bias": False,
        "use_cache": True,
        "use_qk_norm": True,
        "use_qkv_bias": False,
        "use_rmsnorm": True,
        "vocab_size": args.vocab,
    }


def write_tokenizer_files(data: Path, out: Path, vocab: dict):
    out.mkdir(parents=True, exist_ok=True)
    tok = json.loads((data / "tokenizer.json").read_text())
    shutil.copy(data / "tokenizer.json", out / "tokenizer.json")
    added = {
        str(t["id"]): {
            "content": t["content"],
            "lstrip": t["lstrip"],
            "normalized": t["normalized"],
            "rstrip": t["rstrip"],
            "single_word": t["single_word"],
            "special": t["special"],
        }
        for t in tok["added_tokens"]
    }
    config = {
        "add_bos_token": False,
        "add_eos_token": False,
        "added_tokens_decoder": added,
        "bos_token": "<|startoftext|>",
        "chat_template": (HERE / "chat_template.jinja").read_text(),
        "clean_up_tokenization_spaces": False,
        "cls_token": "[CLS]",
        "eos_token": "<|role_end|>",
        "extra_special_tokens": {"gmask_token": "[gMASK]"},
        "fast_tokenizer": True,
        "gmask_token": "[gMASK]",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "trust_remote_code": False,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    special = {
        "bos_token": "<|startoftext|>",
        "cls_token": "[CLS]",
        "eos_token": "<|role_end|>",
        "gmask_token": "[gMASK]",
        "pad_token": "<|endoftext|>",
    }
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    generation = {
        "bos_token_id": vocab["<|startoftext|>"],
        "eos_token_id": [vocab["<|endoftext|>"], vocab["<|role_end|>"]],
        "pad_token_id": vocab["<|endoftext|>"],
        "transformers_version": "4.57.6",
    }
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")


# The generated character-map codecs (encodings/cp037.py, mac_roman.py, ...) are 15.5% of the training tokens and
# nearly all table rows ("    '\\x80'     #  0x80 -> LATIN ..."); at this model size they dominate greedy decoding.
CODEC_TABLE = re.compile(r'"""\s*Python Character Mapping Codec')  # matched at the start of a file


def codec_table_mask(stream: torch.Tensor, tokenizer, eot: int) -> torch.Tensor:
    """[tokens] bool: True on the tokens of files that are generated character-map codec tables."""
    mask = torch.zeros(len(stream), dtype=torch.bool)
    ends = (stream == eot).nonzero().flatten().tolist()
    start = 0
    for end in ends:
        head = tokenizer.decode(stream[start : min(end, start + 200)].tolist())
        if CODEC_TABLE.match(head):
            mask[start : end + 1] = True
        start = end + 1
    return mask


class Batches:
    """Rows of seq+1 tokens: random windows of the code stream, and a share of rows that start at a chat sample.

    A window that touches a token flagged in `down` (the codec tables) is kept only with probability `down_keep`."""

    def __init__(self, stream: torch.Tensor, chats: list[torch.Tensor], seq: int, chat_share: float, seed: int,
                 down: torch.Tensor | None = None, down_keep: float = 1.0):
        self.stream, self.chats, self.seq, self.chat_share = stream.long(), chats, seq, chat_share
        self.rng = random.Random(seed)
        self.down_keep = down_keep
        # down_prefix[i] = flagged tokens before i, so a window's flagged count is one subtraction
        self.down_prefix = None if down is None else torch.cat([torch.zeros(1, dtype=torch.long), down.long().cumsum(0)])

    def row(self) -> torch.Tensor:
        n = self.seq + 1
        if self.chats and self.rng.random() < self.chat_share:
            parts, total = [], 0
            while total < n:
                c = self.chats[self.rng.randrange(len(self.chats))].long()
                parts.append(c)
                total += len(c)
            return torch.cat(parts)[:n]
        while True:
            start = self.rng.randrange(len(self.stream) - n)
            if self.down_prefix is None or self.down_keep >= 1.0:
                break
            flagged = int(self.down_prefix[start + n] - self.down_prefix[start])
            if flagged == 0 or self.rng.random() < self.down_keep:
                break
        return self.stream[start : start + n]

    def batch(self, size: int) -> torch.Tensor:
        return torch.stack([self.row() for _ in range(size)])


@torch.no_grad()
def evaluate(model: LingForCausalLM, val: torch.Tensor, seq: int, windows: int):
    """Validation loss (main, MTP) and MTP greedy acceptance over fixed, evenly spaced windows of held-out text."""
    model.eval()
    step = max(1, (len(val) - seq - 1) // windows)
    main_sum = mtp_sum = 0.0
    accepted = compared = 0
    for i in range(windows):
        ids = val[i * step : i * step + seq + 1].long().unsqueeze(0)
        _, main, mtp = model.loss(ids)
        main_sum += float(main)
        mtp_sum += float(mtp)
        logits, mtp_logits = model(ids)
        # MTP row t sees the true token t+1 and predicts t+2; the main model predicts t+2 at row t+1.
        draft = mtp_logits[0, :-2].argmax(-1)
        target = logits[0, 1:-1].argmax(-1)
        accepted += int((draft == target).sum())
        compared += draft.numel()
    model.train()
    return main_sum / windows, mtp_sum / windows, accepted / compared


@torch.no_grad()
def greedy(model: LingForCausalLM, tokenizer, prompt: str, steps: int, stop_ids: set[int]) -> str:
    model.eval()
    ids = tokenizer.encode(prompt, add_special_tokens=False).ids
    start = len(ids)
    for _ in range(steps):
        logits, _ = model(torch.tensor([ids[-512:]]), mtp=False)
        nxt = int(logits[0, -1].argmax())
        ids.append(nxt)
        if nxt in stop_ids:
            break
    model.train()
    return tokenizer.decode(ids[start:], skip_special_tokens=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="work")
    ap.add_argument("--out", default=str(HERE.parents[1] / "models" / "ling-tiny"))
    ap.add_argument("--minutes", type=float, default=38.0)
    ap.add_argument("--save-minutes", type=float, default=5.0)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: time box only)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup-steps", type=int, default=30)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--bias-rate", type=float, default=1e-3, help="expert-bias update speed u")
    ap.add_argument("--chat-share", type=float, default=0.2)
    ap.add_argument("--codec-keep", type=float, default=1.0,
                    help="keep probability of a code window that touches a generated codec table (1: no filter)")
    ap.add_argument("--vocab", type=int, default=6144)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=768)
    ap.add_argument("--moe-intermediate", type=int, default=64)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--experts", type=int, default=32)
    ap.add_argument("--topk", type=int, default=4)
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--topk-groups", type=int, default=2)
    ap.add_argument("--mtp-scale", type=float, default=0.3)
    ap.add_argument("--eval-windows", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", default="", help="continue from the model.safetensors in this folder")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data, out = Path(args.data), Path(args.out)
    report_name = "train_report_resume.json" if args.resume else "train_report.json"
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(data / "tokenizer.json"))
    vocab = tokenizer.get_vocab()
    assert tokenizer.get_vocab_size() <= args.vocab
    config = ant_config(vocab, args)
    cfg = LingConfig.from_dict(config)
    model = LingForCausalLM(cfg)
    model.init_weights(seed=args.seed)
    if args.resume:
        from safetensors.torch import load_file

        tensors = load_file(str(Path(args.resume) / "model.safetensors"))
        model.load_hf_state_dict({k: v.float() for k, v in tensors.items()})
        print(f"resumed from {args.resume}", flush=True)
    params = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    print(f"parameters: {params} ({params * 2 / 1e6:.1f} MB in bf16)", flush=True)

    train_ids = torch.load(data / "train.pt")
    val_ids = torch.load(data / "val.pt")
    chats = torch.load(data / "chat_train.pt")
    down = None
    if args.codec_keep < 1.0:
        down = codec_table_mask(train_ids, tokenizer, vocab["<|endoftext|>"])
        print(f"codec tables: {int(down.sum())} of {len(train_ids)} training tokens, windows kept with p={args.codec_keep}")
    batches = Batches(train_ids, chats, args.seq, args.chat_share, args.seed, down, args.codec_keep)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    write_tokenizer_files(data, out, vocab)
    stop_ids = {vocab["<|endoftext|>"], vocab["<|role_end|>"]}

    budget = args.minutes * 60
    start = time.time()
    last_save = start
    step = 0
    tokens = 0
    log = []
    while True:
        elapsed = time.time() - start
        if elapsed >= budget or (args.max_steps and step >= args.max_steps):
            break
        progress = min(1.0, elapsed / budget)
        warm = min(1.0, (step + 1) / args.warmup_steps)
        lr = args.lr * warm * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in opt.param_groups:
            group["lr"] = lr
        batch = batches.batch(args.batch)
        loss, main, mtp = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        model.update_expert_bias(args.bias_rate)
        step += 1
        tokens += batch.numel() - batch.shape[0]
        if step % 10 == 0 or step <= 3:
            t = time.time() - start
            print(
                f"step {step} t={t:.0f}s ({t / step:.2f}s/step) lr={lr:.2e} loss={float(main):.3f} "
                f"mtp={float(mtp):.3f} tokens={tokens}",
                flush=True,
            )
            log.append({"step": step, "seconds": round(t, 1), "loss": float(main), "mtp_loss": float(mtp)})
        if time.time() - last_save > args.save_minutes * 60:
            save_checkpoint(model, out, config)
            last_save = time.time()
            print(f"saved checkpoint at step {step}", flush=True)

    train_seconds = time.time() - start
    save_checkpoint(model, out, config)
    print(f"trained {step} steps, {tokens} tokens in {train_seconds:.0f}s; evaluating", flush=True)
    val_loss, val_mtp_loss, acceptance = evaluate(model, val_ids, args.seq, args.eval_windows)
    print(f"val loss {val_loss:.4f} (ppl {math.exp(val_loss):.2f}), MTP val loss {val_mtp_loss:.4f}, "
          f"MTP greedy acceptance {acceptance:.3f}", flush=True)
    from prepare_data import chat_environment

    template = chat_environment()
    prompts = [
        "def fibonacci(n):\n",
        "import os\n\n\ndef list_python_files(directory):\n",
        "class Stack:\n    def __init__(self):\n",
        template.render(
            messages=[{"role": "user", "content": "Write a Python function `is_palindrome(s)` that does the "
                       "following: return True if the string s reads the same backwards."}],
            tools=None,
            add_generation_prompt=True,
        ),
    ]
    samples = [{"prompt": p, "completion": greedy(model, tokenizer, p, 64, stop_ids)} for p in prompts]
    for s in samples:
        print("=" * 20, "\n" + s["prompt"] + "|||" + s["completion"], flush=True)
    report = {
        "steps": step,
        "tokens_seen": tokens,
        "train_seconds": round(train_seconds, 1),
        "parameters": params,
        "val_loss": val_loss,
        "val_mtp_loss": val_mtp_loss,
        "mtp_greedy_acceptance": acceptance,
        "eval_tokens": args.eval_windows * args.seq,
        "args": vars(args),
        "samples": samples,
        "log": log,
    }
    (data / report_name).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print("report written to", data / report_name)


if __name__ == "__main__":
    main()
