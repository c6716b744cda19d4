"""Checks the bundled models/ling-tiny folder: HF layout, Ling's tokenizer format and chat template, size.

Run: cd scripts/train-tiny && python3 -m pytest -q test_bundle.py
"""

import json
from pathlib import Path

import pytest
import torch

from ling2 import load_checkpoint
from prepare_data import ADDED_TOKENS, LING_REGEX, chat_environment

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "ling-tiny"
SPEC = REPO.parent / "shared" / "docs" / "ling2-arch.md"

pytestmark = pytest.mark.skipif(not (MODEL / "model.safetensors").exists(), reason="model not trained yet")


def _json(name):
    return json.loads((MODEL / name).read_text())


def test_config_identity_and_size():
    cfg = _json("config.json")
    assert cfg["model_type"] == "bailing_moe"
    assert cfg["architectures"] == ["BailingMoeV2ForCausalLM"]
    assert cfg["num_nextn_predict_layers"] == 1
    assert cfg["torch_dtype"] == cfg["dtype"] == "bfloat16"
    assert (MODEL / "model.safetensors").stat().st_size <= 32 * 1024 * 1024


def test_tensors_bf16_except_expert_bias():
    from safetensors import safe_open

    cfg = _json("config.json")
    with safe_open(str(MODEL / "model.safetensors"), "pt") as f:
        names = list(f.keys())
        for n in names:
            assert f.get_slice(n).get_dtype() == ("F32" if n.endswith("expert_bias") else "BF16"), n
    mtp = f"model.layers.{cfg['num_hidden_layers']}."
    for suffix in ["enorm.weight", "hnorm.weight", "eh_proj.weight", "final_layernorm.weight", "mlp.gate.expert_bias"]:
        assert mtp + suffix in names


def test_tokenizer_ids_and_generation_config():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    spec = json.loads((MODEL / "tokenizer.json").read_text())
    assert spec["normalizer"]["type"] == "NFC"
    split = spec["pre_tokenizer"]["pretokenizers"][0]
    assert split["pattern"]["Regex"] == LING_REGEX and split["behavior"] == "Isolated"
    if SPEC.exists():
        assert f"`{LING_REGEX}`" in SPEC.read_text()  # verbatim from ling2-arch.md section 5
    ids = [tok.token_to_id(t) for t, _ in ADDED_TOKENS]
    assert ids == sorted(ids) and None not in ids
    gen = _json("generation_config.json")
    assert gen["eos_token_id"] == [tok.token_to_id("<|endoftext|>"), tok.token_to_id("<|role_end|>")]
    assert gen["bos_token_id"] == tok.token_to_id("<|startoftext|>")
    assert tok.encode("<think>").ids != [] and tok.token_to_id("<think>") is None  # plain text in Ling
    assert tok.encode("a<|role_end|>b").tokens == ["a", "<|role_end|>", "b"]


def test_chat_template_is_lings():
    config = _json("tokenizer_config.json")
    if SPEC.exists():
        text = SPEC.read_text()
        start = text.index("```jinja\n") + len("```jinja\n")
        assert config["chat_template"] == text[start : text.index("\n```", start)]
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast" and config["add_bos_token"] is False
    rendered = chat_environment().render(messages=[{"role": "user", "content": "Hi"}], tools=None,
                                         add_generation_prompt=True)
    assert rendered == "<role>SYSTEM</role>detailed thinking off<|role_end|><role>HUMAN</role>Hi<|role_end|><role>ASSISTANT</role>"


def test_model_loads_and_predicts():
    torch.set_num_threads(1)
    model = load_checkpoint(MODEL).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        logits, mtp = model(ids)
    assert logits.shape == (1, 4, model.cfg.vocab_size) and torch.isfinite(logits).all() and torch.isfinite(mtp).all()
