"""General-distillation settings: the presets and [`GeneralDistillationArguments`] (see ``general_trainer.py``).

The presets follow DistilBERT (Sanh et al., 2019, arXiv:1910.01108), TinyBERT (Jiao et al., Findings of EMNLP 2020,
arXiv:1909.10351), MobileBERT (Sun et al., ACL 2020, arXiv:2004.02984), MiniLM (Wang et al., NeurIPS 2020,
arXiv:2002.10957) and MiniLMv2 (Wang et al., Findings of ACL 2021, arXiv:2012.15828).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...arguments import DistillationTrainingArguments

__all__ = ["GENERAL_PRESETS", "GeneralDistillationArguments"]


@dataclass(frozen=True)
class GeneralPreset:
    """How a general-distillation preset maps onto the trainer's settings.

    Attributes:
        distill_preset: the `hf_distill.terms.PRESETS` entry giving the intermediate terms.
        distill_phases: ``"joint"`` (terms + masked-LM logit objective) or ``"intermediate"`` (terms alone).
        needs_mlm_head: the objective reads masked-LM logits (teacher and student must have the head).
        progressive: layer-by-layer stages (MobileBERT).
    """

    distill_preset: str
    distill_phases: str
    needs_mlm_head: bool
    progressive: bool = False


GENERAL_PRESETS: dict[str, GeneralPreset] = {
    "distilbert": GeneralPreset("distilbert", "joint", needs_mlm_head=True),
    "tinybert": GeneralPreset("tinybert", "intermediate", needs_mlm_head=False),
    "minilm": GeneralPreset("minilm", "intermediate", needs_mlm_head=False),
    "minilmv2": GeneralPreset("minilmv2", "intermediate", needs_mlm_head=False),
    "mobilebert": GeneralPreset("mobilebert", "intermediate", needs_mlm_head=False, progressive=True),
}
GeneralPresetName = Literal[(None, *GENERAL_PRESETS)]  # a Literal, so the command line's "None" parses to None


@dataclass
class GeneralDistillationArguments(DistillationTrainingArguments):
    """[`DistillationTrainingArguments`] plus the task-agnostic presets (see the module docstring).

    ``general_preset`` fills ``distill_preset`` and ``distill_phases`` (each unless set), and for ``distilbert``
    also ``alpha = a_ce / (a_ce + a_mlm)``, the cosine term's weight ``a_cos / (a_ce + a_mlm)`` and
    ``loss_scale = a_ce + a_mlm``, so the loss is exactly ``a_ce * L_kd + a_mlm * L_mlm + a_cos * L_cos``.
    """

    general_preset: GeneralPresetName = field(
        default=None,
        metadata={
            "help": "Task-agnostic distillation recipe: " + ", ".join(GENERAL_PRESETS) + ". Sets distill_preset "
            "and distill_phases (unless given); distilbert also sets alpha, the cosine weight and loss_scale.",
        },
    )
    alpha_ce: float = field(default=5.0, metadata={"help": "DistilBERT: weight of the MLM-logit KD loss (a_ce)."})
    alpha_mlm: float = field(default=2.0, metadata={"help": "DistilBERT: weight of the masked-LM loss (a_mlm)."})
    alpha_cos: float = field(default=1.0, metadata={"help": "DistilBERT: weight of the cosine loss (a_cos)."})
    loss_scale: float = field(
        default=1.0, metadata={"help": "Multiplies the whole loss (> 0); the distilbert preset sets a_ce + a_mlm."}
    )
    progressive_stage_steps: int | None = field(
        default=None,
        metadata={
            "help": "Progressive layer-wise transfer (MobileBERT): optimizer steps per student layer; then all "
            "layers train together until max_steps. Required by the mobilebert preset; 0 turns it off."
        },
    )
    progressive_lower_lr_scale: float = field(
        default=0.0,
        metadata={
            "help": "Progressive transfer: learning-rate factor of the layers below the trained one, in [0, 1); "
            "0 freezes them."
        },
    )

    def __post_init__(self) -> None:
        if self.general_preset is not None:
            if self.general_preset not in GENERAL_PRESETS:
                raise ValueError(
                    f"general_preset={self.general_preset!r} is not one of {', '.join(GENERAL_PRESETS)} (or None)."
                )
            preset = GENERAL_PRESETS[self.general_preset]
            if self.distill_preset is None:
                self.distill_preset = preset.distill_preset
            if self.distill_phases is None:
                self.distill_phases = preset.distill_phases
            if self.general_preset == "distilbert":
                self._expand_distilbert()
            if preset.progressive and self.progressive_stage_steps is None:
                raise ValueError(
                    "general_preset='mobilebert' trains layer by layer: set progressive_stage_steps (optimizer steps "
                    "per student layer, e.g. max_steps // (num_layers + 1)), or 0 to train all layers at once."
                )
        if not self.loss_scale > 0:
            raise ValueError(f"loss_scale={self.loss_scale} must be > 0.")
        if self.progressive_stage_steps is not None and self.progressive_stage_steps < 0:
            raise ValueError(f"progressive_stage_steps={self.progressive_stage_steps} must be >= 0 (0 = off).")
        if not 0.0 <= self.progressive_lower_lr_scale < 1.0:
            raise ValueError(
                f"progressive_lower_lr_scale={self.progressive_lower_lr_scale} must be in [0, 1) (0 freezes)."
            )
        if self.progressive_stage_steps and self.ddp_find_unused_parameters is None:
            # A layer stage leaves the layers above (and the head) without gradient.
            self.ddp_find_unused_parameters = True
        super().__post_init__()

    def _expand_distilbert(self) -> None:
        weights = {"alpha_ce": self.alpha_ce, "alpha_mlm": self.alpha_mlm, "alpha_cos": self.alpha_cos}
        bad = {name: value for name, value in weights.items() if not value >= 0}
        if bad or self.alpha_ce + self.alpha_mlm <= 0:
            raise ValueError(f"DistilBERT weights {weights} must be >= 0 with alpha_ce + alpha_mlm > 0.")
        total = self.alpha_ce + self.alpha_mlm
        self.alpha = self.alpha_ce / total
        self.loss_scale = total
        if self.intermediate_terms is None:
            self.intermediate_terms = [
                {"loss": "cosine", "student_layer": -1, "teacher_layer": -1, "weight": self.alpha_cos / total}
            ]
