"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`.

The package reads as its architecture:

- the core, at the top: [`DistillationTrainer`] (``trainer.py``, the centre) and its arguments (``arguments.py``);
  the pure losses (``losses.py``), intermediate terms and presets (``terms.py``, ``intermediate.py``), layer mapping
  and attention capture (``layers.py``), teacher loading (``teacher.py``), data collation (``data.py``), the teacher
  output cache (``cache.py``), GLUE tasks (``glue.py``), learning-rate stages (``schedules.py``);
- ``methods/``: one place per paper method (student builders, data augmentation, BERT-of-Theseus, FastBERT,
  MetaDistil, the Distilled BiLSTM, general distillation);
- ``hub/``: pushing a student to the Hub, its model card, the ``hf_distill`` command;
- ``recipes/``: the reusable part of the recipes in the repository's ``recipes/`` folder.
"""

__version__ = "0.1.0"

# ---- Core: the trainer, its arguments, intermediate terms and layers ----
from .arguments import DistillationTrainingArguments
from .cache import TeacherCacheMismatchError, add_teacher_logits, cached_teacher_logits, compute_teacher_logits
from .data import DistillationDataCollator
from .glue import GLUE_TASKS, GlueTask, get_task, glue_metrics, load_glue

# ---- Hub: push, model card ----
from .hub import HubPushError, push_student, render_model_card
from .layers import AttentionCapture, encoder_layers, map_layers

# ---- Methods, one per paper ----
from .methods.augmentation import AugmentationConfig, Augmenter
from .methods.bilstm import (
    BiLSTMArguments,
    BiLSTMConfig,
    BiLSTMForSequenceClassification,
    init_embeddings_from_teacher,
)
from .methods.fastbert import (
    FastBertArguments,
    FastBertConfig,
    FastBertForSequenceClassification,
    FastBertStageCallback,
    plot_speed_curve,
    speed_report,
)
from .methods.general import (
    GENERAL_PRESETS,
    ChainStage,
    DynamicMaskingCollator,
    GeneralDistillationArguments,
    GeneralDistillationTrainer,
    MaskingEpochCallback,
    ProgressiveTransferCallback,
    build_general_student,
    chain_distillation,
    load_text_corpus,
    pack_blocks,
)
from .methods.metadistil import MetaDistilTrainer, MetaDistilTrainingArguments
from .methods.students import albert_student, narrow_student, shallow_student
from .methods.theseus import ReplacementScheduler, TheseusArguments, export_successor, theseus_model
from .metrics import GLUE_METRIC_PATH
from .terms import PRESETS, IntermediateTerm
from .trainer import DistillationTrainer

__all__ = [
    # core
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "DistillationDataCollator",
    "IntermediateTerm",
    "PRESETS",
    "AttentionCapture",
    "encoder_layers",
    "map_layers",
    "TeacherCacheMismatchError",
    "add_teacher_logits",
    "cached_teacher_logits",
    "compute_teacher_logits",
    "GLUE_TASKS",
    "GlueTask",
    "get_task",
    "glue_metrics",
    "GLUE_METRIC_PATH",
    "load_glue",
    # methods
    "albert_student",
    "narrow_student",
    "shallow_student",
    "AugmentationConfig",
    "Augmenter",
    "ReplacementScheduler",
    "TheseusArguments",
    "export_successor",
    "theseus_model",
    "FastBertArguments",
    "FastBertConfig",
    "FastBertForSequenceClassification",
    "FastBertStageCallback",
    "plot_speed_curve",
    "speed_report",
    "MetaDistilTrainer",
    "MetaDistilTrainingArguments",
    "BiLSTMArguments",
    "BiLSTMConfig",
    "BiLSTMForSequenceClassification",
    "init_embeddings_from_teacher",
    "GENERAL_PRESETS",
    "GeneralDistillationArguments",
    "GeneralDistillationTrainer",
    "build_general_student",
    "load_text_corpus",
    "pack_blocks",
    "DynamicMaskingCollator",
    "MaskingEpochCallback",
    "ProgressiveTransferCallback",
    "ChainStage",
    "chain_distillation",
    # hub
    "HubPushError",
    "push_student",
    "render_model_card",
    "__version__",
]
