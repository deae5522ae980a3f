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
from dataclasses import dataclass, field
from typing import Any

import datasets
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

from hf_distill import (
    BiLSTMConfig,
    BiLSTMForSequenceClassification,
    DistillationTrainer,
    DistillationTrainingArguments,
    MetaDistilTrainer,
    MetaDistilTrainingArguments,
    init_embeddings_from_teacher,
)
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


# ---- MetaDistil (issue 9) ----


@dataclass
class MetaDistilArguments:
    """MetaDistil's own settings (METHODS.md section 10); see `MetaDistilTrainingArguments` for the details."""

    metadistil_teacher_learning_rate: float = field(
        default=1e-5, metadata={"help": "MetaDistil: learning rate of the teacher's meta-update (0 = plain KD)."}
    )
    metadistil_teacher_optimizer: str = field(
        default="adamw", metadata={"help": "MetaDistil: the teacher's optimizer, 'adamw' or 'sgd'."}
    )
    metadistil_quiz_size: float = field(
        default=0.1,
        metadata={"help": "MetaDistil: quiz rows held out of the training rows (a fraction in (0, 1) or a count)."},
    )
    metadistil_pilot_learning_rate: float | None = field(
        default=None,
        metadata={"help": "MetaDistil: step size of the pilot update (default: the student's current rate)."},
    )
    metadistil_save_teacher: bool = field(
        default=True, metadata={"help": "MetaDistil: save the updated teacher under OUTPUT_DIR/teacher."}
    )


def _metadistil_trainer(context: MethodContext) -> Trainer:
    settings = context.method_args or MetaDistilArguments()
    args = MetaDistilTrainingArguments.from_training_arguments(
        context.training_args,
        teacher_learning_rate=settings.metadistil_teacher_learning_rate,
        teacher_optimizer=settings.metadistil_teacher_optimizer,
        quiz_size=settings.metadistil_quiz_size,
        pilot_learning_rate=settings.metadistil_pilot_learning_rate,
        save_teacher=settings.metadistil_save_teacher,
    )
    return MetaDistilTrainer(
        model=context.student,
        teacher_model=context.teacher,
        args=args,
        train_dataset=context.train_dataset,
        eval_dataset=context.eval_dataset,
        data_collator=context.data_collator,
        processing_class=context.tokenizer,
        compute_metrics=context.compute_metrics,
        callbacks=context.callbacks,
    )


register(
    Method(
        name="metadistil",
        help="MetaDistil (Zhou et al.): the teacher learns from the student's quiz loss through a pilot update; "
        "--metadistil_* settings. Needs the live teacher (no teacher cache).",
        build_trainer=_metadistil_trainer,
        arguments=MetaDistilArguments,
    )
)


# ---- Distilled BiLSTM (issue 9) ----


@dataclass
class BiLSTMArguments:
    """The BiLSTM student's shape (METHODS.md section 2); it reads the teacher's tokenizer output."""

    bilstm_embedding_size: int = field(default=300, metadata={"help": "BiLSTM: word-embedding width."})
    bilstm_hidden_size: int = field(default=300, metadata={"help": "BiLSTM: LSTM state size per direction."})
    bilstm_num_layers: int = field(default=1, metadata={"help": "BiLSTM: stacked BiLSTM layers."})
    bilstm_classifier_hidden_size: int = field(default=400, metadata={"help": "BiLSTM: width of the ReLU layer."})
    bilstm_dropout: float = field(default=0.1, metadata={"help": "BiLSTM: dropout."})
    bilstm_init_embeddings_from_teacher: bool = field(
        default=True,
        metadata={"help": "BiLSTM: start from the teacher's input embeddings (PCA-projected when narrower)."},
    )


def _bilstm_student(context: MethodContext) -> PreTrainedModel:
    settings = context.method_args or BiLSTMArguments()
    teacher = context.teacher
    if context.tokenizer.get_vocab() != context.teacher_tokenizer.get_vocab():
        raise ValueError(
            "distill_method='bilstm' reads the teacher's tokenizer output (its embeddings start from the "
            "teacher's): drop --student_model_name_or_path / --student_tokenizer_name."
        )
    config = BiLSTMConfig(
        vocab_size=teacher.config.vocab_size,
        pad_token_id=teacher.config.pad_token_id,
        embedding_size=settings.bilstm_embedding_size,
        hidden_size=settings.bilstm_hidden_size,
        num_layers=settings.bilstm_num_layers,
        classifier_hidden_size=settings.bilstm_classifier_hidden_size,
        dropout=settings.bilstm_dropout,
        sentence_pairs=len(context.task.text_fields) == 2,
        num_labels=teacher.config.num_labels,
        id2label=teacher.config.id2label,
        label2id=teacher.config.label2id,
        problem_type="regression" if teacher.config.num_labels == 1 else "single_label_classification",
    )
    student = BiLSTMForSequenceClassification(config)
    if settings.bilstm_init_embeddings_from_teacher:
        init_embeddings_from_teacher(student, teacher)
    return student


register(
    Method(
        name="bilstm",
        help="Distilled BiLSTM (Tang et al.): a BiLSTM student (--bilstm_* shape) trained like the logit method; "
        "use kd_loss_type: mse and augment_copies (see recipes/configs/sst2_bilstm.yaml).",
        build_trainer=_distillation_trainer,
        arguments=BiLSTMArguments,
        build_student=_bilstm_student,
        supports_teacher_cache=_logits_only,
    )
)
