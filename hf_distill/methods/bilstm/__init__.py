"""The Distilled BiLSTM student (Tang et al., 2019, arXiv:1903.12136)."""

from .modeling_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification, init_embeddings_from_teacher

__all__ = ["BiLSTMConfig", "BiLSTMForSequenceClassification", "init_embeddings_from_teacher"]
