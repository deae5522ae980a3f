"""Intermediate-layer terms for one teacher-student pair: resolution, checks, projections and per-example losses.

`IntermediateDistiller` is what `DistillationTrainer` uses when ``intermediate_terms`` (or a preset) are set. At
construction it resolves every term to concrete layers, refuses what cannot work (a layer out of range, unequal head
counts for a head-by-head loss, a projection needed but disabled) and
builds the learned projections. Per batch it says what each forward must return or record, and turns the two
models' representations into weighted per-example losses.

The projections (`nn.ModuleDict` keyed by loss name: one ``W_h`` for all hidden-state pairs, one ``W_e`` for the
embeddings, as in TinyBERT) are attached to the student under ``PROJECTIONS_ATTR`` so that the optimizer, device
placement, DDP and mixed precision treat them as part of it; `projections_detached` takes them off for saving.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .layers import AttentionCapture, hidden_width, map_layers, num_heads, num_layers, resolve_layer
from .losses import (
    attention_score_kl_loss,
    attention_score_mse_loss,
    cosine_embedding_loss,
    embedding_mse_loss,
    hidden_mse_loss,
    pkd_cls_loss,
    relation_kl_loss,
)
from .terms import TERM_LOSSES, IntermediateTerm

logger = logging.getLogger(__name__)

PROJECTIONS_ATTR = "distill_projections"
PROJECTIONS_FILE = "distill_projections.safetensors"
_HOOK_SOURCES = ("query", "key", "value")


@dataclass(frozen=True)
class ResolvedTerm:
    """A term bound to concrete layers (``0..M`` / ``0..N``) of one teacher-student pair."""

    loss: str
    student_layer: int
    teacher_layer: int
    weight: float
    project: bool
    relation_heads: int | None


class IntermediateDistiller:
    """The configured intermediate terms, checked against ``student`` and ``teacher``.

    Args:
        terms: the terms (see `hf_distill.terms`).
        layer_mapping: strategy or pairs for terms without explicit layers (see `hf_distill.layers.map_layers`).
        student, teacher: the two models (``config`` with ``num_hidden_layers``, ``hidden_size``,
            ``num_attention_heads``).
    """

    def __init__(self, terms: list[IntermediateTerm], layer_mapping: Any, student: nn.Module, teacher: nn.Module):
        self.student_layers, self.teacher_layers = num_layers(student), num_layers(teacher)
        self.student_width, self.teacher_width = hidden_width(student), hidden_width(teacher)
        self.student_heads, self.teacher_heads = num_heads(student), num_heads(teacher)
        pairs = map_layers(layer_mapping, self.student_layers, self.teacher_layers)
        self.terms = [resolved for term in terms for resolved in self._resolve(term, pairs)]
        if not self.terms:
            raise ValueError(
                f"The intermediate terms {terms} resolve to no layer pair with layer_mapping={layer_mapping!r}."
            )
        self.loss_names = list(dict.fromkeys(f"{term.loss}_loss" for term in self.terms))
        sources = {TERM_LOSSES[term.loss].source for term in self.terms}
        self.needs_hidden = "hidden" in sources
        self.token_level = any(term.loss != "pkd" for term in self.terms)
        self._hooks = {"student": _hook_layers(self.terms, "student"), "teacher": _hook_layers(self.terms, "teacher")}
        projected = list(dict.fromkeys(term.loss for term in self.terms if term.project))
        self.projections = nn.ModuleDict({loss: self._projection() for loss in projected}) if projected else None

    # ---- Construction-time resolution and checks ----

    def _resolve(self, term: IntermediateTerm, pairs: list[tuple[int, int]]) -> list[ResolvedTerm]:
        spec = TERM_LOSSES[term.loss]
        lowest = 0 if spec.source == "hidden" else 1
        if term.student_layer is not None:
            pairs = [(term.student_layer, term.teacher_layer)]
        elif term.loss == "embedding_mse":
            pairs = [(0, 0)]
        resolved_pairs = [
            (
                resolve_layer(s, self.student_layers, "student", lowest),
                resolve_layer(t, self.teacher_layers, "teacher", lowest),
            )
            for s, t in pairs
        ]
        if spec.equal_heads and self.student_heads != self.teacher_heads:
            raise ValueError(
                f"The {term.loss} term compares attention head by head, but the student has {self.student_heads} "
                f"heads and the teacher {self.teacher_heads}. Build the student with "
                f"num_attention_heads={self.teacher_heads}, or use qq/kk/vv_relation (MiniLMv2), whose relation-head "
                "count is free."
            )
        project = bool(term.projection) or (spec.projectable and self.student_width != self.teacher_width)
        if spec.projectable and self.student_width != self.teacher_width and term.projection is False:
            raise ValueError(
                f"The {term.loss} term compares {self.student_width}-wide student vectors with {self.teacher_width}-"
                "wide teacher vectors, which needs a learned projection, but projection=False. Remove "
                "'projection': false (or set it true)."
            )
        relation_heads = term.relation_heads
        if term.loss == "value_relation":
            relation_heads = self.student_heads
        elif relation_heads is None and spec.source in _HOOK_SOURCES:
            relation_heads = self.student_heads
        if relation_heads is not None:
            for side, width in (("student", self.student_width), ("teacher", self.teacher_width)):
                if width % relation_heads:
                    raise ValueError(
                        f"The {term.loss} term splits vectors into {relation_heads} relation heads, which does not "
                        f"divide the {side}'s width {width}; set relation_heads to a divisor of both "
                        f"{self.student_width} and {self.teacher_width}."
                    )
        return [ResolvedTerm(term.loss, s, t, term.weight, project, relation_heads) for s, t in resolved_pairs]

    def _projection(self) -> nn.Linear:
        """``W``: student width -> teacher width. Square: starts as the identity; otherwise orthogonal columns."""
        projection = nn.Linear(self.student_width, self.teacher_width)
        with torch.no_grad():
            if self.student_width == self.teacher_width:
                projection.weight.copy_(torch.eye(self.student_width))
            else:
                nn.init.orthogonal_(projection.weight)
            projection.bias.zero_()
        return projection

    # ---- Per batch ----

    def forward_kwargs(self) -> dict[str, bool]:
        """Extra keyword arguments for both forward passes."""
        kwargs = {}
        if self.needs_hidden:
            kwargs["output_hidden_states"] = True
        return kwargs

    def capture(self, model: nn.Module, side: str) -> AttentionCapture:
        """Hooks recording what ``side`` (``"student"``/``"teacher"``) must give beyond its outputs."""
        return AttentionCapture(model, self._hooks[side])

    def check_aligned(self, student_mask: torch.Tensor | None, teacher_mask: torch.Tensor | None) -> None:
        """Token-level terms compare position by position: both models must see the same token positions."""
        if not self.token_level or teacher_mask is None or student_mask is None:
            return
        if student_mask.shape != teacher_mask.shape or not torch.equal(student_mask.bool(), teacher_mask.bool()):
            raise ValueError(
                f"Token-level intermediate terms ({', '.join(self.loss_names)}) compare the two models token by "
                f"token, but the teacher's inputs {tuple(teacher_mask.shape)} are not aligned with the student's "
                f"{tuple(student_mask.shape)} (lengths or padding differ). Use tokenizers that split text the same "
                "way (e.g. BERT and MPNet word pieces) with the same max_length, or only [CLS]-level terms (pkd)."
            )

    def per_example_losses(
        self,
        student: tuple[Any, AttentionCapture],
        teacher: tuple[Any, AttentionCapture],
        mask: torch.Tensor | None,
        projections: nn.ModuleDict | None,
    ) -> dict[str, torch.Tensor]:
        """``{"<loss>_loss": [batch] weighted per-example values summed over that loss's layer pairs}``.

        ``student``/``teacher`` are ``(model outputs, capture)``; ``mask`` is the student's attention mask.
        """
        values: dict[str, torch.Tensor] = {}
        for term in self.terms:
            s = _representation(term.loss, term.student_layer, *student, "student")
            t = _representation(term.loss, term.teacher_layer, *teacher, "teacher")
            if term.loss == "pkd":
                s, t = s[:, 0], t[:, 0]
            if term.project:
                s = projections[term.loss](s)
            value = term.weight * _LOSS_FUNCTIONS[term.loss](s, t, mask, term.relation_heads)
            name = f"{term.loss}_loss"
            values[name] = values[name] + value if name in values else value
        return values


def _hook_layers(terms: list[ResolvedTerm], side: str) -> dict[str, set[int]]:
    layers: dict[str, set[int]] = {kind: set() for kind in _HOOK_SOURCES}
    for term in terms:
        layer = term.student_layer if side == "student" else term.teacher_layer
        source = TERM_LOSSES[term.loss].source
        if source == "scores":
            layers["query"].add(layer)
            layers["key"].add(layer)
        elif source in _HOOK_SOURCES:
            layers[source].add(layer)
    return {kind: indices for kind, indices in layers.items() if indices}


def _representation(loss: str, layer: int, outputs: Any, capture: AttentionCapture, side: str) -> torch.Tensor:
    source = TERM_LOSSES[loss].source
    if source == "hidden":
        return outputs.hidden_states[layer]
    if source == "scores":
        return capture.scores(layer)
    return capture.states(source, layer)


_LOSS_FUNCTIONS = {
    "hidden_mse": lambda s, t, mask, heads: hidden_mse_loss(s, t, mask, reduction="none"),
    "embedding_mse": lambda s, t, mask, heads: embedding_mse_loss(s, t, mask, reduction="none"),
    "cosine": lambda s, t, mask, heads: cosine_embedding_loss(s, t, mask, reduction="none"),
    "pkd": lambda s, t, mask, heads: pkd_cls_loss(s, t, reduction="none"),
    "attention_mse": lambda s, t, mask, heads: attention_score_mse_loss(s, t, mask, reduction="none"),
    # From the scores (not outputs.attentions): the distributions before attention dropout, in log space.
    "attention_kl": lambda s, t, mask, heads: attention_score_kl_loss(s, t, mask, reduction="none"),
    **{
        loss: lambda s, t, mask, heads: relation_kl_loss(s, t, heads, mask, reduction="none")
        for loss in ("value_relation", "qq_relation", "kk_relation", "vv_relation")
    },
}


def attach_projections(model: nn.Module, projections: nn.ModuleDict) -> None:
    """Register ``projections`` as a submodule of ``model`` (trained, checkpointed and placed with it)."""
    model.add_module(PROJECTIONS_ATTR, projections)


def projections_of(model: nn.Module) -> nn.ModuleDict | None:
    return model._modules.get(PROJECTIONS_ATTR)


@contextmanager
def projections_detached(model: nn.Module) -> Iterator[nn.ModuleDict | None]:
    """Take the projections off ``model`` for the block (saving or loading the student alone), then put them back."""
    projections = model._modules.pop(PROJECTIONS_ATTR, None)
    try:
        yield projections
    finally:
        if projections is not None:
            model._modules[PROJECTIONS_ATTR] = projections
