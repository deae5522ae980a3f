"""Dynamic masking for masked-LM distillation: a fresh mask every epoch, reproducible from a seed.

[`DynamicMaskingCollator`] is transformers' `DataCollatorForLanguageModeling` (BERT's masking: 15% of tokens chosen,
80% [MASK] / 10% random / 10% kept, Devlin et al., NAACL 2019, https://arxiv.org/abs/1810.04805; optional whole-word
masking from token offsets) with one change: when ``seed`` is set, the
mask of a block is drawn from a generator seeded by ``(seed, epoch, the block's token ids)``. So

- masks are regenerated every epoch (RoBERTa's dynamic masking, Liu et al., 2019, https://arxiv.org/abs/1907.11692):
  ``epoch`` is part of the seed;
- they are reproducible: the same seed gives the same masks, whatever the batch composition, the number of
  dataloader workers or processes, and after resuming from a checkpoint (the skipped batches are re-masked the same).

[`MaskingEpochCallback`] tells the collator the epoch at the start of each one (it is added automatically by
[`GeneralDistillationTrainer`]; add it yourself with a plain `Trainer`).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DataCollatorForLanguageModeling, TrainerCallback, TrainerControl, TrainerState
from transformers import TrainingArguments as _TrainingArguments


@dataclass
class DynamicMaskingCollator(DataCollatorForLanguageModeling):
    """`DataCollatorForLanguageModeling` whose masks depend only on ``(seed, epoch, block)`` when ``seed`` is set.

    Input rows: ``input_ids`` (plus ``attention_mask``, ``special_tokens_mask`` and, for whole-word masking,
    ``offset_mapping``, as [`pack_blocks`] writes them). Output: ``input_ids`` with the masking applied,
    ``attention_mask`` and ``labels`` (the original id on masked positions, -100 elsewhere), all ``[batch, seq]``.
    Without ``seed`` the global torch RNG is used, as in the parent class (new masks every epoch, reproducible under
    `transformers.set_seed` with a single-process dataloader only).
    """

    epoch: int = 0

    def __post_init__(self) -> None:
        if self.return_tensors != "pt":
            raise ValueError(
                f"DynamicMaskingCollator returns torch tensors only, got return_tensors={self.return_tensors!r}."
            )
        if not self.mlm:
            raise ValueError("DynamicMaskingCollator is for masked-LM data: mlm must be True.")
        super().__post_init__()

    @property
    def required_columns(self) -> list[str]:
        """Dataset columns this collator reads that the model's forward does not take (kept by the trainer)."""
        return ["special_tokens_mask", "offset_mapping"]

    def set_epoch(self, epoch: int) -> None:
        """Use the masks of ``epoch`` from now on (called at the start of each epoch)."""
        self.epoch = int(epoch)

    def create_rng(self, return_tensors: str | None = None) -> None:
        # The generator is re-seeded per block in torch_mask_tokens; nothing to set up here (this also works in
        # processes that are not DataLoader workers). transformers >= 5.24 passes return_tensors and recreates the
        # generator whenever _generator_pid is not this process's.
        self.generator = torch.Generator()
        self._generator_pid = os.getpid()

    def torch_mask_tokens(
        self, inputs: Any, special_tokens_mask: Any | None = None, offset_mapping: Any | None = None
    ) -> tuple[Any, Any]:
        if self.seed is None:
            return super().torch_mask_tokens(inputs, special_tokens_mask, offset_mapping)
        if self.whole_word_mask and offset_mapping is None:
            raise ValueError(
                "Whole-word masking needs an offset_mapping column: pack the corpus with "
                "pack_blocks(..., with_offsets=True)."
            )
        masked_rows, label_rows = [], []
        for row in range(inputs.shape[0]):
            self.generator = torch.Generator().manual_seed(self._block_seed(inputs[row]))
            row_special = None if special_tokens_mask is None else special_tokens_mask[row : row + 1]
            row_offsets = None if offset_mapping is None else offset_mapping[row : row + 1]
            masked, labels = super().torch_mask_tokens(inputs[row : row + 1].clone(), row_special, row_offsets)
            masked_rows.append(masked)
            label_rows.append(labels)
        return torch.cat(masked_rows), torch.cat(label_rows)

    def _block_seed(self, ids: torch.Tensor) -> int:
        digest = hashlib.blake2b(ids.to(torch.int64).cpu().numpy().tobytes(), digest_size=8)
        digest.update(f"{self.seed}:{self.epoch}".encode())
        return int.from_bytes(digest.digest(), "little") & ((1 << 63) - 1)


class MaskingEpochCallback(TrainerCallback):
    """Sets ``collator.set_epoch(epoch)`` at the start of every epoch, so masks change from one epoch to the next.

    The epoch counter starts from the resumed state's epoch (0 for a fresh run) and counts the Trainer's epochs,
    i.e. passes over the data, for sized and for streaming (``max_steps``) datasets alike.

    Dataloader workers get a copy of the collator when an epoch's iterator starts, which happens after this
    callback runs; with ``dataloader_persistent_workers=True`` they would keep the first epoch's copy, so that
    combination is refused.
    """

    def __init__(self, collator: DynamicMaskingCollator) -> None:
        self.collator = collator
        self.next_epoch = 0

    def on_train_begin(
        self, args: _TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if args.dataloader_persistent_workers and args.dataloader_num_workers > 0:
            raise ValueError(
                "dataloader_persistent_workers=True keeps each worker's copy of the masking collator from the first "
                "epoch, so its masks would never change. Set dataloader_persistent_workers=False."
            )
        self.next_epoch = epoch_index(state.epoch)

    def on_epoch_begin(
        self, args: _TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.collator.set_epoch(self.next_epoch)
        self.next_epoch += 1


def epoch_index(epoch: float | None) -> int:
    """The index of the epoch under way (or about to start) when `TrainerState.epoch` is ``epoch``."""
    if not epoch:
        return 0
    nearest = round(epoch)
    return int(nearest) if math.isclose(epoch, nearest, abs_tol=1e-9) else math.floor(epoch)
