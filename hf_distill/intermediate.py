"""Intermediate-layer terms for one teacher-student pair: resolution, checks, projections and per-example losses.

`IntermediateDistiller` is what `DistillationTrainer` uses when ``intermediate_terms`` (or a preset) are set. At
construction it resolves every term to concrete layers, refuses what cannot work (a layer out of range, unequal head
counts for a head-by-head loss, a projection needed but disabled) and
builds the learned projections. Per batch it says what each forward must return or record, and turns the two
models' representations into weighted per-example losses. The ``input_gradient`` term (gradient transfer) runs its
own forward and backward passes of both models at perturbed word embeddings: see `input_gradient_losses`.

The projections (`nn.ModuleDict` keyed by loss name: one ``W_h`` for all hidden-state pairs, one ``W_e`` for the
embeddings, as in TinyBERT) are attached to the student under ``PROJECTIONS_ATTR`` so that the optimizer, device
placement, DDP and mixed precision treat them as part of it; `projections_detached` takes them off for saving.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from .layers import (
    AttentionCapture,
    WordEmbeddingProbe,
    hidden_width,
    map_layers,
    num_heads,
    num_layers,
    resolve_layer,
    word_embeddings,
)
from .losses import TERM_LOSSES, input_gradient_loss
from .terms import IntermediateTerm

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
    noise: float = 0.0


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
        gradient_terms = [term for term in self.terms if term.loss == "input_gradient"]
        if len(gradient_terms) > 1:
            raise ValueError(f"Give one input_gradient term, not {len(gradient_terms)}.")
        self.gradient_term = gradient_terms[0] if gradient_terms else None
        if self.gradient_term is not None:
            self.embedding_widths = (word_embeddings(student).embedding_dim, word_embeddings(teacher).embedding_dim)
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
        if term.loss == "input_gradient":  # the word embeddings of both models, no layers
            return [ResolvedTerm(term.loss, 0, 0, term.weight, False, None, term.noise)]
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
            if term.loss == "input_gradient":  # see input_gradient_losses
                continue
            s = _representation(term.loss, term.student_layer, *student, "student")
            t = _representation(term.loss, term.teacher_layer, *teacher, "teacher")
            if term.loss == "pkd":
                s, t = s[:, 0], t[:, 0]
            if term.project:
                s = projections[term.loss](s)
            value = term.weight * TERM_LOSSES[term.loss].per_example(s, t, mask, term.relation_heads)
            name = f"{term.loss}_loss"
            values[name] = values[name] + value if name in values else value
        return values

    def input_gradient_losses(
        self,
        student: tuple[nn.Module, Callable[[], Any]],
        teacher: tuple[nn.Module, Callable[[], Any]],
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        classes: torch.Tensor,
        temperature: float,
        seed: int,
        step: int,
        create_graph: bool,
    ) -> dict[str, torch.Tensor]:
        """``{"input_gradient_loss": beta * L_grad [batch]}``: gradient transfer as Jacobian matching (Srinivas &
        Fleuret, ICML 2018; Czarnecki et al., NeurIPS 2017).

        ``student``/``teacher`` are ``(model, run)``, ``run()`` one forward pass of the model on the batch (the
        student's as the trainer calls it, the teacher's in eval mode); both read the same ``input_ids [batch,
        seq]`` with attention ``mask``. Each model's word embeddings ``E`` become ``E~ = E + sigma * rms(E) * eps``
        (`embedding_noise`; the same ``eps`` for both when their widths agree; none when ``sigma = 0``), and
        ``G = d f(z(E~)) / d E~`` with ``f`` = `target_log_probability` of ``classes`` (the teacher's predictions on
        the clean batch). The teacher's gradient reaches only its inputs; the student's is taken with
        ``create_graph`` (True in training), so `input_gradient_loss` trains the student through a double backward.
        """
        term = self.gradient_term
        widths = self.embedding_widths
        noise = embedding_noise(input_ids, mask, widths, seed, step) if term.noise > 0 else {}
        gradients = []
        for (model, run), width, graph in zip((teacher, student), widths[::-1], (False, create_graph)):
            perturb = _perturbation(noise[width], mask, term.noise) if noise else None
            gradients.append(input_gradient(model, run, perturb, classes, temperature, create_graph=graph))
        teacher_grad, student_grad = gradients
        return {"input_gradient_loss": term.weight * input_gradient_loss(student_grad, teacher_grad, mask, "none")}


def target_log_probability(logits: torch.Tensor, classes: torch.Tensor, temperature: float) -> torch.Tensor:
    """``f(z) = log_softmax(z / T)[c]`` per example (``logits [batch, C]``, ``classes [batch]``); ``f(z) = z`` for a
    regression head (``C = 1``). Float32."""
    if logits.dim() != 2:
        raise ValueError(
            f"The input_gradient term differentiates one output per example, but the logits have shape "
            f"{tuple(logits.shape)}; it needs a sequence-level head ([batch, num_labels])."
        )
    logits = logits.float()
    if logits.shape[-1] == 1:
        return logits[:, 0]
    return F.log_softmax(logits / temperature, dim=-1).gather(-1, classes[:, None].to(logits.device))[:, 0]


def input_gradient(
    model: nn.Module,
    run: Callable[[], Any],
    perturb: Callable[[torch.Tensor], torch.Tensor] | None,
    classes: torch.Tensor,
    temperature: float,
    create_graph: bool,
) -> torch.Tensor:
    """``d f(z(E~)) / d E~ [batch, seq, d]``: ``E~`` = ``model``'s word embeddings as ``perturb`` changes them
    (None: as they are), ``z`` = the logits of ``run()`` (a forward pass of ``model``), ``f`` =
    `target_log_probability`. Gradients are taken with respect to ``E~`` only, never accumulated in the weights;
    with ``create_graph`` they can be differentiated again (scaled dot-product attention then uses its math kernel)."""
    # Fused attention kernels (flash, memory-efficient) have no second derivative; the math kernel does.
    kernels = sdpa_kernel(SDPBackend.MATH) if create_graph else nullcontext()
    with torch.enable_grad():
        with WordEmbeddingProbe(model, perturb) as probe, kernels:
            logits = run().logits
        if probe.embeddings is None:
            raise ValueError(
                f"{type(model).__name__} did not look up its word embeddings in this forward pass: the "
                "input_gradient term needs batches with input_ids (not inputs_embeds)."
            )
        target = target_log_probability(logits, classes, temperature)
        (gradient,) = torch.autograd.grad(target.sum(), probe.embeddings, create_graph=create_graph)
    return gradient


def embedding_noise(
    input_ids: torch.Tensor, mask: torch.Tensor, widths: tuple[int, ...], seed: int, step: int
) -> dict[int, torch.Tensor]:
    """``{width: eps [batch, seq, width]}``, ``eps ~ N(0, I)`` on each example's real tokens and 0 on padding.

    Each example's generator is seeded from ``(seed, step, its real token ids)``: an example gets the same noise
    whichever batch, micro-batch or process computes it, and again when a run resumes at that step; the step
    changes it. For several widths the generator draws them in turn, so equal widths share one ``eps``.
    """
    ids, keep = input_ids.detach().cpu(), mask.detach().cpu().bool()
    noise = {width: torch.zeros(*ids.shape, width) for width in widths}
    for index in range(ids.shape[0]):
        tokens = ids[index][keep[index]]
        key = f"{seed}:{step}:".encode() + tokens.to(torch.int64).numpy().tobytes()
        generator = torch.Generator().manual_seed(int.from_bytes(hashlib.blake2b(key, digest_size=7).digest()))
        for width in noise:
            noise[width][index, keep[index]] = torch.randn(len(tokens), width, generator=generator)
    return {width: values.to(input_ids.device) for width, values in noise.items()}


def _perturbation(eps: torch.Tensor, mask: torch.Tensor, sigma: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """``E -> E + sigma * rms(E) * eps``, ``rms`` over each example's real tokens (a constant: no gradient)."""

    def perturb(embeddings: torch.Tensor) -> torch.Tensor:
        keep = mask[..., None].to(embeddings.device, torch.float32)
        squares = embeddings.detach().float().pow(2) * keep
        rms = (squares.sum((1, 2)) / (keep.sum((1, 2)) * embeddings.shape[-1]).clamp(min=1)).sqrt()
        return embeddings + (sigma * rms[:, None, None] * eps).to(embeddings.dtype)

    return perturb


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
