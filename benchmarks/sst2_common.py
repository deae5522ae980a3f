"""Pieces of the standard CPU benchmark protocol shared by `metadistil_cost.py` and `bilstm_speed.py`.

Protocol: teacher ``minilm-sst2``; student = 3-layer BERT from the pretrained ``minilm-l6`` keeping layers
[0, 2, 4] (embeddings kept, fresh classifier); train rows = the first N of SST-2 train after
``random.Random(0).shuffle``; max_length 64; eval on the full SST-2 dev set (872 rows), accuracy.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import datasets
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, PreTrainedModel

DATA_DIR = Path(os.environ.get("HF_DISTILL_DATA", "/work/shared/data/glue"))
MODELS_DIR = Path(os.environ.get("HF_DISTILL_MODELS", "/root/.cache/hf-distill-models"))
TEACHER_DIR = "/work/artifacts/teachers/minilm-sst2"


def sst2_rows(split: str) -> list[dict]:
    """All rows of SST-2 ``split`` (``train`` or ``dev``) as ``{"sentence", "label"}``."""
    with open(DATA_DIR / "SST-2" / f"{split}.tsv", newline="") as f:
        return [
            {"sentence": row["sentence"], "label": int(row["label"])}
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]


def shuffled_train(start: int, stop: int) -> datasets.Dataset:
    """Rows ``start:stop`` of SST-2 train after ``random.Random(0).shuffle`` (the protocol uses ``0:2000``)."""
    rows = sst2_rows("train")
    random.Random(0).shuffle(rows)
    return datasets.Dataset.from_list(rows[start:stop])


def dev_set(rows: int | None = None) -> datasets.Dataset:
    """The SST-2 dev set (all 872 rows unless ``rows``, for smoke runs)."""
    return datasets.Dataset.from_list(sst2_rows("dev")[:rows])


def three_layer_student(teacher: PreTrainedModel, seed: int = 0) -> PreTrainedModel:
    """The protocol's student: pretrained minilm-l6 keeping layers [0, 2, 4], fresh classifier, teacher's labels."""
    torch.manual_seed(seed)  # the fresh classifier
    student = AutoModelForSequenceClassification.from_pretrained(
        MODELS_DIR / "minilm-l6", num_labels=teacher.config.num_labels
    )
    student.bert.encoder.layer = nn.ModuleList([student.bert.encoder.layer[i] for i in (0, 2, 4)])
    student.config.num_hidden_layers = 3
    student.config.id2label, student.config.label2id = teacher.config.id2label, teacher.config.label2id
    return student
