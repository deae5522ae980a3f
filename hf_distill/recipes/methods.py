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
- ``report``: extra results after the student's evaluation (``(trainer, context, student) -> dict``), written to
  ``results.json`` under ``method_results`` (e.g. FastBERT's speed table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
from hf_distill.methods.fastbert.fastbert_report import write_speed_results
from hf_distill.methods.metadistil.metadistil_trainer import split_quiz
from hf_distill.methods.students import shallow_student
from hf_distill.modeling_fastbert import BRANCH_POOLINGS, check_speed

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


def method_argument_classes() -> list[type]:
    """The registered methods' own argument dataclasses, for the recipe's parser."""
    return [method.arguments for method in METHODS.values() if method.arguments is not None]


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


# ---- BERT-of-Theseus (issue 5) ----


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


# ---- FastBERT (METHODS.md section 9) ----


@dataclass
class FastBertArguments:
    """``--distill_method fastbert``: early exits trained by self-distillation, then the speed table."""

    fastbert_backbone: str = field(
        default="student",
        metadata={
            "help": "What gets the branch classifiers: 'student' (the recipe's student, usually a pre-trained "
            "checkpoint: stage 1 fine-tunes it for fastbert_backbone_epochs, then stage 2) or 'teacher' (a copy of "
            "the fine-tuned teacher: stage 2 only, fastbert_backbone_epochs must be 0).",
            "choices": ["student", "teacher"],
        },
    )
    fastbert_backbone_epochs: float = field(
        default=2.0,
        metadata={"help": "Epochs of stage 1 (task fine-tuning); the rest of num_train_epochs is stage 2."},
    )
    fastbert_branches_learning_rate: float | None = field(
        default=1e-3,
        metadata={"help": "Peak learning rate of stage 2 (fresh branches); None: the run's learning_rate."},
    )
    fastbert_speed: float = field(
        default=0.5,
        metadata={"help": "Exit threshold in [0, 1] saved in the model's config and used to evaluate the student."},
    )
    fastbert_speeds: list[float] = field(
        default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        metadata={"help": "Speeds of the speed table and curve (results.json method_results, the PNG)."},
    )
    fastbert_branch_hidden_size: int = field(default=128, metadata={"help": "Width of each branch classifier."})
    fastbert_branch_pooling: str = field(
        default="mean", metadata={"help": "What a branch reads.", "choices": list(BRANCH_POOLINGS)}
    )
    fastbert_timing_batch_sizes: list[int] = field(
        default_factory=lambda: [1, 32], metadata={"help": "Batch sizes the speed table times."}
    )
    fastbert_timing_rows: list[int] = field(
        default_factory=lambda: [128, 256],
        metadata={"help": "Evaluation rows timed at each of fastbert_timing_batch_sizes (accuracy uses them all)."},
    )
    fastbert_timing_repeats: int = field(default=2, metadata={"help": "Timing rounds (minimum taken)."})

    def __post_init__(self) -> None:
        if self.fastbert_backbone not in ("student", "teacher"):
            raise ValueError(f"fastbert_backbone={self.fastbert_backbone!r} is not one of 'student', 'teacher'.")
        if self.fastbert_backbone == "teacher" and self.fastbert_backbone_epochs != 0:
            raise ValueError(
                f"fastbert_backbone='teacher' wraps an already fine-tuned model: stage 1 must be skipped, set "
                f"fastbert_backbone_epochs=0 (got {self.fastbert_backbone_epochs})."
            )
        check_speed(self.fastbert_speed)
        for speed in self.fastbert_speeds:
            check_speed(speed)
        if len(self.fastbert_timing_rows) != len(self.fastbert_timing_batch_sizes):
            raise ValueError(
                f"fastbert_timing_rows={self.fastbert_timing_rows} needs one row count per batch size in "
                f"fastbert_timing_batch_sizes={self.fastbert_timing_batch_sizes}."
            )
        if self.fastbert_branches_learning_rate is not None and not self.fastbert_branches_learning_rate > 0:
            raise ValueError(f"fastbert_branches_learning_rate={self.fastbert_branches_learning_rate} must be > 0.")


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
    settings = context.method_args or MetaDistilArguments()
    args = MetaDistilTrainingArguments.from_training_arguments(
        context.training_args,
        teacher_learning_rate=settings.metadistil_teacher_learning_rate,
        teacher_optimizer=settings.metadistil_teacher_optimizer,
        quiz_size=settings.metadistil_quiz_size,
        pilot_learning_rate=settings.metadistil_pilot_learning_rate,
        save_teacher=settings.metadistil_save_teacher,
    )
    kwargs = context.trainer_kwargs(args=args)
    if "augmented_from" in context.train_dataset.column_names:
        kwargs["train_dataset"], kwargs["quiz_dataset"] = _gold_row_quiz(
            context.train_dataset, args.quiz_size, args.seed
        )
    return MetaDistilTrainer(teacher_model=context.teacher, **kwargs)


register(
    Method(
        name="metadistil",
        help="MetaDistil (Zhou et al.): the teacher learns from the student's quiz loss through a pilot update; "
        "--metadistil_* settings. Needs the live teacher (no teacher cache). With augment_copies the quiz is held out "
        "of the gold rows, their copies with them.",
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
