"""Loading the teacher and checking that it can teach the student, and that both can read their inputs, before any
training step."""

from __future__ import annotations

import inspect
import os
from typing import Any

import torch
from huggingface_hub.utils import HFValidationError, validate_repo_id
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedModel,
)

# The auto class that loads a teacher of the same kind as the student, by the student's class-name suffix.
_AUTO_CLASS_BY_SUFFIX = {
    "ForSequenceClassification": AutoModelForSequenceClassification,
    "ForTokenClassification": AutoModelForTokenClassification,
    "ForMaskedLM": AutoModelForMaskedLM,
    "ForQuestionAnswering": AutoModelForQuestionAnswering,
    "ForMultipleChoice": AutoModelForMultipleChoice,
}
_CLASSIFICATION_SUFFIXES = ("ForSequenceClassification", "ForTokenClassification")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def auto_class_for(model: nn.Module) -> type:
    """The `AutoModelFor*` class matching ``model``'s head (`AutoModel` when none matches)."""
    name = type(model).__name__
    return next((auto for suffix, auto in _AUTO_CLASS_BY_SUFFIX.items() if name.endswith(suffix)), AutoModel)


def load_teacher(
    teacher: PreTrainedModel | nn.Module | str | None,
    student: nn.Module,
    dtype: str | None = None,
    init_kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """Return the teacher in eval mode with gradients off, loading it first when given as a path or Hub id.

    A teacher loaded from a path gets the student's head type (e.g. `AutoModelForSequenceClassification` for a
    `BertForSequenceClassification` student); a checkpoint whose head would be freshly initialised is refused,
    since distilling from a random head teaches nothing.
    """
    if teacher is None:
        raise ValueError(
            "DistillationTrainer needs a teacher: pass teacher_model=<a fine-tuned PreTrainedModel, a local path or "
            "a Hub id>, or set teacher_model_name_or_path in its DistillationTrainingArguments "
            "(--teacher_model_name_or_path). To train without one, use transformers.Trainer."
        )
    if isinstance(teacher, str):
        check_model_reference(teacher, "teacher_model")
        auto_class = auto_class_for(student)
        kwargs = dict(init_kwargs or {})
        if dtype is not None:
            kwargs["dtype"] = dtype if dtype == "auto" else _DTYPES[dtype]
        teacher_model, loading_info = auto_class.from_pretrained(teacher, output_loading_info=True, **kwargs)
        untrained_head = _missing_head_weights(teacher_model, loading_info.get("missing_keys", ()))
        if untrained_head:
            raise ValueError(
                f"The teacher {teacher!r} has no trained {auto_class.__name__.removeprefix('AutoModel')} head "
                f"(missing weights: {', '.join(sorted(untrained_head))}): its predictions would be random. "
                "Fine-tune it on the task first (recipes/run_glue_distill.py --stage teacher) and pass that folder."
            )
        teacher = teacher_model
    elif dtype is not None and dtype != "auto":
        teacher = teacher.to(_DTYPES[dtype])
    if not isinstance(teacher, nn.Module):
        raise ValueError(f"teacher_model must be a PreTrainedModel, a path or a Hub id, got {type(teacher).__name__}.")
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher


def _missing_head_weights(model: PreTrainedModel, missing_keys: Any) -> list[str]:
    prefix = getattr(model, "base_model_prefix", "")
    return [key for key in missing_keys if not (prefix and key.startswith(prefix + "."))]


def check_teacher_student(teacher: nn.Module, student: nn.Module, kd_loss_type: str) -> None:
    """Raise `ValueError` when ``teacher`` cannot teach ``student`` with ``kd_loss_type``."""
    t_config, s_config = getattr(teacher, "config", None), getattr(student, "config", None)
    if t_config is None or s_config is None:
        return
    if type(student).__name__.endswith(_CLASSIFICATION_SUFFIXES):
        if t_config.num_labels != s_config.num_labels:
            raise ValueError(
                f"The teacher predicts {t_config.num_labels} labels ({_labels(t_config)}) and the student "
                f"{s_config.num_labels} ({_labels(s_config)}): logit distillation needs the same label set. Build the "
                f"student with num_labels={t_config.num_labels} and id2label=teacher.config.id2label."
            )
        if _has_custom_labels(t_config) and _has_custom_labels(s_config) and t_config.id2label != s_config.id2label:
            raise ValueError(
                f"The teacher's labels {t_config.id2label} and the student's {s_config.id2label} are in a different "
                "order or have different names; build the student with id2label=teacher.config.id2label."
            )
        if s_config.num_labels == 1 and kd_loss_type in ("kl", "ce"):
            raise ValueError(
                f"kd_loss_type={kd_loss_type!r} compares softmax distributions, but the student has num_labels=1 "
                "(regression): a softmax over one logit is constant. Use kd_loss_type='mse'."
            )
        if getattr(s_config, "problem_type", None) == "multi_label_classification" and kd_loss_type != "mse":
            raise ValueError(
                f"kd_loss_type={kd_loss_type!r} assumes one label per example (softmax), but the student's "
                "problem_type is 'multi_label_classification'. Use kd_loss_type='mse'."
            )


def _labels(config: Any) -> str:
    return ", ".join(str(label) for label in config.id2label.values())


def _has_custom_labels(config: Any) -> bool:
    return any(label != f"LABEL_{index}" for index, label in config.id2label.items())


def tokenizer_mismatch(teacher: nn.Module, student: nn.Module) -> str | None:
    """Why teacher and student cannot share ``input_ids`` (different vocabularies), or None when they can."""
    t_embeddings, s_embeddings = _input_embeddings(teacher), _input_embeddings(student)
    t_pad = getattr(getattr(teacher, "config", None), "pad_token_id", None)
    s_pad = getattr(getattr(student, "config", None), "pad_token_id", None)
    t_vocab = t_embeddings.num_embeddings if t_embeddings is not None else None
    s_vocab = s_embeddings.num_embeddings if s_embeddings is not None else None
    if t_vocab != s_vocab or t_pad != s_pad:
        return f"the teacher has vocabulary {t_vocab} (pad id {t_pad}), the student {s_vocab} (pad id {s_pad})"
    return None


def check_model_reference(name: str, what: str) -> None:
    """Raise `ValueError` when ``name`` is neither an existing local path nor a well-formed Hub id: a mistyped
    folder would otherwise be reported by the Hub client as a malformed repo id."""
    if os.path.exists(name):
        return
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise ValueError(
            f"{what}={name!r}: the path does not exist (and it is no Hub id such as 'namespace/name'); check it."
        ) from None


def check_tokenizer_fits(tokenizer: Any, model: nn.Module, what: str, fix: str | None = None) -> None:
    """Raise `ValueError` when ``tokenizer`` can produce token ids beyond ``model``'s input-embedding rows (another
    model's tokenizer): the forward would fail deep inside torch with an IndexError."""
    embeddings = _input_embeddings(model)
    if tokenizer is None or embeddings is None or not hasattr(tokenizer, "get_vocab"):
        return
    largest = max(tokenizer.get_vocab().values(), default=-1)  # added tokens included
    if largest >= embeddings.num_embeddings:
        name = getattr(tokenizer, "name_or_path", "")
        raise ValueError(
            f"The {what}'s tokenizer{f' {name!r}' if name else ''} has token ids up to {largest}, but "
            f"the {what} embeds only {embeddings.num_embeddings} ids: it is another model's tokenizer; "
            f"{fix or f'give the {what} the tokenizer it was trained with'}."
        )


def max_positions(model: nn.Module) -> int | None:
    """How many tokens ``model``'s learned position embeddings cover (None when it has none): the rows of
    ``embeddings.position_embeddings``, less the padding offset of RoBERTa-style models, else the config's
    ``max_position_embeddings``."""
    base = getattr(model, "base_model", model)
    table = getattr(getattr(base, "embeddings", None), "position_embeddings", None)
    if isinstance(table, nn.Embedding):
        offset = table.padding_idx + 1 if table.padding_idx is not None else 0  # positions start after the pad id
        return table.num_embeddings - offset
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)


def _input_embeddings(model: nn.Module) -> nn.Embedding | None:
    try:
        embeddings = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    return embeddings if isinstance(embeddings, nn.Embedding) else None


def forward_argument_names(model: nn.Module) -> set[str]:
    """The named arguments of ``model.forward`` (``**kwargs`` excluded), to filter the inputs it is given."""
    parameters = inspect.signature(model.forward).parameters.values()
    return {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
