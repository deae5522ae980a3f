"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .augment import AugmentationConfig, Augmenter
from .cache import TeacherCacheMismatchError, add_teacher_logits, cached_teacher_logits, compute_teacher_logits
from .data import DistillationDataCollator
from .glue import GLUE_TASKS, GlueTask, get_task, glue_metrics, load_glue
from .layers import AttentionCapture, encoder_layers, map_layers
from .students import albert_student, narrow_student, shallow_student
from .terms import PRESETS, IntermediateTerm
from .trainer import DistillationTrainer

__all__ = [
    "AttentionCapture",
    "DistillationDataCollator",
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "IntermediateTerm",
    "PRESETS",
    "__version__",
    "albert_student",
    "encoder_layers",
    "map_layers",
    "narrow_student",
    "shallow_student",
]

# GLUE tasks and metrics, the teacher output cache, data augmentation (issue 4)
__all__ += [
    "GLUE_TASKS",
    "AugmentationConfig",
    "Augmenter",
    "GlueTask",
    "TeacherCacheMismatchError",
    "add_teacher_logits",
    "cached_teacher_logits",
    "compute_teacher_logits",
    "get_task",
    "glue_metrics",
    "load_glue",
]
