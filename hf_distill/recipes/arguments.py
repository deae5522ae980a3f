"""Arguments of `run_glue_distill.py`: dataclasses parsed by `HfArgumentParser` from a YAML/JSON config and the
command line, the command line winning."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from transformers import HfArgumentParser

from hf_distill.glue import get_task

from .config import CONFIG_HELP, RecipeArgumentParser, early_value, parse_with_config
from .methods import METHODS, Method, argument_classes

STAGES = ("distill", "teacher")


@dataclass
class ModelArguments:
    """Which teacher, which student, which method."""

    stage: str = field(
        default="distill",
        metadata={
            "help": "'distill': distil the teacher (--teacher_model_name_or_path, a teacher fine-tuned on the task) "
            "into the student. 'teacher': fine-tune the pre-trained model --teacher_model_name_or_path on the task "
            "first (plain fine-tuning; its output_dir is the teacher of a later 'distill' run).",
            "choices": list(STAGES),
        },
    )
    distill_method: str = field(
        default="logit",
        metadata={"help": "Distillation method, from hf_distill.recipes.methods.", "choices": list(METHODS)},
    )
    student_model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Path or Hub id of the student (a fresh classification head is added). Unset: the student is "
            "built from the teacher with --student_layers."
        },
    )
    student_layers: str | None = field(
        default=None,
        metadata={
            "help": "Keep only these encoder layers of the student source (the student checkpoint, or the teacher "
            "when no student is given), copying embeddings and classifier "
            "(hf_distill.methods.students.shallow_student): 'every_other', 'first_k' (with --student_num_layers) or "
            "comma-separated layer indices such as '0,2,4'."
        },
    )
    student_num_layers: int | None = field(
        default=None, metadata={"help": "Number of layers for student_layers='every_other' or 'first_k'."}
    )
    teacher_tokenizer_name: str | None = field(
        default=None, metadata={"help": "Teacher tokenizer (default: the teacher's folder / id)."}
    )
    student_tokenizer_name: str | None = field(
        default=None,
        metadata={"help": "Student tokenizer (default: the student's, or the teacher's for a student built from it)."},
    )
    student_base_model: str | None = field(
        default=None,
        metadata={
            "help": "Hub id of the checkpoint the student starts from, for the card's base_model, when "
            "student_model_name_or_path is a local folder (default: read from the folder when it is a Hub cache "
            "copy or its config.json names one)."
        },
    )
    teacher_hub_id: str | None = field(
        default=None,
        metadata={
            "help": "Hub id of the teacher, for the card's teacher field, when teacher_model_name_or_path is a local "
            "folder (default: read from its path when it is a Hub cache copy)."
        },
    )
    model_card_template: str | None = field(
        default=None,
        metadata={
            "help": "A Jinja2 model card template for --push_to_hub, instead of the packaged one (copy "
            "model_cards/distilled_student.md of the repository and edit it)."
        },
    )

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage={self.stage!r} is not one of {', '.join(STAGES)}.")
        if self.distill_method not in METHODS:
            raise ValueError(f"distill_method={self.distill_method!r} is not one of {', '.join(METHODS)}.")
        if self.model_card_template is not None and not os.path.isfile(os.path.expanduser(self.model_card_template)):
            raise ValueError(f"model_card_template={self.model_card_template!r} is not a file: give its path.")
        no_student = self.student_model_name_or_path is None and self.student_layers is None
        # A method with its own build_student (BiLSTM, FastBERT around the teacher) checks what it needs itself.
        if self.stage == "distill" and no_student and METHODS[self.distill_method].build_student is None:
            raise ValueError(
                "No student: set student_model_name_or_path (a checkpoint) and/or student_layers (layers of the "
                "teacher to keep, e.g. 'every_other' or '0,2,4')."
            )

    @property
    def student_layer_spec(self) -> str | list[int] | None:
        """``student_layers`` as `shallow_student` takes it: a strategy name or a list of layer indices."""
        if self.student_layers is None or self.student_layers in ("every_other", "first_k"):
            return self.student_layers
        try:
            return [int(part) for part in str(self.student_layers).replace(" ", "").strip("[]").split(",")]
        except ValueError:
            raise ValueError(
                f"student_layers={self.student_layers!r} is not 'every_other', 'first_k' or comma-separated layer "
                "indices such as '0,2,4'."
            ) from None


@dataclass
class DataArguments:
    """Which GLUE task, from where, how it is tokenized, cached and augmented."""

    task_name: str = field(metadata={"help": "GLUE task: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte or wnli."})
    glue_dir: str | None = field(
        default=None,
        metadata={
            "help": "Local GLUE folder with one sub-folder per task (SST-2/train.tsv, SST-2/dev.tsv, ...). Unset: "
            "the Hub dataset nyu-mll/glue."
        },
    )
    metric_name: str | None = field(
        default=None,
        metadata={
            "help": "The `evaluate` metric of the dev splits: a Hub metric ('glue', 'accuracy', ...) or a local "
            "folder or script, loaded with the task as configuration (evaluate.load(metric_name, task_name)). Unset: "
            "the GLUE metric module shipped with hf_distill (hf_distill.metrics.GLUE_METRIC_PATH, no Hub needed)."
        },
    )
    max_seq_length: int = field(default=128, metadata={"help": "Truncate inputs to this many tokens."})
    train_shuffle_seed: int | None = field(
        default=None,
        metadata={
            "help": "Shuffle the training rows with random.Random(seed).shuffle before max_train_samples picks the "
            "first ones (unset: file order)."
        },
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N rows of each dev split."})
    teacher_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder for the teacher output cache: the teacher's logits over the training set are computed "
            "once, stored there and reused, and training runs no teacher forward. A cache made for another "
            "teacher, data or tokenization is refused."
        },
    )
    overwrite_teacher_cache: bool = field(
        default=False, metadata={"help": "Recompute the teacher cache even when a file exists."}
    )
    augment_copies: int = field(
        default=0,
        metadata={"help": "Augmented copies per training example (0: no augmentation), labelled by the teacher."},
    )
    augment_mask_prob: float = field(default=0.1, metadata={"help": "Per-word probability of masking."})
    augment_replace_prob: float = field(
        default=0.1,
        metadata={"help": "Per-word probability of replacing by a masked-LM candidate or an embedding neighbour."},
    )
    augment_ngram_prob: float = field(default=0.25, metadata={"help": "Probability of keeping only an n-gram."})
    augment_ngram_max: int = field(default=5, metadata={"help": "Largest n for n-gram sampling."})
    augment_top_k: int = field(default=15, metadata={"help": "Candidates per replaced word."})
    augment_mlm_model: str | None = field(
        default=None,
        metadata={"help": "Masked LM (path or Hub id) for replacement candidates; unset: embedding neighbours only."},
    )
    augment_hard_labels: bool = field(
        default=False,
        metadata={"help": "Also give augmented rows the teacher's prediction as a hard label (Distilled BiLSTM)."},
    )
    inference_repeats: int = field(
        default=3,
        metadata={
            "help": "Timed passes over the dev set for the inference speedup (best one counts); 0 skips the timing "
            "(results.json then has no speedup)."
        },
    )
    num_threads: int | None = field(
        default=None,
        metadata={
            "help": "CPU threads per process (torch.set_num_threads). Unset: on the CPU under `accelerate launch`, "
            "which sets OMP_NUM_THREADS=1 unless told otherwise, the physical cores divided among the processes "
            "(as `accelerate launch --cpu` picks); an OMP_NUM_THREADS or --num_cpu_threads_per_process given to "
            "the launcher is kept."
        },
    )

    def __post_init__(self) -> None:
        get_task(self.task_name)  # an unknown task fails here, before anything is loaded
        if self.max_seq_length < 2:
            raise ValueError(f"max_seq_length={self.max_seq_length} must be >= 2.")
        if self.augment_copies < 0:
            raise ValueError(f"augment_copies={self.augment_copies} must be >= 0.")
        if self.inference_repeats < 0:
            raise ValueError(f"inference_repeats={self.inference_repeats} must be >= 0 (0 skips the timing).")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads={self.num_threads} must be >= 1 (or unset).")


def chosen_method(argv: list[str] | None = None) -> Method:
    """The method ``--distill_method`` names on the command line, else in the ``--config`` file, read before the
    full parse (as TRL's scripts pick their method's config class); an unknown name gets the default method's
    parser, whose ``--distill_method`` choices then reject it."""
    name = early_value(argv, "distill_method") or ModelArguments.distill_method
    return METHODS.get(name, METHODS[ModelArguments.distill_method])


def make_parser(method: Method | None = None) -> HfArgumentParser:
    """The recipe's parser: model and data arguments, then ``method``'s training arguments and own settings."""
    parser = RecipeArgumentParser(
        [ModelArguments, DataArguments, *argument_classes(method or METHODS[ModelArguments.distill_method])],
        description="Distil a teacher into a student on a GLUE task (or fine-tune the teacher with --stage teacher).",
    )
    parser.add_argument(
        "--config",
        default=None,
        help=CONFIG_HELP,
    )
    return parser


def parse_arguments(argv: list[str] | None = None) -> tuple[Any, ...]:
    """``(model_args, data_args, training_args, method_args, config_path)`` from ``--config`` and flags, with the
    arguments classes of the method ``--distill_method`` names (``method_args``: a list, empty or the method's own
    settings).

    The config's values become the parser's defaults, so a flag given on the command line overrides them. A config
    key that is no argument of the chosen method's parser raises `ValueError` naming it.
    """
    dataclasses_, config_path = parse_with_config(make_parser(chosen_method(argv)), argv)
    model_args, data_args, training_args, *method_args = dataclasses_
    if not training_args.teacher_model_name_or_path:  # DistillationTrainingArguments' field, required here
        raise ValueError(
            "the following arguments are required: --teacher_model_name_or_path (the teacher of stage 'distill', "
            "the pre-trained model of stage 'teacher'; see --help)"
        )
    return model_args, data_args, training_args, method_args, config_path
