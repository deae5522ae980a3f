"""Encoder layers per architecture, teacher-student layer mappings, and capture of what model outputs do not give.

Layer numbering everywhere in hf_distill follows TinyBERT (Jiao et al., Findings of EMNLP 2020, arXiv:1909.10351):
layer 0 is the embedding layer, layers 1..N are the transformer layers, so ``hidden_states[m]`` is the output of layer
``m`` and attention of layer ``m`` is ``attentions[m - 1]``. Negative numbers count from the top (-1 = the last layer).

Hidden states come from the model outputs (``output_hidden_states``). The projections Q, K, V and the pre-softmax
scores ``Q K^T / sqrt(d_k)`` (from which attention terms compute distributions, before attention dropout and under
any attention implementation) are not in the outputs: `AttentionCapture` records them with forward hooks on the
attention projections named in `ARCHITECTURES`, a small per-architecture table. `WordEmbeddingProbe` perturbs the
word-embedding lookup's output and keeps it, for gradients with respect to the inputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

LAYER_MAPPINGS = ("uniform", "skip", "last")
CAPTURE_KINDS = ("query", "key", "value")


@dataclass(frozen=True)
class ArchitectureSpec:
    """Where one architecture keeps its layers and attention projections.

    Attributes:
        layers: path of the ``nn.ModuleList`` of transformer layers, from the base model (``model.base_model``).
        query, key, value: paths of the Q/K/V ``nn.Linear`` projections inside one layer.
        position_bias: path (from the base model) of a module whose output is added to every layer's scores before
            the softmax (MPNet's relative position bias: output ``[seq, seq, heads]``), or None.
    """

    layers: str
    query: str
    key: str
    value: str
    position_bias: str | None = None


_BERT_LIKE = ArchitectureSpec("encoder.layer", "attention.self.query", "attention.self.key", "attention.self.value")
ARCHITECTURES: dict[str, ArchitectureSpec] = {
    "bert": _BERT_LIKE,
    "roberta": _BERT_LIKE,
    "mpnet": ArchitectureSpec(
        "encoder.layer", "attention.attn.q", "attention.attn.k", "attention.attn.v", "encoder.relative_attention_bias"
    ),
    "distilbert": ArchitectureSpec("transformer.layer", "attention.q_lin", "attention.k_lin", "attention.v_lin"),
}


def architecture_spec(model: nn.Module) -> ArchitectureSpec:
    """The `ArchitectureSpec` of ``model`` (by ``config.model_type``); `ValueError` naming it when unsupported."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"{type(model).__name__} (model_type={model_type!r}) is not supported for layer access and attention "
            f"capture; supported: {', '.join(ARCHITECTURES)}. Hidden-state and attention-map losses work with any "
            "model that returns hidden_states/attentions; for Q/K/V and score losses, add an entry to "
            "hf_distill.layers.ARCHITECTURES."
        )
    return ARCHITECTURES[model_type]


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The ``nn.ModuleList`` of ``model``'s transformer layers (BERT, RoBERTa, MPNet, DistilBERT)."""
    spec = architecture_spec(model)
    return getattr(model, "base_model", model).get_submodule(spec.layers)


def encoder_layers_prefix(model: nn.Module) -> str:
    """The state-dict prefix of the layer list, e.g. ``"bert.encoder.layer"`` for a `BertForSequenceClassification`."""
    layers = encoder_layers(model)
    return next(name for name, module in model.named_modules() if module is layers)


def num_layers(model: nn.Module) -> int:
    return int(model.config.num_hidden_layers)


def hidden_width(model: nn.Module) -> int:
    return int(model.config.hidden_size)


def num_heads(model: nn.Module) -> int:
    return int(model.config.num_attention_heads)


# ---- Layer mapping ----


def parse_layer_mapping(value: str | Sequence) -> str | list[tuple[int, int]]:
    """A strategy name, or explicit ``(student_layer, teacher_layer)`` pairs.

    Explicit forms: ``"1:2,2:4,3:6"`` or ``[[1, 2], [2, 4], [3, 6]]`` (pairs), ``"2,4,6"`` or ``[2, 4, 6]`` (the
    teacher layers of student layers 1, 2, 3).
    """
    if isinstance(value, str):
        text = value.strip()
        if text in LAYER_MAPPINGS:
            return text
        if not re.fullmatch(r"\s*-?\d+(\s*:\s*-?\d+)?(\s*,\s*-?\d+(\s*:\s*-?\d+)?)*\s*", text):
            raise ValueError(
                f"layer_mapping={value!r} is not one of {', '.join(LAYER_MAPPINGS)} nor an explicit list such as "
                "'1:2,2:4,3:6' (student:teacher pairs) or '2,4,6' (teacher layers of student layers 1, 2, 3)."
            )
        value = [[int(x) for x in item.split(":")] if ":" in item else int(item) for item in text.split(",")]
    pairs = []
    for position, item in enumerate(value, start=1):
        if isinstance(item, int):
            pairs.append((position, item))
        elif isinstance(item, Sequence) and len(item) == 2 and all(isinstance(x, int) for x in item):
            pairs.append((int(item[0]), int(item[1])))
        else:
            raise ValueError(
                f"layer_mapping entry {item!r} is neither a teacher layer (int) nor a [student, teacher] pair."
            )
    if not pairs:
        raise ValueError("layer_mapping is an empty list; give at least one student:teacher pair.")
    return pairs


def map_layers(mapping: str | Sequence, num_student_layers: int, num_teacher_layers: int) -> list[tuple[int, int]]:
    """``(student_layer, teacher_layer)`` pairs, layers numbered 1..M and 1..N (0 = embeddings).

    - ``"uniform"`` (TinyBERT): student layer ``m`` learns from teacher layer ``floor(m * N / M)``, m = 1..M.
    - ``"skip"`` (PKD-Skip): the same for m = 1..M-1 (the top layer is left to the logit loss): 6 -> 3 gives
      (1, 2), (2, 4); 12 -> 6 gives teacher layers 2, 4, 6, 8, 10.
    - ``"last"`` (PKD-Last): m = 1..M-1 learn from the M-1 teacher layers just below the top: ``N - M + m``
      (12 -> 6: 7, 8, 9, 10, 11).
    - explicit pairs or teacher layers (see `parse_layer_mapping`); negative layers count from the top.
    """
    m_layers, n_layers = num_student_layers, num_teacher_layers
    mapping = parse_layer_mapping(mapping)
    if mapping == "uniform":
        return [(m, m * n_layers // m_layers) for m in range(1, m_layers + 1)]
    if mapping == "skip":
        return [(m, m * n_layers // m_layers) for m in range(1, m_layers)]
    if mapping == "last":
        return [(m, n_layers - m_layers + m) for m in range(1, m_layers)]
    return [(resolve_layer(s, m_layers, "student", 0), resolve_layer(t, n_layers, "teacher", 0)) for s, t in mapping]


def resolve_layer(layer: int, count: int, side: str, lowest: int) -> int:
    """``layer`` as a number in ``lowest..count`` (negative counts from the top); `ValueError` when out of range."""
    resolved = layer + count + 1 if layer < 0 else layer
    if not lowest <= resolved <= count:
        what = "0 (embeddings) to" if lowest == 0 else "1 to"
        raise ValueError(
            f"{side} layer {layer} is out of range: the {side} has {count} layers, numbered {what} {count} "
            f"(or -1 for the last)."
        )
    return resolved


# ---- Capture with forward hooks ----


class AttentionCapture:
    """Forward hooks recording one model's Q/K/V projections (and MPNet's position bias) for chosen layers.

    Use as a context manager around the forward pass; the hooks are removed on exit, the recordings stay::

        with AttentionCapture(model, {"query": {3}, "key": {3}}) as capture:
            model(**inputs)
        scores = capture.scores(3)  # [batch, heads, seq, seq], pre-softmax

    Tensors keep their autograd graph (the student's losses backpropagate through them).
    """

    def __init__(self, model: nn.Module, layers_by_kind: dict[str, Iterable[int]]) -> None:
        self.model = model
        self.layers_by_kind = {kind: sorted(set(layers)) for kind, layers in layers_by_kind.items() if layers}
        unknown = set(self.layers_by_kind) - set(CAPTURE_KINDS)
        if unknown:
            raise ValueError(f"Cannot capture {sorted(unknown)}: capture kinds are {', '.join(CAPTURE_KINDS)}.")
        self.spec = architecture_spec(model) if self.layers_by_kind else None
        self.records: dict[tuple[str, int], torch.Tensor] = {}
        self.position_bias: torch.Tensor | None = None
        self._handles: list = []

    def __enter__(self) -> AttentionCapture:
        self.records.clear()
        self.position_bias = None
        if self.spec is None:
            return self
        layers = encoder_layers(self.model)
        for kind, indices in self.layers_by_kind.items():
            for index in indices:
                resolve_layer(index, len(layers), "captured", 1)
                module = layers[index - 1].get_submodule(getattr(self.spec, kind))
                self._handles.append(module.register_forward_hook(self._recorder(kind, index)))
        if self.spec.position_bias and {"query", "key"} <= set(self.layers_by_kind):
            module = getattr(self.model, "base_model", self.model).get_submodule(self.spec.position_bias)
            self._handles.append(module.register_forward_hook(self._record_position_bias))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _recorder(self, kind: str, index: int):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            self.records[(kind, index)] = output

        return hook

    def _record_position_bias(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        # [q, k, heads] (or [batch, q, k, heads] with explicit position ids) -> [1 or batch, heads, q, k]
        self.position_bias = output.permute(2, 0, 1).unsqueeze(0) if output.dim() == 3 else output.permute(0, 3, 1, 2)

    def states(self, kind: str, layer: int) -> torch.Tensor:
        """The recorded ``[batch, seq, width]`` output of layer ``layer``'s ``kind`` projection."""
        try:
            return self.records[(kind, layer)]
        except KeyError:
            raise ValueError(
                f"No {kind} recorded for layer {layer} of {type(self.model).__name__}: it was not requested, or the "
                "forward pass did not run inside the capture."
            ) from None

    def scores(self, layer: int) -> torch.Tensor:
        """Pre-softmax attention scores ``Q K^T / sqrt(d_k)`` (+ position bias) of ``layer``: ``[batch, heads, q, k]``.

        The additive padding mask is not included: losses take the attention mask explicitly.
        """
        heads = num_heads(self.model)
        query, key = self.states("query", layer), self.states("key", layer)
        batch, seq, width = query.shape
        head_dim = width // heads
        query = query.view(batch, seq, heads, head_dim).transpose(1, 2)
        key = key.view(batch, seq, heads, head_dim).transpose(1, 2)
        scores = query @ key.transpose(-1, -2) * head_dim**-0.5
        if self.position_bias is not None:
            scores = scores + self.position_bias
        return scores


# ---- The word embeddings: perturbed, and differentiated with respect to ----


def word_embeddings(model: nn.Module) -> nn.Embedding:
    """``model.get_input_embeddings()``, the word-embedding lookup; `ValueError` naming the model when it has none."""
    try:
        embeddings = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        embeddings = None
    if not isinstance(embeddings, nn.Embedding):
        raise ValueError(
            f"{type(model).__name__} has no word-embedding lookup reachable through get_input_embeddings() (got "
            f"{type(embeddings).__name__}), which the input_gradient term perturbs and differentiates: use a "
            "transformers encoder (BERT, RoBERTa, MPNet, DistilBERT, ...) or implement get_input_embeddings()."
        )
    return embeddings


class WordEmbeddingProbe:
    """A forward hook on the word-embedding lookup (``get_input_embeddings()``: before position and token-type
    embeddings are added) that can perturb its output ``E [batch, seq, d]`` and keeps what the model then reads::

        with WordEmbeddingProbe(model, perturb=lambda e: e + noise) as probe:
            logits = model(**inputs).logits
        (grad,) = torch.autograd.grad(logits[:, 0].sum(), probe.embeddings)

    The kept tensor always requires grad: a frozen model's lookup output is made a leaf that does, so gradients
    reach it without reaching the model's weights. The hook is removed on exit.
    """

    def __init__(self, model: nn.Module, perturb: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.model = model
        self.lookup = word_embeddings(model)
        self.perturb = perturb
        self.embeddings: torch.Tensor | None = None
        self._handle = None

    def __enter__(self) -> WordEmbeddingProbe:
        self.embeddings = None
        self._handle = self.lookup.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handle.remove()

    def _hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if self.embeddings is not None:
            raise ValueError(
                f"The word embeddings of {type(self.model).__name__} ran twice in one forward pass; the input "
                "gradient needs a model that looks its tokens up once."
            )
        embeddings = output if self.perturb is None else self.perturb(output)
        if not embeddings.requires_grad:
            embeddings = embeddings.detach().requires_grad_(True)
        self.embeddings = embeddings
        return embeddings
