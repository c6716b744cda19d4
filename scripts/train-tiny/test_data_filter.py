"""Checks train.py's codec-table filter: which files it flags and how often Batches keeps their windows.

Run: cd scripts/train-tiny && python3 -m pytest -q test_data_filter.py
"""

from pathlib import Path

import pytest
import torch

from train import Batches, codec_table_mask

TOKENIZER = Path(__file__).resolve().parents[2] / "models" / "ling-tiny" / "tokenizer.json"

pytestmark = pytest.mark.skipif(not TOKENIZER.exists(), reason="bundled tokenizer missing")

FILES = [
    '""" Python Character Mapping Codec cp037 generated from \'CP037.TXT\' with gencodec.py.\n"""\nimport codecs\n',
    'def add(a, b):\n    return a + b\n',
    '"""Python Character Mapping Codec cp720 generated on Windows:\n"""\ndecoding_table = (\n',
    '""" Generic Python Character Mapping Codec.\n"""\nimport codecs\n',
]


def _stream():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOKENIZER))
    eot = tok.token_to_id("<|endoftext|>")
    ids, owner = [], []
    for i, text in enumerate(FILES):
        enc = tok.encode(text, add_special_tokens=False).ids + [eot]
        ids += enc
        owner += [i] * len(enc)
    return tok, eot, torch.tensor(ids, dtype=torch.int32), torch.tensor(owner)


def test_flags_generated_codec_files_only():
    tok, eot, stream, owner = _stream()
    mask = codec_table_mask(stream, tok, eot)
    flagged = sorted(set(owner[mask].tolist()))
    assert flagged == [0, 2]  # not the plain function, not charmap.py's "Generic ... Codec"
    assert bool(mask[owner == 0].all()) and not bool(mask[owner == 1].any())


@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_windows_touching_flagged_tokens_are_kept_at_the_given_rate(keep):
    stream = torch.arange(2000, dtype=torch.int32)
    down = torch.zeros(2000, dtype=torch.bool)
    down[:1000] = True  # windows of 9 tokens starting below 1000 touch the flagged half
    batches = Batches(stream, [], seq=8, chat_share=0.0, seed=0, down=down, down_keep=keep)
    starts = [int(batches.row()[0]) for _ in range(4000)]
    touching = sum(s < 1000 for s in starts) / len(starts)
    # unfiltered, half the windows touch the flagged half; kept with p, the share is p / (p + 1)
    assert abs(touching - keep / (keep + 1)) < 0.03
