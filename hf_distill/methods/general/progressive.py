"""MobileBERT's progressive knowledge transfer (Sun et al., "MobileBERT: a Compact Task-Agnostic BERT for
Resource-Limited Devices", ACL 2020, https://arxiv.org/abs/2004.02984) as a `TrainerCallback`.

Training is cut into stages of ``stage_steps`` optimizer steps. Stage ``l`` (0-based, ``l < num_stages``) trains the
student's encoder layer ``l + 1`` (layers numbered 1..M as in `hf_distill.layers`, 0 = embeddings) on that layer's
transfer losses (feature-map + attention transfer), while everything below it (the embeddings and the layers under
it) is frozen (``lower_lr_scale=0``) or updated at ``lower_lr_scale``
times the learning rate. After the last layer's stage comes the final stage (``stage == num_stages``): every
parameter trains on the whole objective (MobileBERT's pre-training distillation) until ``max_steps``.

The stage is a function of the global step, ``min(global_step // stage_steps, num_stages)``, so resuming from a
checkpoint lands in the right stage; the callback's settings are saved with the checkpoint (`ExportableState`) and
resuming with a different schedule is refused. Which losses a stage trains is the trainer's business: it asks
[`ProgressiveTransferCallback.active_layer`] (see `GeneralDistillationTrainer`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_callback import ExportableState

from ...layers import encoder_layers
from ...papers import cites
from ...terms import MOBILEBERT

logger = logging.getLogger(__name__)


@cites(MOBILEBERT)
class ProgressiveTransferCallback(TrainerCallback, ExportableState):
    """Stage-wise layer training: stage ``l`` trains encoder layer ``l + 1``; lower layers frozen or at a reduced LR.

    Args:
        stage_steps: optimizer steps per layer stage (> 0).
        num_stages: layers trained one by one (default: all the student's encoder layers, known at train start).
        lower_lr_scale: learning-rate factor for the parameters below the current layer during a layer stage:
            0 freezes them (``requires_grad=False``); a value in (0, 1) scales their optimizer update, which for
            SGD, Adam and AdamW (whose update is proportional to the learning rate) is the same as a learning rate
            ``lower_lr_scale`` times smaller.

    Each stage change is logged (``logging.INFO``) and recorded in ``TrainerState.log_history`` as
    ``{"progressive_stage": l, "progressive_layer": l + 1 or -1 for the final stage, "step": global_step}``.
    """

    def __init__(self, stage_steps: int, num_stages: int | None = None, lower_lr_scale: float = 0.0) -> None:
        if not isinstance(stage_steps, int) or stage_steps < 1:
            raise ValueError(f"stage_steps={stage_steps!r} must be a positive number of optimizer steps per layer.")
        if num_stages is not None and (not isinstance(num_stages, int) or num_stages < 1):
            raise ValueError(f"num_stages={num_stages!r} must be a positive number of layers (or None for all).")
        if not 0.0 <= lower_lr_scale < 1.0:
            raise ValueError(
                f"lower_lr_scale={lower_lr_scale} must be in [0, 1): 0 freezes the layers below the trained one, "
                "a value in (0, 1) trains them at that fraction of the learning rate."
            )
        self.stage_steps = stage_steps
        self.num_stages = num_stages
        self.lower_lr_scale = float(lower_lr_scale)
        self.stage: int | None = None
        self._frozen: list[nn.Parameter] = []
        self._lower: list[nn.Parameter] = []
        self._snapshot: list[torch.Tensor] = []

    # ---- The schedule ----

    def stage_at(self, global_step: int) -> int:
        """The stage that optimizer step ``global_step`` (0-based count of finished steps) belongs to."""
        if self.num_stages is None:
            raise ValueError("num_stages is unknown until training starts (or pass num_stages=...).")
        return min(global_step // self.stage_steps, self.num_stages)

    def active_layer(self, global_step: int) -> int | None:
        """The student layer trained at ``global_step``, numbered as in `hf_distill.layers` (transformer layers
        1..M; stage ``l`` trains layer ``l + 1``), or None in the final stage. Stage 0 also trains the embeddings
        (layer 0), which are frozen with the other lower layers afterwards."""
        stage = self.stage_at(global_step)
        return None if stage == self.num_stages else stage + 1

    @property
    def progressive_steps(self) -> int:
        """Optimizer steps spent in layer stages before the final stage."""
        return self.stage_steps * (self.num_stages or 0)

    def state(self) -> dict[str, Any]:
        return {
            "args": {
                "stage_steps": self.stage_steps,
                "num_stages": self.num_stages,
                "lower_lr_scale": self.lower_lr_scale,
            },
            "attributes": {"stage": self.stage},
        }

    # ---- Trainer events ----

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        model = kwargs["model"]
        layers = encoder_layers(model)
        if self.num_stages is None:
            self.num_stages = len(layers)
        if self.num_stages > len(layers):
            raise ValueError(
                f"num_stages={self.num_stages} but the student has {len(layers)} encoder layers: at most one stage "
                "per layer."
            )
        if state.max_steps < self.progressive_steps:
            raise ValueError(
                f"max_steps={state.max_steps} is shorter than the {self.num_stages} layer stages of "
                f"{self.stage_steps} steps each ({self.progressive_steps} steps): layers would never be trained. "
                "Raise max_steps (or num_train_epochs) or lower the stage length."
            )
        self._check_resumed_schedule(state)
        logger.info(
            "Progressive transfer: %d layer stages of %d steps (steps 0-%d), then all layers until step %d; layers "
            "below the trained one %s.",
            self.num_stages,
            self.stage_steps,
            self.progressive_steps - 1,
            state.max_steps,
            "frozen" if self.lower_lr_scale == 0 else f"at {self.lower_lr_scale} x the learning rate",
        )
        self.stage = None
        self._enter_stage(self.stage_at(state.global_step), model, state)

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        stage = self.stage_at(state.global_step)
        if stage != self.stage:
            self._enter_stage(stage, kwargs["model"], state)

    def on_pre_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._lower and self.lower_lr_scale > 0:
            self._snapshot = [parameter.detach().clone() for parameter in self._lower]

    def on_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._snapshot:
            with torch.no_grad():  # p = before + scale * (after - before): the update at scale x the LR
                for parameter, before in zip(self._lower, self._snapshot):
                    parameter.lerp_(before, 1.0 - self.lower_lr_scale)
            self._snapshot = []

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._release()

    # ---- Freezing ----

    def _enter_stage(self, stage: int, model: nn.Module, state: TrainerState) -> None:
        self._release()
        self.stage = stage
        layer = None if stage == self.num_stages else stage + 1
        if layer is not None and layer > 1:
            lower = [parameter for module in _lower_modules(model, layer) for parameter in module.parameters()]
            if self.lower_lr_scale == 0:
                self._frozen = [parameter for parameter in lower if parameter.requires_grad]
                for parameter in self._frozen:
                    parameter.requires_grad_(False)
            else:
                self._lower = [parameter for parameter in lower if parameter.requires_grad]
        description = f"layer {layer}" if layer is not None else "all layers (final stage)"
        logger.info("Progressive transfer: stage %d from step %d trains %s.", stage, state.global_step, description)
        state.log_history.append(
            {
                "progressive_stage": stage,
                "progressive_layer": -1 if layer is None else layer,
                "step": state.global_step,
            }
        )

    def _release(self) -> None:
        for parameter in self._frozen:
            parameter.requires_grad_(True)
        self._frozen, self._lower, self._snapshot = [], [], []

    def _check_resumed_schedule(self, state: TrainerState) -> None:
        saved = (state.stateful_callbacks or {}).get(type(self).__name__)
        if isinstance(saved, list):
            saved = saved[0] if saved else None
        if not isinstance(saved, dict) or "args" not in saved:
            return
        mine = self.state()["args"]
        different = {key: value for key, value in saved["args"].items() if key in mine and mine[key] != value}
        if different and state.global_step > 0:
            raise ValueError(
                f"The checkpoint was trained with progressive transfer settings {saved['args']}, this run has {mine}: "
                f"resuming would land in a different stage. Resume with the same stage_steps / num_stages / "
                "lower_lr_scale, or set restore_callback_states_from_checkpoint=True."
            )


def _lower_modules(model: nn.Module, layer: int) -> list[nn.Module]:
    """What lies below transformer layer ``layer`` (1..M): the embeddings and layers ``1 .. layer-1``."""
    base = getattr(model, "base_model", model)
    embeddings = getattr(base, "embeddings", None) or model.get_input_embeddings()
    return [embeddings, *list(encoder_layers(model))[: layer - 1]]
