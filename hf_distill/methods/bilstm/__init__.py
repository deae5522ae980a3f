"""The Distilled BiLSTM student (Tang et al., 2019, arXiv:1903.12136)."""

from .bilstm_config import BiLSTMArguments
from .modeling_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification, init_embeddings_from_teacher

__all__ = ["BiLSTMArguments", "BiLSTMConfig", "BiLSTMForSequenceClassification", "init_embeddings_from_teacher"]
