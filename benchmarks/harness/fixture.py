"""A tiny, self-made benchmark world for ``--suite tiny``: word-level tokenizer, a 4-layer BERT teacher briefly
fine-tuned on synthetic sentiment, and GLUE-shaped SST-2 TSV files. Built in seconds, no downloads."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

POSITIVE = ["good", "great", "fine", "nice", "fun", "superb", "lovely", "warm"]
NEGATIVE = ["bad", "awful", "dull", "poor", "boring", "weak", "sad", "cold"]
NEUTRAL = ["the", "a", "movie", "film", "plot", "actor", "was", "is", "and", "very", "story", "scene"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _sentences(count: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        pos, neg = rng.choice([(2, 0), (0, 2), (3, 1), (1, 3), (1, 0), (0, 1)])
        words = rng.sample(POSITIVE, pos) + rng.sample(NEGATIVE, neg) + rng.sample(NEUTRAL, rng.randint(1, 6))
        rng.shuffle(words)
        rows.append((" ".join(words), int(pos > neg)))
    return rows


def _write_tsv(path: Path, rows: list[tuple[str, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        writer.writerow(["sentence", "label"])
        writer.writerows(rows)


def make_fixture(directory: str | Path) -> dict[str, str]:
    """Write ``teacher/`` (checkpoint + tokenizer) and ``glue/SST-2/{train,dev}.tsv`` under ``directory``."""
    directory = Path(directory)
    vocab = SPECIALS + POSITIVE + NEGATIVE + NEUTRAL
    tokenizer = BertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, num_labels=2, pad_token_id=0,
    )  # fmt: skip
    teacher = BertForSequenceClassification(config)
    train, dev = _sentences(256, seed=1), _sentences(64, seed=2)
    encoded = tokenizer([text for text, _ in train], padding=True, return_tensors="pt")
    labels = torch.tensor([label for _, label in train])
    optimizer = torch.optim.AdamW(teacher.parameters(), lr=3e-3)
    teacher.train()
    for _ in range(3):  # a few full-batch epochs: enough for the teacher to beat chance on this toy task
        for start in range(0, len(train), 32):
            batch = {key: value[start : start + 32] for key, value in encoded.items()}
            loss = teacher(**batch, labels=labels[start : start + 32]).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    teacher.save_pretrained(directory / "teacher")
    tokenizer.save_pretrained(directory / "teacher")
    _write_tsv(directory / "glue" / "SST-2" / "train.tsv", train)
    _write_tsv(directory / "glue" / "SST-2" / "dev.tsv", dev)
    return {"teacher": str(directory / "teacher"), "glue_dir": str(directory / "glue")}
