"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .assistant import ChainStage, chain_distillation
from .corpus import load_text_corpus, pack_blocks
from .data import DistillationDataCollator
from .general import GENERAL_PRESETS, GeneralDistillationArguments, GeneralDistillationTrainer, build_general_student
from .layers import AttentionCapture, encoder_layers, map_layers
from .masking import DynamicMaskingCollator, MaskingEpochCallback
from .progressive import ProgressiveTransferCallback
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
    # Task-agnostic (general) distillation
    "ChainStage",
    "DynamicMaskingCollator",
    "GENERAL_PRESETS",
    "GeneralDistillationArguments",
    "GeneralDistillationTrainer",
    "MaskingEpochCallback",
    "ProgressiveTransferCallback",
    "build_general_student",
    "chain_distillation",
    "load_text_corpus",
    "pack_blocks",
]
