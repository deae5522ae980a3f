"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .data import DistillationDataCollator
from .metadistil import MetaDistilTrainer, MetaDistilTrainingArguments
from .trainer import DistillationTrainer

__all__ = [
    "DistillationDataCollator",
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "MetaDistilTrainer",
    "MetaDistilTrainingArguments",
    "__version__",
]
