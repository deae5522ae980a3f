"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .augment import AugmentationConfig, Augmenter
from .cache import TeacherCacheMismatchError, add_teacher_logits, cached_teacher_logits, compute_teacher_logits
from .data import DistillationDataCollator
from .glue import GLUE_TASKS, GlueTask, get_task, glue_metrics, load_glue
from .hub import HubPushError, push_student
from .layers import AttentionCapture, encoder_layers, map_layers
from .model_card import render_model_card
from .students import albert_student, narrow_student, shallow_student
from .terms import PRESETS, IntermediateTerm
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
    "get_task",
    "glue_metrics",
    "GLUE_TASKS",
    "GlueTask",
    "HubPushError",
    "IntermediateTerm",
    "load_glue",
    "map_layers",
    "narrow_student",
    "PRESETS",
    "push_student",
    "render_model_card",
    "shallow_student",
    "TeacherCacheMismatchError",
    "__version__",
]
