"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .augment import AugmentationConfig, Augmenter
from .cache import TeacherCacheMismatchError, add_teacher_logits, cached_teacher_logits, compute_teacher_logits
from .data import DistillationDataCollator
from .glue import GLUE_TASKS, GlueTask, get_task, glue_metrics, load_glue
from .trainer import DistillationTrainer

__all__ = [
    "DistillationDataCollator",
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "__version__",
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
