"""Forward FLOPs of a transformer encoder classifier, counted from its config."""

from __future__ import annotations

from typing import Any


def _get(config: Any, *names: str) -> int:
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return int(value)
    raise ValueError(f"{type(config).__name__} has none of {names}: cannot count its FLOPs.")


def forward_flops(config: Any, seq_len: int) -> float:
    """FLOPs (2 x multiply-adds) of one forward pass over one sequence of ``seq_len`` tokens.

    Per layer with hidden size ``h`` and feed-forward size ``f``: ``2 * s * (4 h^2 + 2 h f)`` for the Q/K/V/output
    projections and the feed-forward, plus ``2 * 2 * s^2 * h`` for ``Q K^T`` and ``A V``; plus the pooler and
    classifier ``2 * (h^2 + h * num_labels)``. Embedding look-ups, norms, softmax and biases are left out (they are
    a few percent at these sizes).
    """
    hidden = _get(config, "hidden_size", "dim")
    layers = _get(config, "num_hidden_layers", "n_layers")
    ffn = _get(config, "intermediate_size", "hidden_dim")
    labels = int(getattr(config, "num_labels", 2))
    per_layer = 2 * seq_len * (4 * hidden * hidden + 2 * hidden * ffn) + 2 * 2 * seq_len * seq_len * hidden
    return float(layers * per_layer + 2 * (hidden * hidden + hidden * labels))


def kd_ideal_ratio(teacher_config: Any, student_config: Any, seq_len: int) -> float:
    """Ideal step-time ratio of distillation over plain fine-tuning: ``1 + F_teacher / (3 * F_student)``.

    A training step costs a forward and a backward (about two forwards) of the student, ``3 F_s``; distillation
    adds one teacher forward ``F_t``.
    """
    return 1.0 + forward_flops(teacher_config, seq_len) / (3.0 * forward_flops(student_config, seq_len))
