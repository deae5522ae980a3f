"""Task-agnostic (general) distillation: a student distilled from a pre-trained teacher on plain text.

``general_trainer.py`` holds the trainer, its arguments and the presets (DistilBERT, TinyBERT, MobileBERT, MiniLM,
MiniLMv2); ``corpus.py`` reads and packs the text, ``masking.py`` masks it afresh every epoch, ``progressive.py`` is
MobileBERT's progressive knowledge transfer and ``assistant.py`` MiniLM's teacher-assistant chain.
"""

from .assistant import ChainStage, chain_distillation
from .corpus import load_text_corpus, pack_blocks
from .general_config import GENERAL_PRESETS, GeneralDistillationArguments
from .general_trainer import GeneralDistillationTrainer, build_general_student
from .masking import DynamicMaskingCollator, MaskingEpochCallback
from .progressive import ProgressiveTransferCallback

__all__ = [
    "GENERAL_PRESETS",
    "ChainStage",
    "DynamicMaskingCollator",
    "GeneralDistillationArguments",
    "GeneralDistillationTrainer",
    "MaskingEpochCallback",
    "ProgressiveTransferCallback",
    "build_general_student",
    "chain_distillation",
    "load_text_corpus",
    "pack_blocks",
]
