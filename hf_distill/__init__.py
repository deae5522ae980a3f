"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .bilstm import BiLSTMConfig, BiLSTMForSequenceClassification, init_embeddings_from_teacher
from .data import DistillationDataCollator
from .metadistil import MetaDistilTrainer, MetaDistilTrainingArguments
from .trainer import DistillationTrainer

__all__ = [
    "BiLSTMConfig",
    "BiLSTMForSequenceClassification",
    "DistillationDataCollator",
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "MetaDistilTrainer",
    "MetaDistilTrainingArguments",
    "__version__",
    "init_embeddings_from_teacher",
]
