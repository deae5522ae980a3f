"""The distillation methods `run_glue_distill.py` can run, by the name given to ``--distill_method``.

Adding a method is one `register` call at the bottom of this file: a `Method` whose ``build_trainer`` turns the
prepared run (`MethodContext`: teacher, student, tokenized datasets, collator, arguments) into a `Trainer`. The
recipe does everything else the same way for every method: data, teacher evaluation, the teacher cache, training,
student evaluation, timing, ``results.json``. Optional hooks:

- ``arguments``: the method's own settings, a dataclass declared next to its code in `hf_distill.methods` (prefixed
  ``<method>_`` so they share a parser with the training arguments); the parsed instance is ``context.method_args``.
- ``training_arguments``: the training-arguments class of the method (default `DistillationTrainingArguments`;
  MetaDistil's adds its own fields). The recipe picks both classes from ``--distill_method`` before parsing, so the
  command line, YAML configs and ``--help`` have exactly the chosen method's settings.
- ``build_student``: builds the student itself (e.g. a BiLSTM) instead of the recipe's ``--student_*`` options.
- ``export_student``: the model to evaluate and save after training (default: the trained ``trainer.model``).
- ``supports_teacher_cache``: whether, for these training arguments, the method needs nothing from the teacher but
  its logits, so a teacher-output cache (``--teacher_cache_dir``) can replace the teacher at training time.
- ``report``: extra results after the student's evaluation (``(trainer, context, student) -> dict``), written to
  ``results.json`` under ``method_results`` (e.g. FastBERT's speed table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import datasets
from transformers import (
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from hf_distill import (
    BiLSTMConfig,
    BiLSTMForSequenceClassification,
    DistillationTrainer,
    DistillationTrainingArguments,
    FastBertForSequenceClassification,
    FastBertStageCallback,
    MetaDistilTrainer,
    MetaDistilTrainingArguments,
    TheseusArguments,
    export_successor,
    init_embeddings_from_teacher,
)
from hf_distill.glue import GlueTask
from hf_distill.methods.bilstm import BiLSTMArguments
from hf_distill.methods.fastbert import FastBertArguments
from hf_distill.methods.fastbert.fastbert_report import write_speed_results
from hf_distill.methods.metadistil.metadistil_trainer import split_quiz
from hf_distill.methods.students import shallow_student

if TYPE_CHECKING:
    from .arguments import ModelArguments


def build_student(model_args: ModelArguments, task: GlueTask, teacher: PreTrainedModel) -> PreTrainedModel:
    """The student checkpoint (fresh head) and/or the chosen layers of it or of the teacher."""
    if model_args.student_model_name_or_path is not None:
        kwargs: dict[str, Any] = {"num_labels": task.num_labels, "ignore_mismatched_sizes": True}  # a new head
        if task.id2label:
            kwargs.update(id2label=task.id2label, label2id={v: k for k, v in task.id2label.items()})
        source = AutoModelForSequenceClassification.from_pretrained(model_args.student_model_name_or_path, **kwargs)
    else:
        source = teacher
    if model_args.student_layers is None:
        return source
    return shallow_student(source, model_args.student_layer_spec, num_layers=model_args.student_num_layers)


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

    def trainer_kwargs(self, *callbacks: TrainerCallback, args: TrainingArguments | None = None) -> dict[str, Any]:
        """The keyword arguments every method's `Trainer` shares: the student as ``model``, the training arguments
        (or the method's own ``args``), datasets, collator, tokenizer, metrics, and the recipe's callbacks followed
        by the method's own ``callbacks``."""
        return dict(
            model=self.student,
            args=self.training_args if args is None else args,
            train_dataset=self.train_dataset,
            eval_dataset=self.eval_dataset,
            data_collator=self.data_collator,
            processing_class=self.tokenizer,
            compute_metrics=self.compute_metrics,
            callbacks=[*self.callbacks, *callbacks],
        )


@dataclass(frozen=True)
class Method:
    """One entry of the registry (see the module docstring)."""

    name: str
    help: str
    build_trainer: Callable[[MethodContext], Trainer]
    arguments: type | None = None
    training_arguments: type = DistillationTrainingArguments
    build_student: Callable[[MethodContext], PreTrainedModel] | None = None
    export_student: Callable[[Trainer], PreTrainedModel] | None = None
    supports_teacher_cache: Callable[[DistillationTrainingArguments], bool] = lambda training_args: False
    report: Callable[[Trainer, MethodContext, PreTrainedModel], dict[str, Any]] | None = None


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


def argument_classes(method: Method) -> list[type]:
    """The training-arguments class of ``method`` and its own settings class, for the recipe's parser."""
    return [method.training_arguments, *([method.arguments] if method.arguments is not None else [])]


# ---- The methods ----


def _distillation_trainer(context: MethodContext) -> Trainer:
    return DistillationTrainer(teacher_model=context.teacher, **context.trainer_kwargs())


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


# ---- BERT-of-Theseus (Xu et al., EMNLP 2020) ----


def _theseus_student(context: MethodContext) -> PreTrainedModel:
    """The teacher (predecessor) wrapped for module replacement; its successors are what gets exported."""
    model_args, data_args = context.model_args, context.data_args
    if model_args.student_model_name_or_path or model_args.student_layers or model_args.student_tokenizer_name:
        raise ValueError(
            "distill_method='theseus' builds its successor layers from the teacher's own layers: drop "
            "student_model_name_or_path, student_layers and student_tokenizer_name, and set theseus_successor_layers."
        )
    if data_args.augment_copies > 0 and not data_args.augment_hard_labels:
        raise ValueError(
            "distill_method='theseus' trains on the task loss only, so augmented rows need labels: set "
            "augment_hard_labels=true (the teacher's predictions) or augment_copies=0."
        )
    return (context.method_args or TheseusArguments()).build_model(context.teacher)


def _theseus_trainer(context: MethodContext) -> Trainer:
    # Task loss only, the predecessor inside the model: the plain Trainer, with the replacement-rate callback.
    return Trainer(**context.trainer_kwargs((context.method_args or TheseusArguments()).scheduler()))


register(
    Method(
        name="theseus",
        help="BERT-of-Theseus (Xu et al.): the teacher's layer groups are replaced at random (rate p) by successor "
        "layers, which alone train on the task loss; the exported student has the successor layers only.",
        build_trainer=_theseus_trainer,
        arguments=TheseusArguments,
        build_student=_theseus_student,
        export_student=lambda trainer: export_successor(trainer.accelerator.unwrap_model(trainer.model)),
    )
)


# ---- FastBERT (Liu et al., ACL 2020) ----


class _SaveSpeed(TrainerCallback):
    """Train and evaluate during training with every layer (speed 0: untrained branches must not decide exits);
    record the chosen speed in the config at the end, so the saved and evaluated student uses it."""

    def __init__(self, speed: float):
        self.speed = speed

    def on_train_end(self, args, state, control, model=None, **kwargs):
        model.config.speed = self.speed


def _fastbert_student(context: MethodContext) -> PreTrainedModel:
    options: FastBertArguments = context.method_args
    if options.fastbert_backbone == "teacher":
        backbone = context.teacher
    else:
        if context.model_args.student_model_name_or_path is None and context.model_args.student_layers is None:
            raise ValueError(
                "fastbert_backbone='student' needs a student: set student_model_name_or_path (e.g. a pre-trained"
                " checkpoint) and/or student_layers, or use fastbert_backbone='teacher' with"
                " fastbert_backbone_epochs=0."
            )

        backbone = build_student(context.model_args, context.task, context.teacher)
    return FastBertForSequenceClassification.from_backbone(
        backbone, speed=0.0, branch_hidden_size=options.fastbert_branch_hidden_size,
        branch_pooling=options.fastbert_branch_pooling,
    )  # fmt: skip


def _fastbert_trainer(context: MethodContext) -> Trainer:
    options: FastBertArguments = context.method_args
    rate = options.fastbert_branches_learning_rate
    stages = FastBertStageCallback(
        backbone_epochs=options.fastbert_backbone_epochs,
        branches_lr_scale=rate / context.training_args.learning_rate if rate else 1.0,
    )
    # The teacher is the model's own last classifier: a plain Trainer, the model computes its loss.
    return Trainer(**context.trainer_kwargs(stages, _SaveSpeed(options.fastbert_speed)))


def _fastbert_report(trainer: Trainer, context: MethodContext, student: PreTrainedModel) -> dict[str, Any]:
    options: FastBertArguments = context.method_args
    return write_speed_results(
        student, context.eval_dataset, DataCollatorWithPadding(context.tokenizer), options.fastbert_speeds,
        context.training_args.output_dir, batch_sizes=options.fastbert_timing_batch_sizes,
        timing_rows=dict(zip(options.fastbert_timing_batch_sizes, options.fastbert_timing_rows)),
        repeats=options.fastbert_timing_repeats, title=f"FastBERT on {context.task.name}",
    )  # fmt: skip


register(
    Method(
        name="fastbert",
        help="FastBERT (Liu et al.): a branch classifier after every layer; stage 1 fine-tunes backbone + final "
        "classifier, stage 2 trains the branches on sum_i KL(p_i || p_final); adaptive exits at fastbert_speed; "
        "results.json method_results holds the speed table and the accuracy-vs-speedup PNG.",
        build_trainer=_fastbert_trainer,
        arguments=FastBertArguments,
        build_student=_fastbert_student,
        report=_fastbert_report,
    )
)


# ---- MetaDistil (Zhou et al., ACL 2022) ----


def _gold_row_quiz(train: datasets.Dataset, quiz_size: float, seed: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    """``(train, quiz)`` for augmented training rows (``augmented_from``: -1 on the gold rows, which come first, the
    source row's index on each copy). The quiz is held out of the gold rows, since the copies have no gold label
    for the quiz loss, and the copies of quiz rows leave training with them, so no quiz sentence is trained on."""
    sources = train["augmented_from"]
    gold = [i for i, source in enumerate(sources) if source == -1]
    if gold != list(range(len(gold))):
        raise ValueError("MetaDistil with augmented rows expects the gold rows first (augmented_from == -1).")
    quiz_rows = set(split_quiz(gold, quiz_size, seed)[1])
    keep = [i for i, source in enumerate(sources) if i not in quiz_rows and source not in quiz_rows]
    return train.select(keep), train.select(sorted(quiz_rows))


def _metadistil_trainer(context: MethodContext) -> Trainer:
    kwargs = context.trainer_kwargs()
    if "augmented_from" in context.train_dataset.column_names:
        kwargs["train_dataset"], kwargs["quiz_dataset"] = _gold_row_quiz(
            context.train_dataset, context.training_args.quiz_size, context.training_args.seed
        )
    return MetaDistilTrainer(teacher_model=context.teacher, **kwargs)


register(
    Method(
        name="metadistil",
        help="MetaDistil (Zhou et al.): the teacher learns from the student's quiz loss through a pilot update; "
        "MetaDistilTrainingArguments' settings (teacher_learning_rate, quiz_size, ...). Needs the live teacher "
        "(no teacher cache). With augment_copies the quiz is held out "
        "of the gold rows, their copies with them.",
        build_trainer=_metadistil_trainer,
        training_arguments=MetaDistilTrainingArguments,
    )
)


# ---- Distilled BiLSTM (Tang et al., 2019) ----


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
