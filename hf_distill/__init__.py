"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .data import DistillationDataCollator
from .theseus import ReplacementScheduler, TheseusArguments, export_successor, theseus_model
from .trainer import DistillationTrainer

__all__ = [
    "DistillationDataCollator",
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "ReplacementScheduler",
    "TheseusArguments",
    "export_successor",
    "theseus_model",
    "__version__",
]
