"""The distillation methods `run_glue_distill.py` can run, by the name given to ``--distill_method``.

Adding a method is one `register` call at the bottom of this file: a `Method` whose ``build_trainer`` turns the
prepared run (`MethodContext`: teacher, student, tokenized datasets, collator, arguments) into a `Trainer`. The
recipe does everything else the same way for every method: data, teacher evaluation, the teacher cache, training,
student evaluation, timing, ``results.json``. Optional hooks:

- ``arguments``: a dataclass of the method's own settings (name them ``<method>_<setting>`` so they stay unique);
  it is added to the recipe's `HfArgumentParser`, so they work from YAML and the command line alike, and the parsed
  instance is ``context.method_args``.
- ``build_student``: builds the student itself (e.g. a BiLSTM) instead of the recipe's ``--student_*`` options.
- ``export_student``: the model to evaluate and save after training (default: the trained ``trainer.model``).
- ``supports_teacher_cache``: whether, for these training arguments, the method needs nothing from the teacher but
  its logits, so a teacher-output cache (``--teacher_cache_dir``) can replace the teacher at training time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import datasets
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

from hf_distill import DistillationTrainer, DistillationTrainingArguments
from hf_distill.glue import GlueTask


@dataclass
class MethodContext:
    """Everything a method's builders get. ``teacher`` is ``None`` when training from a teacher-output cache
    (then both datasets carry a ``teacher_logits`` column)."""

    task: GlueTask
    teacher: PreTrainedModel | None
    student: PreTrainedModel | None
    tokenizer: PreTrainedTokenizerBase
    teacher_tokenizer: PreTrainedTokenizerBase
    training_args: DistillationTrainingArguments
    train_dataset: datasets.Dataset | None
    eval_dataset: datasets.Dataset | None
    data_collator: Callable
    compute_metrics: Callable
    callbacks: list
    model_args: Any
    data_args: Any
    method_args: Any = None


@dataclass(frozen=True)
class Method:
    """One entry of the registry (see the module docstring)."""

    name: str
    help: str
    build_trainer: Callable[[MethodContext], Trainer]
    arguments: type | None = None
    build_student: Callable[[MethodContext], PreTrainedModel] | None = None
    export_student: Callable[[Trainer], PreTrainedModel] | None = None
    supports_teacher_cache: Callable[[DistillationTrainingArguments], bool] = lambda training_args: False


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"A distillation method named {method.name!r} is already registered.")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"distill_method={name!r} is not a known method; use one of {', '.join(METHODS)}.")
    return METHODS[name]


def method_argument_classes() -> list[type]:
    """The registered methods' own argument dataclasses, for the recipe's parser."""
    return [method.arguments for method in METHODS.values() if method.arguments is not None]


# ---- The methods ----


def _distillation_trainer(context: MethodContext) -> Trainer:
    return DistillationTrainer(
        model=context.student,
        teacher_model=context.teacher,
        args=context.training_args,
        train_dataset=context.train_dataset,
        eval_dataset=context.eval_dataset,
        data_collator=context.data_collator,
        processing_class=context.tokenizer,
        compute_metrics=context.compute_metrics,
        callbacks=context.callbacks,
    )


def _logits_only(training_args: DistillationTrainingArguments) -> bool:
    # Intermediate terms (set directly or through distill_preset) need the teacher's hidden states at every step.
    return not any(getattr(training_args, name, None) for name in ("intermediate_terms", "distill_preset"))


register(
    Method(
        name="logit",
        help="Logit KD (Hinton et al.): (1 - alpha) * CE + alpha * T^2 * KL, plus DistillationTrainingArguments."
        "distill_preset's intermediate terms when set.",
        build_trainer=_distillation_trainer,
        supports_teacher_cache=_logits_only,
    )
)
