"""FastBERT: branch classifiers, self-distillation, adaptive inference. Liu et al., "FastBERT: a Self-distilling
BERT with Adaptive Inference Time", ACL 2020, https://arxiv.org/abs/2004.02178.

[`FastBertForSequenceClassification`] wraps an ordinary ``*ForSequenceClassification`` model (the "backbone": BERT,
RoBERTa, XLM-RoBERTa or MPNet) and adds a small branch classifier after each of its layers but the last; the last
layer's classifier is the backbone's own head, the teacher.

- Stage 1 (``model.training_stage == "backbone"``): ordinary task fine-tuning of backbone + final classifier,
  cross-entropy on the final logits. The branches get no gradient.
- Stage 2 (``"branches"``): backbone and final classifier frozen (and kept in eval mode); the branches learn
  ``sum_i KL(p_i || p_t)`` ([`self_distillation_loss`]), which needs no labels.

[`FastBertStageCallback`] (``methods/fastbert/fastbert_callback.py``) switches from stage 1 to stage 2 at an epoch
boundary of one `Trainer` run.

In eval mode the model predicts adaptively: each example leaves at the first layer ``l`` whose normalised entropy
``U_l = sum_c p_c log p_c / log(1 / C)`` is below ``speed`` (``config.speed``, or the ``speed`` argument), and the
batch shrinks: the rows that left, and the padding columns no remaining row needs, are dropped before the next
layer, so their remaining layers are never computed. ``speed = 0`` runs every layer (and no branch).

This file imports nothing from the library but `losses.py`, so that ``save_pretrained`` can ship both next to the
weights for ``AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.configuration_utils import SubConfigSpec
from transformers.masking_utils import create_bidirectional_mask
from transformers.utils import ModelOutput

from .losses import hard_label_loss, self_distillation_loss

BRANCH_POOLINGS = ("mean", "cls")
TRAINING_STAGES = ("backbone", "branches")


@dataclass(frozen=True)
class _Architecture:
    """How to run one supported ``*ForSequenceClassification`` layer by layer."""

    encoder: str  # attribute of the classifier holding the base model
    embedding_inputs: tuple[str, ...]  # forward arguments of its embeddings module
    position_bias: bool  # MPNet: relative position bias computed once by the encoder, passed to every layer
    pooler_head: bool  # BERT: classifier(dropout(pooler(h))); others: classifier(h)


_BERT_INPUTS = ("input_ids", "token_type_ids", "position_ids", "inputs_embeds")
ARCHITECTURES = {
    "bert": _Architecture("bert", _BERT_INPUTS, position_bias=False, pooler_head=True),
    "roberta": _Architecture("roberta", _BERT_INPUTS, position_bias=False, pooler_head=False),
    "xlm-roberta": _Architecture("roberta", _BERT_INPUTS, position_bias=False, pooler_head=False),
    "mpnet": _Architecture(
        "mpnet", ("input_ids", "position_ids", "inputs_embeds"), position_bias=True, pooler_head=False
    ),
}


def normalized_entropy(logits: torch.Tensor) -> torch.Tensor:
    """FastBERT's uncertainty ``U = sum_c p_c log p_c / log(1 / C)`` in [0, 1]; ``logits [..., C]`` -> ``[...]``."""
    num_classes = logits.shape[-1]
    if num_classes < 2:
        raise ValueError(f"normalized_entropy needs at least 2 classes, got logits of shape {tuple(logits.shape)}.")
    log_p = torch.log_softmax(logits.float(), dim=-1)
    return (log_p.exp() * log_p).sum(-1) / math.log(1.0 / num_classes)


def exit_rule(layer_logits: torch.Tensor, speed: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The exit decision applied to every classifier's logits ``[L, b, C]`` (all layers computed): per example, the
    first layer ``l < L`` with ``U_l < speed``, else ``L``. Returns ``(exit_layers [b] (1-based), logits [b, C])``,
    what adaptive inference computes while skipping the layers after the exit."""
    num_layers, batch_size = layer_logits.shape[:2]
    exit_layers = torch.full((batch_size,), num_layers, dtype=torch.long, device=layer_logits.device)
    if num_layers > 1:
        confident = normalized_entropy(layer_logits[:-1]) < check_speed(speed)  # [L - 1, b]
        first = confident.float().argmax(0)  # first True (0 when none)
        exit_layers = torch.where(confident.any(0), first + 1, exit_layers)
    logits = layer_logits[exit_layers - 1, torch.arange(batch_size, device=layer_logits.device)]
    return exit_layers, logits


def check_speed(speed: Any) -> float:
    """``speed`` as a float, or a ValueError when it is not a number in [0, 1]."""
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.0 <= speed <= 1.0:
        raise ValueError(
            f"speed={speed!r} must be a number in [0, 1]: an example exits at the first layer whose normalised "
            "entropy is below it (0 = always run every layer, 1 = exit at the first layer unless the branch is "
            "perfectly unsure)."
        )
    return float(speed)


class FastBertConfig(PreTrainedConfig):
    """Configuration of [`FastBertForSequenceClassification`].

    Args:
        encoder_config: the config (or its dict) of the wrapped ``*ForSequenceClassification`` model; its
            ``model_type`` must be one of ``ARCHITECTURES``, its labels are the model's labels.
        speed: the exit threshold in [0, 1] used in eval mode (0 = the full model).
        branch_hidden_size: width of each branch classifier's hidden layer (the paper uses 128).
        branch_pooling: what a branch reads: ``"mean"`` (masked mean over tokens) or ``"cls"`` (first token).
    """

    model_type = "fastbert"
    sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder_config: dict | PreTrainedConfig | None = None
    speed: float = 0.0
    branch_hidden_size: int = 128
    branch_pooling: str = "mean"
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        self.speed = check_speed(self.speed)
        if self.encoder_config.model_type not in ARCHITECTURES:
            raise ValueError(
                f"FastBERT cannot run a {self.encoder_config.model_type!r} encoder layer by layer; supported "
                f"model types: {', '.join(ARCHITECTURES)}."
            )
        if self.encoder_config.num_labels < 2 or self.encoder_config.problem_type not in (
            None,
            "single_label_classification",
        ):
            raise ValueError(
                f"FastBERT exits on the entropy of a softmax over the labels: it needs single-label classification "
                f"with num_labels >= 2, got num_labels={self.encoder_config.num_labels}, "
                f"problem_type={self.encoder_config.problem_type!r}."
            )
        if self.branch_pooling not in BRANCH_POOLINGS:
            raise ValueError(f"branch_pooling={self.branch_pooling!r} is not one of {', '.join(BRANCH_POOLINGS)}.")
        if self.branch_hidden_size < 1:
            raise ValueError(f"branch_hidden_size={self.branch_hidden_size} must be a positive integer.")
        # The labels are the encoder's (its final classifier is the one every branch imitates).
        self.id2label = dict(self.encoder_config.id2label)
        self.label2id = dict(self.encoder_config.label2id)
        self.problem_type = "single_label_classification"


# Outputs the Trainer leaves out of predictions (compute_metrics then sees the logits alone).
FastBertConfig.keys_to_ignore_at_inference = ["layer_logits", "exit_layers"]


@dataclass
class FastBertOutput(ModelOutput):
    """``logits [batch, C]``: the prediction (at each example's exit layer in eval mode, the final classifier's in
    training). ``layer_logits [L, batch, C]``: every classifier's logits (training, or ``output_layer_logits=True``).
    ``exit_layers [batch]``: how many layers each example ran (eval mode)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    layer_logits: torch.Tensor | None = None
    exit_layers: torch.Tensor | None = None


class FastBertBranch(nn.Module):
    """A branch ("student") classifier: pool ``hidden [b, s, H]`` -> dense(H, d) -> tanh -> dense(d, C)."""

    def __init__(self, hidden_size: int, branch_hidden_size: int, num_labels: int, dropout: float, pooling: str):
        super().__init__()
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, branch_hidden_size)
        self.out_proj = nn.Linear(branch_hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(pooled)))))


class FastBertForSequenceClassification(PreTrainedModel):
    """A sequence classifier with an exit after every layer (see the module docstring for stages and inference).

    Build one around a (fine-tuned or pretrained) classifier with [`from_backbone`]; get the plain classifier back
    with [`export_backbone`].
    """

    config_class = FastBertConfig
    base_model_prefix = "fastbert"
    main_input_name = "input_ids"
    _supports_sdpa = True
    _supports_attention_backend = True
    accepts_loss_kwargs = False  # forward returns a batch mean: the Trainer scales it for gradient accumulation

    def __init__(self, config: FastBertConfig):
        super().__init__(config)
        self.backbone = AutoModelForSequenceClassification.from_config(config.encoder_config)
        self._architecture = ARCHITECTURES[config.encoder_config.model_type]
        layers = getattr(getattr(self._encoder, "encoder", None), "layer", None)
        if not isinstance(layers, nn.ModuleList):
            raise ValueError(
                f"{type(self.backbone).__name__} has no encoder layers at .{self._architecture.encoder}.encoder.layer"
                ": FastBERT needs to run them one by one."
            )
        encoder_config = config.encoder_config
        dropout = getattr(encoder_config, "hidden_dropout_prob", 0.1)
        self.branches = nn.ModuleList(
            FastBertBranch(
                encoder_config.hidden_size,
                config.branch_hidden_size,
                config.num_labels,
                dropout,
                config.branch_pooling,
            )
            for _ in range(len(layers) - 1)
        )
        self.training_stage = "backbone"
        self.post_init()

    @property
    def _encoder(self) -> nn.Module | None:
        """The backbone's base model (``backbone.bert``, ``backbone.mpnet``, ...)."""
        return getattr(self.backbone, self._architecture.encoder, None)

    @property
    def num_layers(self) -> int:
        return len(self._encoder.encoder.layer)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):  # the branches (the backbone initialises its own modules)
            init.normal_(module.weight, mean=0.0, std=getattr(self.config.encoder_config, "initializer_range", 0.02))
            init.zeros_(module.bias)

    # ---- Building, exporting ----

    @classmethod
    def from_backbone(
        cls, backbone: PreTrainedModel | str, speed: float = 0.0, **config_kwargs: Any
    ) -> FastBertForSequenceClassification:
        """Wrap a ``*ForSequenceClassification`` model (or a path: ``AutoModelForSequenceClassification`` loads it,
        so a checkpoint without a head gets a fresh one; pass ``num_labels`` etc. in ``config_kwargs`` for that).
        Its weights are copied; the branches are freshly initialised."""
        if isinstance(backbone, str):
            head_kwargs = {
                k: config_kwargs.pop(k) for k in ("num_labels", "id2label", "label2id") if k in config_kwargs
            }
            backbone = AutoModelForSequenceClassification.from_pretrained(backbone, **head_kwargs)
        if not isinstance(backbone, PreTrainedModel):
            raise ValueError(f"backbone must be a PreTrainedModel or a path, got {type(backbone).__name__}.")
        config = FastBertConfig(encoder_config=backbone.config.to_dict(), speed=speed, **config_kwargs)
        model = cls(config)
        model.backbone.load_state_dict(backbone.state_dict())
        return model.to(backbone.dtype)

    def export_backbone(self, save_directory: str | None = None, **save_kwargs: Any) -> PreTrainedModel:
        """The backbone with its final classifier as a standard ``*ForSequenceClassification`` model (a copy), saved
        to ``save_directory`` when given. It loads with ``AutoModelForSequenceClassification`` and no custom code."""
        exported = AutoModelForSequenceClassification.from_config(self.config.encoder_config)
        exported.load_state_dict(self.backbone.state_dict())
        exported = exported.to(self.dtype)
        if save_directory is not None:
            exported.save_pretrained(save_directory, **save_kwargs)
        return exported

    # ---- Stages ----

    def set_training_stage(self, stage: str) -> None:
        """``"backbone"``: backbone trainable; ``"branches"``: backbone and final classifier frozen, in eval mode."""
        if stage not in TRAINING_STAGES:
            raise ValueError(f"stage={stage!r} is not one of {', '.join(TRAINING_STAGES)}.")
        self.training_stage = stage
        self.backbone.requires_grad_(stage == "backbone")
        self.branches.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> FastBertForSequenceClassification:
        super().train(mode)
        if getattr(self, "training_stage", "backbone") == "branches":
            self.backbone.eval()  # the frozen teacher must not run dropout while the branches learn from it
        return self

    # ---- Running the encoder layer by layer ----

    def _embed(self, inputs: dict[str, torch.Tensor | None]) -> torch.Tensor:
        names = self._architecture.embedding_inputs
        return self._encoder.embeddings(**{name: inputs.get(name) for name in names if inputs.get(name) is not None})

    def _layer_inputs(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, Any]:
        mask = create_bidirectional_mask(
            config=self._encoder.config, inputs_embeds=hidden, attention_mask=attention_mask
        )
        extra = {"attention_mask": mask}
        if self._architecture.position_bias:
            extra["position_bias"] = self._encoder.encoder.compute_position_bias(hidden)
        return extra

    def _run_layer(self, index: int, hidden: torch.Tensor, layer_inputs: dict[str, Any]) -> torch.Tensor:
        output = self._encoder.encoder.layer[index](hidden, **layer_inputs)
        return output[0] if isinstance(output, tuple) else output

    def _final_head(self, hidden: torch.Tensor) -> torch.Tensor:
        if self._architecture.pooler_head:
            return self.backbone.classifier(self.backbone.dropout(self._encoder.pooler(hidden)))
        return self.backbone.classifier(hidden)

    def _all_layers(
        self, inputs: dict[str, Any], attention_mask: torch.Tensor, branches: bool, grad_backbone: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final logits ``[b, C]`` and (when ``branches``) the branch logits of layers 1..L-1, every layer run."""
        branch_logits = []
        with torch.set_grad_enabled(grad_backbone and torch.is_grad_enabled()):
            hidden = self._embed(inputs)
            layer_inputs = self._layer_inputs(hidden, attention_mask)
            hiddens = []
            for index in range(self.num_layers):
                hidden = self._run_layer(index, hidden, layer_inputs)
                hiddens.append(hidden)
            final_logits = self._final_head(hidden)
        if branches:
            branch_logits = [branch(h, attention_mask) for branch, h in zip(self.branches, hiddens)]
        return final_logits, branch_logits

    @torch.no_grad()
    def _adaptive(
        self, inputs: dict[str, Any], attention_mask: torch.Tensor, speed: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[b, C]`` at each example's exit and the number of layers it ran ``[b]``; exited rows (and the
        padding columns no remaining row needs) are removed from the batch before the next layer."""
        hidden = self._embed(inputs)
        batch_size, num_layers = hidden.shape[0], self.num_layers
        logits = hidden.new_zeros(batch_size, self.config.num_labels)
        exit_layers = torch.full((batch_size,), num_layers, dtype=torch.long, device=hidden.device)
        active = torch.arange(batch_size, device=hidden.device)
        mask = attention_mask
        layer_inputs = self._layer_inputs(hidden, mask)
        for index in range(num_layers):
            hidden = self._run_layer(index, hidden, layer_inputs)
            if index == num_layers - 1:
                logits[active] = self._final_head(hidden).to(logits.dtype)
                break
            if speed <= 0:  # nobody can exit (U >= 0): skip the branches
                continue
            branch_logits = self.branches[index](hidden, mask)
            leaving = normalized_entropy(branch_logits) < speed
            if not leaving.any():
                continue
            logits[active[leaving]] = branch_logits[leaving].to(logits.dtype)
            exit_layers[active[leaving]] = index + 1
            staying = ~leaving
            if not staying.any():
                break
            active, hidden, mask = active[staying], hidden[staying], mask[staying]
            length = int(mask.any(0).nonzero().max()) + 1  # drop trailing all-padding columns
            hidden, mask = hidden[:, :length], mask[:, :length]
            layer_inputs = self._layer_inputs(hidden, mask)
        return logits, exit_layers

    # ---- Forward ----

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        speed: float | None = None,
        output_layer_logits: bool = False,
        **kwargs: Any,
    ) -> FastBertOutput:
        """Training: the loss of ``self.training_stage`` (labels needed only for ``"backbone"``). Eval: adaptive
        prediction at ``speed`` (default ``config.speed``) with ``exit_layers``, or every classifier's logits with
        ``output_layer_logits=True``; ``loss`` is the cross-entropy of ``logits`` when labels are given."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids and inputs_embeds.")
        reference = input_ids if input_ids is not None else inputs_embeds[..., 0]
        if attention_mask is None:
            attention_mask = torch.ones_like(reference, dtype=torch.long)
        inputs = dict(
            input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds
        )
        speed = self.config.speed if speed is None else check_speed(speed)

        if self.training or output_layer_logits:
            stage_branches = self.training and self.training_stage == "branches"
            final_logits, branch_logits = self._all_layers(
                inputs,
                attention_mask,
                branches=output_layer_logits or stage_branches,
                grad_backbone=not stage_branches,
            )
            layer_logits = torch.stack([*branch_logits, final_logits]) if branch_logits else None
            loss = None
            if stage_branches:
                loss = self_distillation_loss(layer_logits[:-1], final_logits)
            elif labels is not None:
                loss = hard_label_loss(final_logits, labels, reduction="mean")
            return FastBertOutput(loss=loss, logits=final_logits, layer_logits=layer_logits)

        logits, exit_layers = self._adaptive(inputs, attention_mask, speed)
        loss = hard_label_loss(logits, labels, reduction="mean") if labels is not None else None
        return FastBertOutput(loss=loss, logits=logits, exit_layers=exit_layers)


FastBertConfig.register_for_auto_class()
FastBertForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
AutoConfig.register("fastbert", FastBertConfig, exist_ok=True)
AutoModelForSequenceClassification.register(FastBertConfig, FastBertForSequenceClassification, exist_ok=True)
