"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .augment import AugmentationConfig, Augmenter
from .cache import TeacherCacheMismatchError, add_teacher_logits, cached_teacher_logits, compute_teacher_logits
from .data import DistillationDataCollator
from .early_exit import FastBertConfig, FastBertForSequenceClassification, FastBertStageCallback
from .early_exit_report import plot_speed_curve, speed_report
from .glue import GLUE_TASKS, GlueTask, get_task, glue_metrics, load_glue
from .hub import HubPushError, push_student
from .layers import AttentionCapture, encoder_layers, map_layers
from .model_card import render_model_card
from .students import albert_student, narrow_student, shallow_student
from .terms import PRESETS, IntermediateTerm
from .theseus import ReplacementScheduler, TheseusArguments, export_successor, theseus_model
from .trainer import DistillationTrainer

__all__ = [
    "add_teacher_logits",
    "albert_student",
    "AttentionCapture",
    "AugmentationConfig",
    "Augmenter",
    "cached_teacher_logits",
    "compute_teacher_logits",
    "DistillationDataCollator",
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "encoder_layers",
    "export_successor",
    "FastBertConfig",
    "FastBertForSequenceClassification",
    "FastBertStageCallback",
    "get_task",
    "glue_metrics",
    "GLUE_TASKS",
    "GlueTask",
    "HubPushError",
    "IntermediateTerm",
    "load_glue",
    "map_layers",
    "narrow_student",
    "plot_speed_curve",
    "PRESETS",
    "push_student",
    "render_model_card",
    "ReplacementScheduler",
    "shallow_student",
    "speed_report",
    "TeacherCacheMismatchError",
    "theseus_model",
    "TheseusArguments",
    "__version__",
]
