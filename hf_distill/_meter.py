"""Running sums of loss components for the Trainer's logs, averaged per logging window and across processes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from accelerate import Accelerator


class LossMeter:
    """Per-mode ("train", "eval") sums of per-item loss values and item counts for a fixed list of names.

    The names are fixed up front so that every process reduces a tensor of the same shape, even when one process
    saw no item of some component (say, a batch without labels) in the window.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self._totals: dict[str, torch.Tensor] = {}

    def add(self, mode: str, name: str, value_sum: torch.Tensor, count: torch.Tensor | int) -> None:
        """Add ``value_sum`` (the sum of a component over ``count`` items) to the window of ``mode``."""
        totals = self._totals.get(mode)
        if totals is None or totals.device != value_sum.device:
            totals = torch.zeros(len(self.names), 2, dtype=torch.float64, device=value_sum.device)
            self._totals[mode] = totals
        row = self.names.index(name)
        totals[row, 0] += value_sum.detach().double()
        totals[row, 1] += count

    def pop(self, mode: str, accelerator: Accelerator, prefix: str = "") -> dict[str, float]:
        """Averages over the window and all processes, then reset; components without items are left out.

        Every process must call this at the same point (it is a collective when several processes run).
        """
        totals = self._totals.pop(mode, None)
        if totals is None:
            totals = torch.zeros(len(self.names), 2, dtype=torch.float64, device=accelerator.device)
        if accelerator.num_processes > 1:
            totals = accelerator.reduce(totals.to(accelerator.device), reduction="sum")
        return {
            f"{prefix}{name}": value_sum / count
            for name, (value_sum, count) in zip(self.names, totals.tolist())
            if count > 0
        }
