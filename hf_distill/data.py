"""Batching for distillation: student inputs, the teacher's own inputs under ``teacher_*`` keys, and labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

TEACHER_PREFIX = "teacher_"
_LABEL_KEYS = ("label", "labels", "label_ids")


def split_teacher_inputs(inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a batch into ``(student_inputs, teacher_inputs)``; teacher keys lose their ``teacher_`` prefix."""
    student = {k: v for k, v in inputs.items() if not k.startswith(TEACHER_PREFIX)}
    teacher = {k[len(TEACHER_PREFIX) :]: v for k, v in inputs.items() if k.startswith(TEACHER_PREFIX)}
    return student, teacher


@dataclass
class DistillationDataCollator:
    """Pads (or tokenizes) a list of examples into a batch for [`DistillationTrainer`].

    Two ways in:

    - raw text: set ``text_fields`` (``("sentence",)``, or ``("sentence1", "sentence2")`` for pairs). Each example
      is tokenized with ``tokenizer`` for the student and, when given, with ``teacher_tokenizer`` for the teacher,
      whose inputs go under ``teacher_input_ids``, ``teacher_attention_mask``, ...
    - pre-tokenized: examples already hold ``input_ids`` (and ``teacher_input_ids`` when the teacher has its own
      tokenizer); each side is padded with its own tokenizer, so padding uses the right pad id.

    Labels come from ``label``/``labels``/``label_ids`` as ``labels`` (long for classes, float for regression). A
    ``None`` label marks an unlabeled example: ``-100`` when others in the batch have one, no ``labels`` at all when
    none has. Other numeric fields (e.g. cached ``teacher_logits``) are stacked as they are; other strings dropped.
    Without ``teacher_tokenizer`` the teacher reads the student's inputs.
    """

    tokenizer: PreTrainedTokenizerBase
    teacher_tokenizer: PreTrainedTokenizerBase | None = None
    text_fields: Sequence[str] | None = None
    max_length: int | None = None
    padding: bool | str = True
    pad_to_multiple_of: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.text_fields, str):
            self.text_fields = (self.text_fields,)
        if self.text_fields is not None and not 1 <= len(self.text_fields) <= 2:
            raise ValueError(
                f"text_fields={tuple(self.text_fields)} must name one text column (single sentences) or two "
                "(sentence pairs)."
            )

    @property
    def required_columns(self) -> list[str]:
        """Dataset columns this collator reads that the model's forward does not take."""
        return [*(self.text_fields or ()), *_LABEL_KEYS]

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        features = [dict(feature) for feature in features]
        labels = _collate_labels([_pop_label(feature) for feature in features])
        if self.text_fields:
            texts = [[feature.pop(name) for feature in features] for name in self.text_fields]
            batch = self._tokenize(self.tokenizer, texts)
            if self.teacher_tokenizer is not None:
                batch.update(_prefixed(self._tokenize(self.teacher_tokenizer, texts)))
        else:
            batch = self._pad(self.tokenizer, features, prefix="")
            if self.teacher_tokenizer is not None:
                batch.update(_prefixed(self._pad(self.teacher_tokenizer, features, prefix=TEACHER_PREFIX)))
        for key in features[0]:
            if key not in batch and not isinstance(features[0][key], str):
                batch[key] = torch.stack([torch.as_tensor(feature[key]) for feature in features])
        if labels is not None:
            batch["labels"] = labels
        return batch

    def _tokenize(self, tokenizer: PreTrainedTokenizerBase, texts: list[list[str]]) -> dict[str, torch.Tensor]:
        return dict(
            tokenizer(
                *texts,
                truncation=True,
                max_length=self.max_length,
                padding=self.padding,
                pad_to_multiple_of=self.pad_to_multiple_of,
                return_tensors="pt",
            )
        )

    def _pad(
        self, tokenizer: PreTrainedTokenizerBase, features: list[dict[str, Any]], prefix: str
    ) -> dict[str, torch.Tensor]:
        names = [name for name in tokenizer.model_input_names if prefix + name in features[0]]
        if not names:
            raise ValueError(
                f"The examples have no {prefix}input_ids (keys: {sorted(features[0])}). Tokenize them first, or "
                "give DistillationDataCollator text_fields=... to tokenize raw text."
            )
        to_pad = [{name: feature.pop(prefix + name) for name in names} for feature in features]
        padded = tokenizer.pad(
            to_pad,
            padding=self.padding,
            max_length=self.max_length,
            pad_to_multiple_of=self.pad_to_multiple_of,
            return_tensors="pt",
        )
        return dict(padded)


def _prefixed(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {TEACHER_PREFIX + key: value for key, value in batch.items()}


def _pop_label(feature: dict[str, Any]) -> Any:
    for key in _LABEL_KEYS:
        if key in feature:
            return feature.pop(key)
    return None


def _collate_labels(labels: list[Any]) -> torch.Tensor | None:
    present = [label for label in labels if label is not None]
    if not present:
        return None
    if isinstance(present[0], float) or (torch.is_tensor(present[0]) and present[0].is_floating_point()):
        if len(present) != len(labels):
            raise ValueError("Some examples have a regression label and some have None: mixing is not supported.")
        return torch.tensor([float(label) for label in labels], dtype=torch.float)
    return torch.tensor([-100 if label is None else int(label) for label in labels], dtype=torch.long)
