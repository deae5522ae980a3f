"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .data import DistillationDataCollator
from .early_exit import FastBertConfig, FastBertForSequenceClassification, FastBertStageCallback
from .early_exit_report import plot_speed_curve, speed_report
from .trainer import DistillationTrainer

__all__ = [
    "DistillationDataCollator",
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "FastBertConfig",
    "FastBertForSequenceClassification",
    "FastBertStageCallback",
    "plot_speed_curve",
    "speed_report",
    "__version__",
]
