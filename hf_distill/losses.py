"""Distillation losses as pure tensor functions (see METHODS.md).

Every function takes tensors and returns a tensor: no modules, no hidden state. Positions to ignore are given by an
explicit ``mask`` over the leading ("item") dimensions, and ``reduction`` is one of:

- ``"mean"``: sum over the kept items divided by their number (0 when nothing is kept);
- ``"sum"``: sum over the kept items;
- ``"none"``: one value per item, shape = the leading dimensions, ignored items set to 0.

``"none"`` is what the trainer uses: it sums per-item values itself so that gradient accumulation and several
processes normalise by the item count of the whole optimizer step.
"""

from __future__ import annotations

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
    """Logit distillation (Hinton et al., 2015), METHODS.md section 1.

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
