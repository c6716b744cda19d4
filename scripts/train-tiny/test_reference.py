"""Checks ling2.py against the official implementation's outputs in <repo>/../shared/reference (f32 mode).

Run: cd scripts/train-tiny && python3 -m pytest -q test_reference.py
"""

import json
from pathlib import Path

import pytest
import torch

from ling2 import load_checkpoint

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
CHECKPOINTS = ["stress-f32", "release-bf16"]
TOLERANCE = 1e-4

torch.set_num_threads(1)


def _load(name):
    if not (REFERENCE / name / "reference.json").exists():
        pytest.skip(f"reference checkpoint {REFERENCE / name} not present")
    ref = json.loads((REFERENCE / name / "reference.json").read_text())
    model = load_checkpoint(REFERENCE / name).eval()
    return model, ref


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_last_logits_every_prompt(name):
    model, ref = _load(name)
    worst = 0.0
    with torch.no_grad():
        for prompt in ref["prompts"]:
            ids = torch.tensor([prompt["input_ids"]])
            logits, _ = model(ids, mtp=False)
            expected = torch.tensor(prompt["f32"]["last_logits"])
            err = (logits[0, -1] - expected).abs().max().item()
            worst = max(worst, err)
            assert err < TOLERANCE, f"{name}/{prompt['name']}: last_logits max abs error {err}"
            assert int(logits[0, -1].argmax()) == prompt["f32"]["last_argmax"]
    print(f"{name}: last_logits max abs error {worst:.3g}")


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_all_positions_and_mtp(name):
    model, ref = _load(name)
    ap = ref["all_positions"]
    ids = torch.tensor([ap["input_ids"]])
    with torch.no_grad():
        logits, mtp_logits = model(ids, mtp=True)
    expected = torch.tensor(ap["f32"]["logits"])
    err = (logits[0] - expected).abs().max().item()
    assert err < TOLERANCE, f"{name}: all_positions logits max abs error {err}"
    expected_mtp = torch.tensor(ap["f32"]["mtp_logits_valid_rows"])  # [T-1, V]
    mtp_err = (mtp_logits[0, : expected_mtp.shape[0]] - expected_mtp).abs().max().item()
    assert mtp_err < TOLERANCE, f"{name}: MTP logits max abs error {mtp_err}"
    print(f"{name}: all_positions max abs error {err:.3g}, MTP {mtp_err:.3g}")


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_greedy_matches(name):
    model, ref = _load(name)
    prompt = ref["prompts"][0]
    ids = list(prompt["input_ids"])
    with torch.no_grad():
        for _ in range(len(prompt["f32"]["greedy_ids"])):
            logits, _ = model(torch.tensor([ids]), mtp=False)
            ids.append(int(logits[0, -1].argmax()))
    assert ids[len(prompt["input_ids"]) :] == prompt["f32"]["greedy_ids"]


def test_hf_round_trip_names(tmp_path):
    """Saving writes exactly the reference checkpoint's tensor names and shapes."""
    model, ref = _load("release-bf16")
    from ling2 import save_checkpoint
    from safetensors import safe_open

    save_checkpoint(model, tmp_path, ref["config"])
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        names = set(f.keys())
        shapes = {n: list(f.get_slice(n).get_shape()) for n in names}
        dtypes = {n: f.get_slice(n).get_dtype() for n in names}
    index = ref["weights_index"]
    assert names == set(index)
    for n in names:
        assert [dtypes[n], shapes[n]] == index[n], n
