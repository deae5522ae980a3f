"""The teacher's evaluation logits, computed once and reused: the teacher is frozen, so each evaluation of the same
data would recompute the same logits just to report ``eval_kd_loss``.

[`TeacherEvalLogits`] keys each evaluation batch by a hash of the teacher's inputs (their names, dtypes, shapes and
bytes), so another eval dataset, another order or another tokenization is recomputed, never mixed up; and it forgets
everything when the teacher changes (another module, new weights written in place, another dtype or device).
Logits are kept on the CPU up to a memory budget; batches beyond it run the teacher each time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def batch_key(inputs: dict[str, Any]) -> str:
    """A hash of the tensors of ``inputs`` (names, dtypes, shapes and values) identifying one evaluation batch."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(inputs):
        value = inputs[name]
        if torch.is_tensor(value):
            digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
            digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def teacher_state(teacher: nn.Module) -> tuple:
    """What the teacher's outputs depend on besides its inputs: the module itself and its tensors' identity, dtype,
    device and version (torch counts every in-place write, ``load_state_dict`` included)."""
    tensors = [*teacher.parameters(), *teacher.buffers()]
    return (id(teacher), *((id(t), t.dtype, t.device, t._version) for t in tensors))


class TeacherEvalLogits:
    """Teacher logits per evaluation batch, reused while the teacher is unchanged.

    Args:
        budget_mb: memory (MiB) the stored logits may take on the CPU; 0 stores nothing.
    """

    def __init__(self, budget_mb: float) -> None:
        self.budget_bytes = int(budget_mb * 2**20)
        self.used_bytes = 0
        self._logits: dict[str, torch.Tensor] = {}
        self._teacher_state: tuple | None = None

    def __len__(self) -> int:
        return len(self._logits)

    def clear(self) -> None:
        self._logits.clear()
        self.used_bytes = 0

    def get(self, teacher: nn.Module, inputs: dict[str, Any], compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The stored logits of the batch ``inputs``, or ``compute()`` (stored when the budget allows)."""
        state = teacher_state(teacher)
        if state != self._teacher_state:
            self.clear()
            self._teacher_state = state
        key = batch_key(inputs)
        stored = self._logits.get(key)
        if stored is not None:
            return stored.to(next(iter(t for t in inputs.values() if torch.is_tensor(t))).device)
        logits = compute()
        size = logits.numel() * logits.element_size()
        if self.used_bytes + size <= self.budget_bytes:
            self._logits[key] = logits.detach().to("cpu", copy=True)
            self.used_bytes += size
        return logits
