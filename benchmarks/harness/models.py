"""Teacher and student models of the benchmark, described by JSON-able specs so a subprocess can rebuild them.

A spec is ``{"path": checkpoint_dir, "layers": [i, ...] or None, "num_labels": n}``: the checkpoint loaded with a
sequence-classification head, keeping only the listed encoder layers (DistilBERT-style "every other layer"
students are ``layers=[0, 2, 4]`` of a 6-layer checkpoint). A checkpoint without a task head gets a fresh one. A
folder with a config but no weights (``pack_models.py --config-only``: a checkpoint too large to carry) builds a
randomly initialised model of that architecture, which is right for timing and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel


def spec(path: str, layers: list[int] | None = None, num_labels: int = 2) -> dict[str, Any]:
    return {"path": str(path), "layers": list(layers) if layers is not None else None, "num_labels": num_labels}


def spec_config(model_spec: dict[str, Any]) -> PretrainedConfig:
    """The config of the model ``model_spec`` describes, without loading weights (for FLOP counts)."""
    config = AutoConfig.from_pretrained(model_spec["path"], num_labels=model_spec["num_labels"])
    if model_spec["layers"] is not None:
        config.num_hidden_layers = len(model_spec["layers"])
    return config


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def has_weights(path: str | Path) -> bool:
    """Whether the checkpoint folder holds weights (not only a config)."""
    return any((Path(path) / name).is_file() for name in WEIGHT_FILES)


def build(model_spec: dict[str, Any], seed: int = 0) -> PreTrainedModel:
    """Load the checkpoint in float32 (fresh classifier drawn with ``seed`` when it has none; a folder without
    weights: random weights, for timing) and keep the chosen layers."""
    torch.manual_seed(seed)
    if has_weights(model_spec["path"]):
        model = AutoModelForSequenceClassification.from_pretrained(
            model_spec["path"], num_labels=model_spec["num_labels"], dtype=torch.float32
        )
    else:
        config = AutoConfig.from_pretrained(model_spec["path"], num_labels=model_spec["num_labels"])
        model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    if model_spec["layers"] is not None:
        keep_layers(model, model_spec["layers"])
    return model


def keep_layers(model: PreTrainedModel, layers: list[int]) -> None:
    """Keep encoder layers ``layers`` (in that order) of a BERT-family model, in place."""
    encoder = getattr(model.base_model, "encoder", None)
    stack = getattr(encoder, "layer", None)
    if not isinstance(stack, nn.ModuleList):
        raise ValueError(f"{type(model).__name__} has no base_model.encoder.layer: cannot drop layers from it.")
    if any(not 0 <= index < len(stack) for index in layers):
        raise ValueError(f"layers={layers} out of range for a {len(stack)}-layer {type(model).__name__}.")
    encoder.layer = nn.ModuleList([stack[index] for index in layers])
    model.config.num_hidden_layers = len(layers)


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def synthetic_batch_rows(vocab_size: int, rows: int, seq_len: int, seed: int = 0, first_id: int = 5) -> dict:
    """``rows`` random token sequences of exactly ``seq_len`` tokens (no padding) with random binary labels."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(first_id, vocab_size, (rows, seq_len), generator=generator)
    labels = torch.randint(0, 2, (rows,), generator=generator)
    return {
        "input_ids": ids.tolist(),
        "attention_mask": torch.ones_like(ids).tolist(),
        "labels": labels.tolist(),
    }
