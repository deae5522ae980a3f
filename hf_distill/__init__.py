"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .data import DistillationDataCollator
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
