"""The Distilled BiLSTM student as a `PreTrainedModel`: Tang et al., "Distilling Task-Specific Knowledge from BERT
into Simple Neural Networks", 2019, https://arxiv.org/abs/1903.12136.

Word embeddings -> BiLSTM -> the concatenated final states of both directions ``h = [h_fwd, h_bwd]`` -> ReLU MLP ->
logits. For sentence pairs each side is encoded on its own and the head reads ``[h1, h2, h1 * h2, |h1 - h2|]``.

This file imports only torch and transformers, so that ``save_pretrained`` can ship it as custom code: a saved
student loads with ``AutoModelForSequenceClassification.from_pretrained(path)`` after ``import hf_distill`` (which
registers the classes with the Auto classes), or with ``trust_remote_code=True`` without hf_distill installed.
"""

from __future__ import annotations

from dataclasses import field

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

PAIR_FEATURES = ("h1", "h2", "product", "abs_difference")


class BiLSTMConfig(PreTrainedConfig):
    """Configuration of [`BiLSTMForSequenceClassification`].

    Args:
        vocab_size: rows of the word-embedding matrix (use the teacher's tokenizer and vocabulary size).
        embedding_size: width of the word embeddings (Tang et al.: 300).
        hidden_size: LSTM state size per direction; the sentence vector ``h`` is ``2 * hidden_size`` wide.
        num_layers: stacked BiLSTM layers (Tang et al.: 1).
        classifier_hidden_size: width of the ReLU layer of the MLP head.
        dropout: dropout on the embeddings and inside the head (and between LSTM layers when ``num_layers > 1``).
        sentence_pairs: encode the two segments of a pair (``token_type_ids`` 0 and 1) separately and combine them.
        pair_features: which of ``h1``, ``h2``, ``product`` (``h1 * h2``), ``abs_difference`` (``|h1 - h2|``) the
            head reads for pairs, concatenated in this order.
        pad_token_id: the padding id (same as the teacher's tokenizer).
    """

    model_type = "hf_distill_bilstm"

    vocab_size: int = 30522
    embedding_size: int = 300
    hidden_size: int = 300
    num_layers: int = 1
    classifier_hidden_size: int = 400
    dropout: float = 0.1
    sentence_pairs: bool = False
    pair_features: list[str] = field(default_factory=lambda: list(PAIR_FEATURES))
    pad_token_id: int | None = 0
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs) -> None:
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers", "classifier_hidden_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"BiLSTMConfig {name}={value!r} must be a positive integer.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"BiLSTMConfig dropout={self.dropout} must be in [0, 1).")
        self.pair_features = list(self.pair_features)
        unknown = [name for name in self.pair_features if name not in PAIR_FEATURES]
        if unknown or not self.pair_features or len(set(self.pair_features)) != len(self.pair_features):
            raise ValueError(
                f"BiLSTMConfig pair_features={self.pair_features} must be distinct names among "
                f"{', '.join(PAIR_FEATURES)} (the default uses all four, as Tang et al.)."
            )
        super().__post_init__(**kwargs)

    @property
    def sentence_width(self) -> int:
        """Width of one encoded sentence ``h = [h_fwd, h_bwd]``."""
        return 2 * self.hidden_size

    @property
    def head_input_size(self) -> int:
        """Width of the head's input: ``h`` for single sentences, the combined features for pairs."""
        return self.sentence_width * (len(self.pair_features) if self.sentence_pairs else 1)


class BiLSTMPreTrainedModel(PreTrainedModel):
    config_class = BiLSTMConfig
    config: BiLSTMConfig
    base_model_prefix = "bilstm"
    main_input_name = "input_ids"


class BiLSTMForSequenceClassification(BiLSTMPreTrainedModel):
    """The Distilled BiLSTM classifier; ``forward`` takes BERT-style inputs from the teacher's tokenizer.

    Shapes: ``input_ids``, ``attention_mask``, ``token_type_ids``: ``[batch, seq]``; ``logits``:
    ``[batch, num_labels]``. Single sentences: the LSTM reads every non-padded token (special tokens included).
    Pairs (``config.sentence_pairs``): tokens with ``token_type_ids == 0`` form the first sentence and ``== 1`` the
    second, each read by the same LSTM; the head gets ``[h1, h2, h1 * h2, |h1 - h2|]`` (``config.pair_features``).
    With ``labels``, the loss is the usual one for ``config.problem_type`` (cross-entropy, MSE, or BCE).
    """

    def __init__(self, config: BiLSTMConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.encoder = nn.LSTM(
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Sequential(
            nn.Linear(config.head_input_size, config.classifier_hidden_size),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.classifier_hidden_size, config.num_labels),
        )
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings = value

    def encode(self, input_ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``[batch, 2 * hidden]``: final states of both directions over the tokens where ``keep`` ``[batch, seq]``.

        The kept tokens of each row are moved to the front in their order and packed, so padding never enters the
        LSTM. A row with no kept token reads the first token of the row (it should not happen with real inputs).
        """
        keep = keep.bool()
        order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
        ids = torch.gather(input_ids, 1, order)
        lengths = keep.sum(1).clamp(min=1)
        embedded = self.dropout(self.embeddings(ids))
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (final, _) = self.encoder(packed)  # final: [num_layers * 2, batch, hidden]
        return torch.cat([final[-2], final[-1]], dim=-1)

    def combine(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """The pair features ``config.pair_features`` of two sentence vectors, concatenated: ``[batch, k * 2H]``."""
        features = {"h1": h1, "h2": h2, "product": h1 * h2, "abs_difference": (h1 - h2).abs()}
        return torch.cat([features[name] for name in self.config.pair_features], dim=-1)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        if input_ids is None:
            raise ValueError("BiLSTMForSequenceClassification needs input_ids [batch, seq].")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        attention_mask = attention_mask.bool()
        if self.config.sentence_pairs:
            if token_type_ids is None:
                raise ValueError(
                    "This BiLSTM student encodes sentence pairs (config.sentence_pairs=True) and needs "
                    "token_type_ids to tell the two sentences apart; tokenize the pairs with a BERT tokenizer."
                )
            second = token_type_ids.bool()
            features = self.combine(
                self.encode(input_ids, attention_mask & ~second), self.encode(input_ids, attention_mask & second)
            )
        else:
            features = self.encode(input_ids, attention_mask)
        logits = self.classifier(self.dropout(features))
        loss = self._loss(logits, labels) if labels is not None else None
        if return_dict is False:
            return (loss, logits) if loss is not None else (logits,)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        problem_type = self.config.problem_type
        if problem_type is None:
            if self.num_labels == 1:
                problem_type = "regression"
            elif labels.dtype in (torch.long, torch.int):
                problem_type = "single_label_classification"
            else:
                problem_type = "multi_label_classification"
        if problem_type == "regression":
            return nn.functional.mse_loss(logits.squeeze(-1), labels.float().reshape(-1))
        if problem_type == "single_label_classification":
            return nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return nn.functional.binary_cross_entropy_with_logits(logits, labels.float())


@torch.no_grad()
def init_embeddings_from_teacher(student: BiLSTMForSequenceClassification, teacher: nn.Module | torch.Tensor) -> float:
    """Initialise the student's word embeddings from the teacher's input embeddings; returns the variance kept.

    With ``E`` the teacher's ``[vocab, d_t]`` matrix and ``d_s`` the student's ``embedding_size``:

    - ``d_s == d_t``: copied as is (returns 1.0);
    - ``d_s < d_t``: PCA projection ``(E - mean(E)) @ V[:, :d_s]``, ``V`` the right singular vectors of the centred
      ``E`` by decreasing singular value: the ``d_s`` directions along which the teacher's embeddings vary most.
      Returns the fraction of the (centred) variance those directions keep;
    - ``d_s > d_t``: ``E`` in the first ``d_t`` dimensions, the rest drawn from ``N(0, std(E))`` (returns 1.0).

    ``teacher`` is a model (its ``get_input_embeddings()``) or the matrix itself. The vocabularies must match.
    """
    matrix = teacher if torch.is_tensor(teacher) else teacher.get_input_embeddings().weight
    matrix = matrix.detach().float()
    weight = student.get_input_embeddings().weight
    (vocab, teacher_size), student_size = matrix.shape, weight.shape[1]
    if vocab != weight.shape[0]:
        raise ValueError(
            f"The teacher's embeddings have {vocab} rows and the student's {weight.shape[0]}: build the BiLSTM with "
            f"vocab_size={vocab} and use the teacher's tokenizer."
        )
    kept = 1.0
    if student_size == teacher_size:
        values = matrix
    elif student_size < teacher_size:
        centred = matrix - matrix.mean(0, keepdim=True)
        _, singular, right = torch.linalg.svd(centred, full_matrices=False)
        values = centred @ right[:student_size].T
        kept = (singular[:student_size].pow(2).sum() / singular.pow(2).sum()).item()
    else:
        extra = torch.randn(vocab, student_size - teacher_size, device=matrix.device) * matrix.std()
        values = torch.cat([matrix, extra], dim=1)
    weight.copy_(values.to(weight.dtype))
    return kept


if __name__.startswith("hf_distill"):  # the installed library registers; a copy loaded as remote code does not
    AutoConfig.register(BiLSTMConfig.model_type, BiLSTMConfig, exist_ok=True)
    AutoModelForSequenceClassification.register(BiLSTMConfig, BiLSTMForSequenceClassification, exist_ok=True)
    BiLSTMConfig.register_for_auto_class()
    BiLSTMForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
