"""Distillation losses as pure tensor functions, each with its paper and formula.

Every function takes tensors and returns a tensor: no modules, no hidden state. Positions to ignore are given by an
explicit ``mask`` over the leading ("item") dimensions, and ``reduction`` is one of:

- ``"mean"``: sum over the kept items divided by their number (0 when nothing is kept);
- ``"sum"``: sum over the kept items;
- ``"none"``: one value per item, shape = the leading dimensions, ignored items set to 0.

``"none"`` is what the trainer uses: it sums per-item values itself so that gradient accumulation and several
processes normalise by the item count of the whole optimizer step.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

Reduction = Literal["mean", "sum", "none"]
KD_LOSS_TYPES = ("kl", "ce", "mse")


def reduce_items(per_item: torch.Tensor, mask: torch.Tensor | None, reduction: Reduction) -> torch.Tensor:
    """Apply ``mask`` (same shape as ``per_item``, bool or 0/1) and ``reduction`` to per-item loss values."""
    if mask is not None:
        mask = mask.to(dtype=per_item.dtype)
        per_item = per_item * mask
    if reduction == "none":
        return per_item
    total = per_item.sum()
    if reduction == "sum":
        return total
    if reduction == "mean":
        count = mask.sum() if mask is not None else torch.tensor(per_item.numel(), dtype=per_item.dtype)
        return total / count.clamp(min=1)
    raise ValueError(f"reduction={reduction!r} is not one of 'mean', 'sum', 'none'.")


def logit_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float = 1.0,
    loss_type: str = "kl",
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
    detach_teacher: bool = True,
) -> torch.Tensor:
    """Logit distillation: Hinton et al., "Distilling the Knowledge in a Neural Network", 2015,
    https://arxiv.org/abs/1503.02531.

    Shapes: ``student_logits`` and ``teacher_logits`` are ``[..., C]`` (``[batch, C]`` for sequence classification,
    ``[batch, seq, C]`` for token-level heads); ``mask`` is ``[...]``. With ``p_t = softmax(z_t / T)`` and
    ``log p_s = log_softmax(z_s / T)``, per item:

    - ``"kl"``:  ``T^2 * sum_c p_t * (log p_t - log p_s)``  (``KL(p_t || p_s)``; "batchmean" under ``"mean"``)
    - ``"ce"``:  ``T^2 * -sum_c p_t * log p_s``  (soft cross-entropy: the gradient of ``"kl"``, offset by ``H(p_t)``)
    - ``"mse"``: ``sum_c (z_s - z_t)^2`` on raw logits, ``T`` unused (Distilled BiLSTM; regression heads)

    The ``T^2`` factor keeps the gradient scale independent of ``T``. Computed in float32. The teacher's logits are
    constants (detached) unless ``detach_teacher=False``, which MetaDistil uses to differentiate through the teacher.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"Student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ "
            "in shape: teacher and student must predict the same labels."
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    z_s = student_logits.float()
    z_t = (teacher_logits.detach() if detach_teacher else teacher_logits).float()
    if loss_type == "mse":
        per_item = (z_s - z_t).pow(2).sum(-1)
    elif loss_type in ("kl", "ce"):
        log_p_s = F.log_softmax(z_s / temperature, dim=-1)
        log_p_t = F.log_softmax(z_t / temperature, dim=-1)
        if loss_type == "kl":
            per_item = F.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(-1)
        else:
            per_item = -(log_p_t.exp() * log_p_s).sum(-1)
        per_item = per_item * temperature**2
    else:
        raise ValueError(f"loss_type={loss_type!r} is not one of {KD_LOSS_TYPES}.")
    return reduce_items(per_item, mask, reduction)


def hard_label_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    problem_type: str = "single_label_classification",
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """The task loss on gold labels, as ``*ForSequenceClassification`` computes it, per item.

    - ``"single_label_classification"``: cross-entropy; ``logits [..., C]``, ``labels [...]`` (long). Items whose
      label is ``-100`` are ignored (unlabeled rows mixed into a labeled batch).
    - ``"regression"``: squared error; ``logits [..., 1]`` or ``[...]``, ``labels [...]`` (float).
    - ``"multi_label_classification"``: binary cross-entropy with logits averaged over the ``C`` labels;
      ``labels [..., C]`` (float).
    """
    if problem_type == "single_label_classification":
        labels = labels.long()
        valid = labels.ne(-100)
        per_item = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            labels.reshape(-1),
            reduction="none",
            ignore_index=-100,
            label_smoothing=label_smoothing,
        ).reshape(labels.shape)
        return reduce_items(per_item, valid, reduction)
    if problem_type == "regression":
        predictions = logits.float().squeeze(-1) if logits.shape[-1] == 1 else logits.float()
        per_item = (predictions - labels.float().reshape(predictions.shape)).pow(2)
        return reduce_items(per_item, None, reduction)
    if problem_type == "multi_label_classification":
        per_item = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none").mean(-1)
        return reduce_items(per_item, None, reduction)
    raise ValueError(
        f"problem_type={problem_type!r} is not one of 'single_label_classification', 'regression', "
        "'multi_label_classification'."
    )


def self_distillation_loss(
    branch_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """FastBERT self-distillation, ``sum_i KL(p_i || p_t)``: Liu et al., "FastBERT: a Self-distilling BERT with
    Adaptive Inference Time", ACL 2020, https://arxiv.org/abs/2004.02178.

    Shapes: ``branch_logits`` is ``[K, batch, C]`` (the logits of the ``K`` branch classifiers), ``teacher_logits``
    ``[batch, C]`` (the final classifier, detached: the teacher gets no gradient), ``mask`` ``[batch]``. With
    ``p_i = softmax(z_i)`` and ``p_t = softmax(z_t)``, per example:

        sum_i sum_c p_i,c * (log p_i,c - log p_t,c)

    (the paper's direction: the branch's distribution first, unlike `logit_kd_loss`). No labels and no temperature.
    Computed in float32; ``"mean"`` averages the per-example sums over the kept examples.
    """
    if branch_logits.dim() != 3 or branch_logits.shape[1:] != teacher_logits.shape:
        raise ValueError(
            f"branch_logits must be [K, batch, C] with [batch, C] = the teacher's {tuple(teacher_logits.shape)}, got "
            f"{tuple(branch_logits.shape)}."
        )
    log_p_branch = F.log_softmax(branch_logits.float(), dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach().float(), dim=-1).unsqueeze(0)
    per_item = (log_p_branch.exp() * (log_p_branch - log_p_teacher)).sum(-1).sum(0)
    return reduce_items(per_item, mask, reduction)


# ---- Intermediate-representation losses (DistilBERT, BERT-PKD, TinyBERT, MobileBERT, MiniLM, MiniLMv2) ----
#
# Conventions shared by the functions below: hidden states are ``[batch, seq, width]``, attention maps and scores
# ``[batch, heads, seq, seq]`` (query, key), ``mask`` is the attention mask ``[batch, seq]`` (1 = real token, 0 =
# padding). Each example's value averages over its own real tokens (and heads), so padding never counts; then
# ``reduction`` acts on the ``[batch]`` per-example values as in `reduce_items`: ``"none"`` returns them, ``"mean"``
# averages them over the examples, ``"sum"`` adds them up. The teacher side is detached; computation is float32.


@dataclass(frozen=True)
class TermLoss:
    """An intermediate loss of the registry [`TERM_LOSSES`]: what it reads, what it needs, how it is called.

    Attributes:
        source: ``"hidden"`` (``hidden_states``), ``"input_gradient"`` (gradients with respect to the word embeddings,
            from extra forward and backward passes), ``"scores"`` (pre-softmax scores, hooks; ``attention_kl`` takes a
            masked log-softmax of them over the real keys, so it sees the distributions before attention dropout,
            under any attention implementation) or ``"query"``/``"key"``/``"value"`` (projections, hooks).
        projectable: compares width-sized vectors, so a projection can map the student to the teacher's width.
        equal_heads: compares head by head: teacher and student need the same number of attention heads.
        help: one line for the docs.
        per_example: ``(student, teacher, mask, relation_heads) -> [batch]``, the loss per example.
    """

    source: str
    projectable: bool
    equal_heads: bool
    help: str
    per_example: Callable[..., torch.Tensor]


TERM_LOSSES: dict[str, TermLoss] = {}


def _masked_call(loss: Callable[..., torch.Tensor], student, teacher, mask, heads) -> torch.Tensor:
    return loss(student, teacher, mask, reduction="none")


def register_term_loss(
    name: str,
    source: str,
    help: str,
    projectable: bool = False,
    equal_heads: bool = False,
    call: Callable[..., torch.Tensor] = _masked_call,
) -> Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]:
    """Decorator: registers the decorated loss function as the intermediate term ``name`` of [`TERM_LOSSES`] (see
    [`TermLoss`] for the other arguments); ``call(loss, student, teacher, mask, relation_heads)`` adapts its
    signature (default: ``loss(student, teacher, mask, reduction="none")``)."""

    def register(loss: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        if name in TERM_LOSSES:
            raise ValueError(f"An intermediate loss named {name!r} is already registered.")
        TERM_LOSSES[name] = TermLoss(source, projectable, equal_heads, help, functools.partial(call, loss))
        return loss

    return register


def _per_example(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    return reduce_items(values, None, reduction)


def _token_mask(mask: torch.Tensor | None, batch: int, seq: int, device: torch.device) -> torch.Tensor:
    if mask is None:
        return torch.ones(batch, seq, dtype=torch.bool, device=device)
    if tuple(mask.shape) != (batch, seq):
        raise ValueError(f"mask has shape {tuple(mask.shape)}; expected [batch, seq] = [{batch}, {seq}].")
    return mask.to(device=device).bool()


def _check_same_shape(student: torch.Tensor, teacher: torch.Tensor, what: str, fix: str) -> None:
    if student.shape != teacher.shape:
        raise ValueError(
            f"Student {what} {tuple(student.shape)} and teacher {what} {tuple(teacher.shape)} differ; {fix}"
        )


def _mean_over_tokens(per_token: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``[batch]``: the mean of ``per_token [batch, seq]`` over each example's kept tokens (0 when none)."""
    total = torch.where(keep, per_token, torch.zeros_like(per_token)).sum(-1)
    return total / keep.sum(-1).clamp(min=1).to(per_token.dtype)


@register_term_loss("hidden_mse", "hidden", "MSE of hidden states (TinyBERT L_hidn, MobileBERT FMT)", projectable=True)
def hidden_mse_loss(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Hidden-state MSE: TinyBERT's ``L_hidn`` (Jiao et al., Findings of EMNLP 2020, arXiv:1909.10351) and MobileBERT's
    feature-map transfer (Sun et al., ACL 2020, arXiv:2004.02984).

    ``student_hidden`` (already projected to the teacher's width when widths differ) and ``teacher_hidden`` are
    ``[batch, seq, width]``. Per example: ``(1 / (|x| * width)) * sum_{real tokens i} ||h_s[i] - h_t[i]||^2``, the
    mean squared error over the example's real tokens and all width entries.
    """
    _check_same_shape(student_hidden, teacher_hidden, "hidden states", "project the student to the teacher's width.")
    batch, seq, _ = student_hidden.shape
    keep = _token_mask(mask, batch, seq, student_hidden.device)
    per_token = (student_hidden.float() - teacher_hidden.detach().float()).pow(2).mean(-1)
    return _per_example(_mean_over_tokens(per_token, keep), reduction)


@register_term_loss(
    "embedding_mse", "hidden", "MSE of the embedding outputs (TinyBERT L_embd); layers 0:0", projectable=True
)
def embedding_mse_loss(
    student_embeddings: torch.Tensor,
    teacher_embeddings: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Embedding-layer MSE, TinyBERT's ``L_embd = MSE(E_s W_e, E_t)`` (Jiao et al., Findings of EMNLP 2020,
    arXiv:1909.10351).

    The embedding layer's outputs ``[batch, seq, width]`` (``hidden_states[0]``); the formula is `hidden_mse_loss`'s.
    """
    return hidden_mse_loss(student_embeddings, teacher_embeddings, mask, reduction)


@register_term_loss("cosine", "hidden", "1 - cosine of hidden states (DistilBERT L_cos)", projectable=True)
def cosine_embedding_loss(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """DistilBERT's ``L_cos``: cosine-embedding loss with target +1 (Sanh et al., 2019, arXiv:1910.01108).

    ``[batch, seq, width]`` each. Per example: ``(1 / |x|) * sum_{real tokens i} (1 - cos(h_s[i], h_t[i]))``.
    """
    _check_same_shape(student_hidden, teacher_hidden, "hidden states", "project the student to the teacher's width.")
    batch, seq, _ = student_hidden.shape
    keep = _token_mask(mask, batch, seq, student_hidden.device)
    cosine = F.cosine_similarity(student_hidden.float(), teacher_hidden.detach().float(), dim=-1, eps=1e-8)
    return _per_example(_mean_over_tokens(1.0 - cosine, keep), reduction)


@register_term_loss(
    "pkd",
    "hidden",
    "squared distance of unit [CLS] vectors (BERT-PKD L_pt)",
    projectable=True,
    call=lambda loss, student, teacher, mask, heads: loss(student, teacher, reduction="none"),
)
def pkd_cls_loss(
    student_cls: torch.Tensor,
    teacher_cls: torch.Tensor,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """BERT-PKD's patient loss for one layer pair (Sun et al., EMNLP-IJCNLP 2019, arXiv:1908.09355).

    ``student_cls`` and ``teacher_cls`` are the ``[batch, width]`` [CLS] vectors (``hidden_states[j][:, 0]``).
    Per example: ``|| h_s / ||h_s|| - h_t / ||h_t|| ||^2`` (squared L2 distance of the unit vectors, summed over the
    width). ``L_pt`` is the sum of this over the mapped layers.
    """
    _check_same_shape(student_cls, teacher_cls, "[CLS] vectors", "project the student to the teacher's width.")
    if student_cls.dim() != 2:
        raise ValueError(f"pkd_cls_loss takes [batch, width] [CLS] vectors, got shape {tuple(student_cls.shape)}.")
    s = F.normalize(student_cls.float(), dim=-1, eps=1e-12)
    t = F.normalize(teacher_cls.detach().float(), dim=-1, eps=1e-12)
    return _per_example((s - t).pow(2).sum(-1), reduction)


def _check_attention_maps(student: torch.Tensor, teacher: torch.Tensor, what: str) -> None:
    if student.dim() != 4 or teacher.dim() != 4:
        raise ValueError(
            f"{what} must be [batch, heads, seq, seq]; got {tuple(student.shape)} and {tuple(teacher.shape)}."
        )
    if student.shape[1] != teacher.shape[1]:
        raise ValueError(
            f"The student has {student.shape[1]} attention heads and the teacher {teacher.shape[1]}: {what} are "
            "compared head by head, so the counts must be equal. Build the student with the teacher's head count, or "
            "use the MiniLMv2 relation losses (qq/kk/vv_relation), whose relation-head count is free."
        )
    _check_same_shape(student, teacher, what, "teacher and student must see the same tokens.")


@register_term_loss(
    "attention_mse", "scores", "MSE of pre-softmax attention scores (TinyBERT L_attn)", equal_heads=True
)
def attention_score_mse_loss(
    student_scores: torch.Tensor,
    teacher_scores: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """TinyBERT's ``L_attn`` on unnormalised scores ``Q K^T / sqrt(d_k)`` (before softmax): Jiao et
    al., Findings of EMNLP 2020, arXiv:1909.10351.

    Scores are ``[batch, heads, seq, seq]`` with equal head counts. Per example, with ``P`` the (query, key) pairs
    where both tokens are real: ``(1 / h) * sum_heads (1 / |P|) * sum_{(i, j) in P} (A_s[i, j] - A_t[i, j])^2``.
    Entries with a padded query or key are excluded whatever they hold (the TinyBERT reference code zeroes the
    masked ``-inf``/``-10000`` entries for the same purpose).
    """
    _check_attention_maps(student_scores, teacher_scores, "attention scores")
    batch, heads, seq, _ = student_scores.shape
    keep = _token_mask(mask, batch, seq, student_scores.device)
    pairs = (keep[:, :, None] & keep[:, None, :])[:, None]  # [batch, 1, seq, seq]
    diff = student_scores.float() - teacher_scores.detach().float()
    squared = torch.where(pairs, diff, torch.zeros_like(diff)).pow(2)
    count = pairs.sum((-1, -2, -3)).clamp(min=1).to(squared.dtype) * heads
    return _per_example(squared.sum((-1, -2, -3)) / count, reduction)


def _kl_rows(log_p_t: torch.Tensor, log_p_s: torch.Tensor, keep_keys: torch.Tensor) -> torch.Tensor:
    """``sum_{kept keys j} p_t[j] * (log p_t[j] - log p_s[j])`` over the last dimension (0 * log 0 = 0)."""
    p_t = log_p_t.exp()
    terms = p_t * (log_p_t - log_p_s)
    terms = torch.where(keep_keys & (p_t > 0), terms, torch.zeros_like(terms))
    return terms.sum(-1)


def attention_kl_loss(
    student_attentions: torch.Tensor,
    teacher_attentions: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Attention transfer on softmaxed distributions: MobileBERT (Sun et al., ACL 2020, arXiv:2004.02984) and MiniLM's
    ``L_at`` (Wang et al., NeurIPS 2020, arXiv:2002.10957).

    ``[batch, heads, seq, seq]`` attention probabilities (each query row sums to 1 over the real keys), equal head
    counts. Per example: ``(1 / (h * |x|)) * sum_heads sum_{real queries i} KL(A_t[i] || A_s[i])``, the KL summed
    over the real keys. Given pre-softmax scores, use `attention_score_kl_loss`: probabilities below float32's
    smallest normal number (a score gap above about 87) lose their logarithm here.
    """
    _check_attention_maps(student_attentions, teacher_attentions, "attention maps")
    batch, _, seq, _ = student_attentions.shape
    keep = _token_mask(mask, batch, seq, student_attentions.device)
    tiny = torch.finfo(torch.float32).tiny
    log_p_s = student_attentions.float().clamp(min=tiny).log()
    log_p_t = teacher_attentions.detach().float().clamp(min=tiny).log()
    return _per_example(_mean_row_kl(log_p_t, log_p_s, keep), reduction)


@register_term_loss(
    "attention_kl", "scores", "KL of attention distributions (MobileBERT AT, MiniLM L_at)", equal_heads=True
)
def attention_score_kl_loss(
    student_scores: torch.Tensor,
    teacher_scores: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """`attention_kl_loss` on the distributions ``A = softmax(scores)`` over the real keys, given the scores.

    ``student_scores`` and ``teacher_scores`` are pre-softmax ``[batch, heads, seq, seq]`` (``Q K^T / sqrt(d_k)``,
    without the padding mask), equal head counts. ``log A`` is a masked ``log_softmax`` of the scores (float32), so
    a peaked head keeps the exact log-probability (and gradient) of keys its softmax would round to 0.
    """
    _check_attention_maps(student_scores, teacher_scores, "attention scores")
    batch, _, seq, _ = student_scores.shape
    keep = _token_mask(mask, batch, seq, student_scores.device)
    log_p_s = _masked_log_softmax(student_scores.float(), keep)
    log_p_t = _masked_log_softmax(teacher_scores.detach().float(), keep)
    return _per_example(_mean_row_kl(log_p_t, log_p_s, keep), reduction)


def _masked_log_softmax(scores: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``log softmax`` of ``scores [batch, heads, q, k]`` over the keys that ``keep [batch, k]`` marks real."""
    scores = scores.masked_fill(~keep[:, None, None, :], torch.finfo(scores.dtype).min)
    return F.log_softmax(scores, dim=-1)


def _mean_row_kl(log_p_t: torch.Tensor, log_p_s: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``[batch]``: the row KL (over real keys) averaged over the heads and the real queries of each example."""
    per_row = _kl_rows(log_p_t, log_p_s, keep[:, None, None, :])  # [batch, heads, seq]
    per_row = torch.where(keep[:, None, :], per_row, torch.zeros_like(per_row))
    count = keep.sum(-1).clamp(min=1).to(per_row.dtype) * log_p_s.shape[1]
    return per_row.sum((-1, -2)) / count


def _log_relations(states: torch.Tensor, num_heads: int, keep: torch.Tensor, side: str) -> torch.Tensor:
    """``log softmax(X_a X_a^T / sqrt(d_r))`` per relation head ``a`` over real keys: ``[batch, A_r, seq, seq]``."""
    batch, seq, width = states.shape
    if width % num_heads:
        raise ValueError(
            f"The {side}'s width {width} is not divisible by {num_heads} relation heads; choose relation_heads "
            "dividing both the teacher's and the student's width."
        )
    head_dim = width // num_heads
    heads = states.float().reshape(batch, seq, num_heads, head_dim).transpose(1, 2)
    return _masked_log_softmax(heads @ heads.transpose(-1, -2) / math.sqrt(head_dim), keep)


def relation_kl_loss(
    student_states: torch.Tensor,
    teacher_states: torch.Tensor,
    num_relation_heads: int,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Self-attention relation KL: MiniLM's value relation (Wang et al., NeurIPS 2020, arXiv:2002.10957) and
    MiniLMv2's Q-Q / K-K / V-V relations (Wang et al., Findings of ACL 2021, arXiv:2012.15828).

    ``student_states [batch, seq, d_s]`` and ``teacher_states [batch, seq, d_t]`` are one layer's concatenated
    query, key or value vectors (the widths may differ). Each is split into ``A_r = num_relation_heads`` heads of
    ``d_r = d / A_r`` and turned into relations ``R = softmax(X X^T / sqrt(d_r))`` over the real keys. Per example:
    ``(1 / (A_r * |x|)) * sum_heads sum_{real queries i} KL(R_t[i] || R_s[i])``. MiniLM v1's value relation is this
    with ``V`` and ``A_r`` = the (equal) attention-head count.
    """
    if num_relation_heads < 1:
        raise ValueError(f"num_relation_heads={num_relation_heads} must be >= 1.")
    if student_states.shape[:2] != teacher_states.shape[:2]:
        raise ValueError(
            f"Student states {tuple(student_states.shape)} and teacher states {tuple(teacher_states.shape)} cover "
            "different [batch, seq]: teacher and student must see the same tokens."
        )
    batch, seq, _ = student_states.shape
    keep = _token_mask(mask, batch, seq, student_states.device)
    log_r_s = _log_relations(student_states, num_relation_heads, keep, "student")
    log_r_t = _log_relations(teacher_states.detach(), num_relation_heads, keep, "teacher")
    return _per_example(_mean_row_kl(log_r_t, log_r_s, keep), reduction)


def _relation_call(loss: Callable[..., torch.Tensor], student, teacher, mask, heads) -> torch.Tensor:
    return loss(student, teacher, heads, mask, reduction="none")


for _name, _source, _equal_heads, _help in (
    ("value_relation", "value", True, "KL of value relations, heads = attention heads (MiniLM L_vr)"),
    ("qq_relation", "query", False, "KL of query-query relations (MiniLMv2)"),
    ("kk_relation", "key", False, "KL of key-key relations (MiniLMv2)"),
    ("vv_relation", "value", False, "KL of value-value relations (MiniLMv2)"),
):
    register_term_loss(_name, _source, _help, equal_heads=_equal_heads, call=_relation_call)(relation_kl_loss)

# ---- Input-gradient matching (gradient transfer) ----


@register_term_loss(
    "input_gradient", "input_gradient", "input-gradient matching on the word embeddings (Srinivas & Fleuret; EBBT)"
)
def input_gradient_loss(
    student_grad: torch.Tensor,
    teacher_grad: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
    eps: float = 1e-12,
) -> torch.Tensor:
    """Input-gradient (Jacobian) matching: Srinivas & Fleuret, "Knowledge Transfer with Jacobian Matching" (ICML
    2018, arXiv:1803.00443); Czarnecki et al., "Sobolev Training for Neural Networks" (NeurIPS 2017,
    arXiv:1706.04859).

    ``student_grad [batch, seq, d_s]`` and ``teacher_grad [batch, seq, d_t]`` are each model's gradient of one
    scalar per example (the log-probability of the teacher's class) with respect to its word embeddings; ``mask
    [batch, seq]`` marks the real tokens. Padding rows are set to zero first, so only real tokens count. Per example:

    - same width (``d_s == d_t``): scale each gradient matrix to unit Frobenius norm and take the squared Frobenius
      norm of the difference, ``|| G_s / ||G_s||_F - G_t / ||G_t||_F ||_F^2``;
    - different widths: reduce each matrix to its per-token saliency ``a[i] = ||G[i]||_2`` (a ``[seq]`` vector,
      whatever the width) and compare those the same way, ``|| a_s / ||a_s|| - a_t / ||a_t|| ||^2``.

    Either value is ``2 - 2 cos`` of the two directions, in ``[0, 4]``. Norms are clamped at ``eps``, so an all-zero
    gradient counts as the zero vector instead of giving NaN. The teacher side is detached; computed in float32, or
    float64 for float64 inputs.
    """
    if student_grad.dim() != 3 or teacher_grad.dim() != 3 or student_grad.shape[:2] != teacher_grad.shape[:2]:
        raise ValueError(
            f"input_gradient_loss takes [batch, seq, width] gradients over the same tokens; got "
            f"{tuple(student_grad.shape)} (student) and {tuple(teacher_grad.shape)} (teacher)."
        )
    batch, seq, _ = student_grad.shape
    keep = _token_mask(mask, batch, seq, student_grad.device)[..., None]
    dtype = torch.promote_types(student_grad.dtype, torch.float32)
    g_s = torch.where(keep, student_grad.to(dtype), torch.zeros((), dtype=dtype, device=student_grad.device))
    g_t = torch.where(keep, teacher_grad.detach().to(dtype), torch.zeros((), dtype=dtype, device=student_grad.device))
    if g_s.shape[-1] != g_t.shape[-1]:
        g_s, g_t = torch.linalg.vector_norm(g_s, dim=-1), torch.linalg.vector_norm(g_t, dim=-1)
    difference = F.normalize(g_s.flatten(1), dim=-1, eps=eps) - F.normalize(g_t.flatten(1), dim=-1, eps=eps)
    return _per_example(difference.pow(2).sum(-1), reduction)
