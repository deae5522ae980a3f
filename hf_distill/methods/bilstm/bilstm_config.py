"""The Distilled BiLSTM student's shape, parsable by `HfArgumentParser` next to the `TrainingArguments` (prefixed
``bilstm_`` so they share a parser with them); [`BiLSTMConfig`] is the model's own configuration.

Tang et al., "Distilling Task-Specific Knowledge from BERT into Simple Neural Networks", 2019,
https://arxiv.org/abs/1903.12136.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...papers import Paper, cites

__all__ = ["BiLSTMArguments"]

TANG = Paper(
    "Tang et al.",
    2019,
    "Distilling Task-Specific Knowledge from BERT into Simple Neural Networks",
    "arXiv",
    "https://arxiv.org/abs/1903.12136",
    "distilled BiLSTM",
    "a BiLSTM student regresses the teacher's logits",
)


@cites(TANG, "bilstm")
@dataclass
class BiLSTMArguments:
    """The BiLSTM student's shape (Tang et al., 2019); it reads the teacher's tokenizer output."""

    bilstm_embedding_size: int = field(default=300, metadata={"help": "BiLSTM: word-embedding width."})
    bilstm_hidden_size: int = field(default=300, metadata={"help": "BiLSTM: LSTM state size per direction."})
    bilstm_num_layers: int = field(default=1, metadata={"help": "BiLSTM: stacked BiLSTM layers."})
    bilstm_classifier_hidden_size: int = field(default=400, metadata={"help": "BiLSTM: width of the ReLU layer."})
    bilstm_dropout: float = field(default=0.1, metadata={"help": "BiLSTM: dropout."})
    bilstm_init_embeddings_from_teacher: bool = field(
        default=True,
        metadata={"help": "BiLSTM: start from the teacher's input embeddings (PCA-projected when narrower)."},
    )
