"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .assistant import ChainStage, chain_distillation
from .augment import AugmentationConfig, Augmenter
from .bilstm import BiLSTMConfig, BiLSTMForSequenceClassification, init_embeddings_from_teacher
from .cache import TeacherCacheMismatchError, add_teacher_logits, cached_teacher_logits, compute_teacher_logits
from .corpus import load_text_corpus, pack_blocks
from .data import DistillationDataCollator
from .early_exit import FastBertConfig, FastBertForSequenceClassification, FastBertStageCallback
from .early_exit_report import plot_speed_curve, speed_report
from .general import GENERAL_PRESETS, GeneralDistillationArguments, GeneralDistillationTrainer, build_general_student
from .glue import GLUE_TASKS, GlueTask, get_task, glue_metrics, load_glue
from .hub import HubPushError, push_student
from .layers import AttentionCapture, encoder_layers, map_layers
from .masking import DynamicMaskingCollator, MaskingEpochCallback
from .metadistil import MetaDistilTrainer, MetaDistilTrainingArguments
from .metrics import GLUE_METRIC_PATH
from .model_card import render_model_card
from .progressive import ProgressiveTransferCallback
from .students import albert_student, narrow_student, shallow_student
from .terms import PRESETS, IntermediateTerm
from .theseus import ReplacementScheduler, TheseusArguments, export_successor, theseus_model
from .trainer import DistillationTrainer

__all__ = [
    "add_teacher_logits",
    "albert_student",
    "AttentionCapture",
    "AugmentationConfig",
    "Augmenter",
    "BiLSTMConfig",
    "BiLSTMForSequenceClassification",
    "build_general_student",
    "cached_teacher_logits",
    "chain_distillation",
    "ChainStage",
    "compute_teacher_logits",
    "DistillationDataCollator",
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "DynamicMaskingCollator",
    "encoder_layers",
    "export_successor",
    "FastBertConfig",
    "FastBertForSequenceClassification",
    "FastBertStageCallback",
    "GENERAL_PRESETS",
    "GeneralDistillationArguments",
    "GeneralDistillationTrainer",
    "get_task",
    "glue_metrics",
    "GLUE_METRIC_PATH",
    "GLUE_TASKS",
    "GlueTask",
    "HubPushError",
    "init_embeddings_from_teacher",
    "IntermediateTerm",
    "load_glue",
    "load_text_corpus",
    "map_layers",
    "MaskingEpochCallback",
    "MetaDistilTrainer",
    "MetaDistilTrainingArguments",
    "narrow_student",
    "pack_blocks",
    "plot_speed_curve",
    "PRESETS",
    "ProgressiveTransferCallback",
    "push_student",
    "render_model_card",
    "ReplacementScheduler",
    "shallow_student",
    "speed_report",
    "TeacherCacheMismatchError",
    "theseus_model",
    "TheseusArguments",
    "__version__",
]
