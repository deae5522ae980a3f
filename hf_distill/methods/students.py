"""Students built from a teacher in one call: shallower (DistilBERT's and BERT-PKD's layer copies), narrower
(TinyBERT's shape), ALBERT-like (Lan et al., ICLR 2020, https://arxiv.org/abs/1909.11942).

Every student is an ordinary `PreTrainedModel`: ``save_pretrained`` then ``AutoModelFor*.from_pretrained`` loads it
back with the same outputs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from transformers import (
    AlbertConfig,
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)

from ..layers import encoder_layers, encoder_layers_prefix, num_layers

LAYER_CHOICES = ("every_other", "first_k")


def shallow_layer_indices(
    layers: str | Sequence[int], num_teacher_layers: int, num_layers: int | None = None
) -> list[int]:
    """The teacher layers (0-based) a shallow student keeps.

    - ``"every_other"`` (DistilBERT): 0, 2, 4, ... (``num_layers`` of them, default half the teacher's);
    - ``"first_k"`` (BERT-PKD): 0, 1, ..., k-1 (``num_layers`` required);
    - a list of 0-based teacher layers, in the student's order.
    """
    if isinstance(layers, str):
        if layers == "every_other":
            count = num_layers if num_layers is not None else max(1, num_teacher_layers // 2)
            indices = list(range(0, 2 * count, 2))
        elif layers == "first_k":
            if num_layers is None:
                raise ValueError('layers="first_k" needs num_layers=k (how many of the first teacher layers to keep).')
            indices = list(range(num_layers))
        else:
            raise ValueError(
                f"layers={layers!r} is not one of {', '.join(LAYER_CHOICES)} nor a list of teacher layer indices."
            )
    else:
        indices = [int(index) for index in layers]
        if num_layers is not None and num_layers != len(indices):
            raise ValueError(f"num_layers={num_layers} but {len(indices)} layers were listed: {indices}.")
    if not indices:
        raise ValueError("A student needs at least one layer; num_layers must be >= 1.")
    bad = [index for index in indices if not 0 <= index < num_teacher_layers]
    if bad:
        raise ValueError(
            f"Teacher layers {bad} do not exist: the teacher has {num_teacher_layers} layers, numbered 0 to "
            f"{num_teacher_layers - 1} here (0-based)."
        )
    return indices


def shallow_student(
    teacher: PreTrainedModel,
    layers: str | Sequence[int] = "every_other",
    num_layers: int | None = None,
    **config_overrides: Any,
) -> PreTrainedModel:
    """A student of the teacher's class and width keeping some of its layers (DistilBERT / BERT-PKD init).

    Embeddings, the pooler and the head are copied; student layer ``i`` is a copy of teacher layer
    ``indices[i]`` (see `shallow_layer_indices`). ``config_overrides`` (e.g. ``num_labels=3``,
    ``hidden_dropout_prob=0.2``) change the new config; weights whose shape they change (a head for a different
    number of labels) stay freshly initialised. Works for BERT, RoBERTa, MPNet and DistilBERT.
    """
    n_teacher = _teacher_layer_count(teacher)
    indices = shallow_layer_indices(layers, n_teacher, num_layers)
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(indices)
    for name, value in config_overrides.items():
        setattr(config, name, value)
    if "num_labels" in config_overrides and "id2label" not in config_overrides:
        config.id2label = {i: f"LABEL_{i}" for i in range(config_overrides["num_labels"])}
        config.label2id = {label: i for i, label in config.id2label.items()}
    student = type(teacher)(config).to(dtype=next(teacher.parameters()).dtype)

    prefix = encoder_layers_prefix(teacher) + "."
    teacher_state = teacher.state_dict()
    student_state = student.state_dict()
    for key in student_state:
        if key.startswith(prefix):
            index, rest = key[len(prefix) :].split(".", 1)
            source = f"{prefix}{indices[int(index)]}.{rest}"
        else:
            source = key
        if source in teacher_state and teacher_state[source].shape == student_state[key].shape:
            student_state[key] = teacher_state[source].clone()
    student.load_state_dict(student_state)
    return student


def _teacher_layer_count(teacher: PreTrainedModel) -> int:
    layers = encoder_layers(teacher)  # raises for unsupported architectures
    if len(layers) != num_layers(teacher):
        raise ValueError(
            f"{type(teacher).__name__} has {len(layers)} layers but its config says {num_layers(teacher)}."
        )
    return len(layers)


def narrow_student(
    teacher_config: PretrainedConfig,
    num_layers: int,
    hidden_size: int,
    intermediate_size: int,
    num_heads: int,
    num_labels: int | None = None,
    auto_class: type = AutoModelForSequenceClassification,
    **config_overrides: Any,
) -> PreTrainedModel:
    """A fresh (randomly initialised) student of the teacher's architecture and vocabulary, at a new size.

    E.g. TinyBERT-4 from a BERT-base config: ``narrow_student(config, 4, 312, 1200, 12)``. Vocabulary, special
    token ids, position and type-vocabulary sizes and labels come from ``teacher_config``; ``num_labels`` (default:
    the teacher's) and ``config_overrides`` change them. Train it with projections (``projection`` terms).
    """
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size={hidden_size} is not divisible by num_heads={num_heads}.")
    config = copy.deepcopy(teacher_config)
    config.num_hidden_layers = num_layers
    config.hidden_size = hidden_size
    config.num_attention_heads = num_heads
    # DistilBERT calls the FFN width hidden_dim; the others intermediate_size.
    setattr(config, "hidden_dim" if config.model_type == "distilbert" else "intermediate_size", intermediate_size)
    if num_labels is not None and num_labels != config.num_labels:
        config.num_labels = num_labels
        config.id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
        config.label2id = {label: i for i, label in config.id2label.items()}
    for name, value in config_overrides.items():
        setattr(config, name, value)
    config = AutoConfig.for_model(**config.to_dict())
    return auto_class.from_config(config)


def albert_student(
    teacher_config: PretrainedConfig,
    num_layers: int = 4,
    hidden_size: int = 312,
    embedding_size: int = 128,
    intermediate_size: int = 1200,
    num_heads: int = 12,
    num_hidden_groups: int = 1,
    num_labels: int | None = None,
    auto_class: type = AutoModelForSequenceClassification,
    **config_overrides: Any,
) -> PreTrainedModel:
    """An ALBERT student (factorised embeddings ``vocab x embedding_size -> hidden_size``, layers shared within
    ``num_hidden_groups`` groups; 1 = all layers share weights) over the teacher's vocabulary, freshly initialised.

    Vocabulary size, special token ids, maximum positions, type vocabulary and labels come from ``teacher_config``,
    so it reads the teacher's ``input_ids``.
    """
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size={hidden_size} is not divisible by num_heads={num_heads}.")
    labels = num_labels if num_labels is not None else teacher_config.num_labels
    id2label = teacher_config.id2label if labels == teacher_config.num_labels else None
    values: dict[str, Any] = dict(
        vocab_size=teacher_config.vocab_size,
        embedding_size=embedding_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_hidden_groups=num_hidden_groups,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        hidden_act="gelu",
        max_position_embeddings=teacher_config.max_position_embeddings,
        type_vocab_size=getattr(teacher_config, "type_vocab_size", 2),
        pad_token_id=teacher_config.pad_token_id,
        bos_token_id=getattr(teacher_config, "bos_token_id", None),
        eos_token_id=getattr(teacher_config, "eos_token_id", None),
        num_labels=labels,
    )
    if id2label is not None:
        values.update(id2label=dict(id2label), label2id=dict(teacher_config.label2id))
    values.update(config_overrides)
    return auto_class.from_config(AlbertConfig(**values))


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (shared ALBERT layers counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
