"""`DistillationTrainingArguments`: `TrainingArguments` plus every distillation setting."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import torch
from transformers import TrainingArguments

from .layers import parse_layer_mapping
from .losses import KD_LOSS_TYPES
from .terms import DISTILL_PHASES, PRESETS, TERM_LOSSES, IntermediateTerm, parse_terms

TEACHER_DTYPES = ("auto", "float32", "bfloat16", "float16")
# Literal choices with None: `HfArgumentParser` maps the command-line string "None" to None (a `str | None` field
# with a None choice would compare the string "None" with None and refuse it).
TeacherDtype = Literal[(None, *TEACHER_DTYPES)]
PresetName = Literal[(None, *PRESETS)]
PhaseName = Literal[(None, *DISTILL_PHASES)]


ArgumentsT = TypeVar("ArgumentsT", bound="DistillationTrainingArguments")


@dataclass
class DistillationTrainingArguments(TrainingArguments):
    """Arguments of [`DistillationTrainer`]: everything `TrainingArguments` takes, plus the distillation settings.

    The training objective (Hinton et al., 2015, arXiv:1503.02531) is, per example,

        loss = (1 - alpha) * task_loss + alpha * kd_loss,   kd_loss = T^2 * KL(softmax(z_t/T) || softmax(z_s/T))

    and ``kd_loss`` alone for examples without a label, plus the weighted intermediate-layer terms
    (``intermediate_terms``, or a ``distill_preset`` that expands into them; see `hf_distill.terms`). Parsable with
    `HfArgumentParser` from the command line, JSON or YAML like any `TrainingArguments`.

    On a machine without an accelerator (CUDA, MPS, XPU, ...) ``dataloader_pin_memory`` is turned off, as
    `TrainingArguments` does for ``use_cpu``: there is no device memory to pin for, and torch would warn at every
    DataLoader.
    """

    temperature: float = field(
        default=2.0,
        metadata={"help": "Softmax temperature T for the teacher and student distributions (> 0)."},
    )
    alpha: float = field(
        default=0.5,
        metadata={
            "help": "Weight of the distillation term, in [0, 1]; the hard-label task loss gets 1 - alpha. Examples "
            "without a label train on the distillation term alone."
        },
    )
    kd_loss_type: str = field(
        default="kl",
        metadata={
            "help": "Logit distillation loss: 'kl' (T^2 * KL(p_t || p_s)), 'ce' (T^2 * soft cross-entropy) or "
            "'mse' (squared error on raw logits; the choice for regression, num_labels == 1).",
            "choices": list(KD_LOSS_TYPES),
        },
    )
    teacher_model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Path or Hub id of the fine-tuned teacher, loaded by DistillationTrainer when no teacher_model= "
            "is passed (with the student's head type, teacher_model_init_kwargs and teacher_dtype): a script that "
            "parses TrainingArguments with HfArgumentParser distils once it parses these arguments instead. A "
            "teacher_model= passed to the trainer wins over it; training data with a teacher_logits column (a "
            "teacher-output cache) needs no teacher unless intermediate terms are set, and none is loaded."
        },
    )
    teacher_dtype: TeacherDtype = field(
        default=None,
        metadata={
            "help": "Dtype to run the teacher in: 'float32', 'bfloat16', 'float16' or 'auto' (the checkpoint's). "
            "None keeps the teacher as given (or float32 when loaded from a path).",
        },
    )
    teacher_model_init_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "Keyword arguments (a dict or a JSON string) for `from_pretrained` when the teacher is given as "
            'a path or Hub id, e.g. \'{"revision": "main"}\'.'
        },
    )
    eval_teacher_cache_mb: float = field(
        default=1024.0,
        metadata={
            "help": "CPU memory (MiB) for the teacher's logits over the evaluation batches: the teacher is frozen, so "
            "they are computed at the first evaluation and reused by the next ones (eval_kd_loss then costs no "
            "teacher forward). A batch with other inputs (another eval dataset, order or tokenization) or a changed "
            "teacher is recomputed; batches beyond the budget run the teacher each time; 0 runs it at every "
            "evaluation. Evaluations with intermediate terms always run it (the terms need its hidden states)."
        },
    )

    distill_preset: PresetName = field(
        default=None,
        metadata={
            "help": "A paper recipe that fills intermediate_terms, layer_mapping and distill_phases (each unless set "
            "explicitly): " + ", ".join(PRESETS) + ". See hf_distill.terms.PRESETS.",
        },
    )
    intermediate_terms: list[dict[str, Any]] | str | None = field(
        default=None,
        metadata={
            "help": "Intermediate-layer loss terms: a list of dicts (a JSON string on the command line), each with "
            "'loss' (" + ", ".join(TERM_LOSSES) + "), optional 'student_layer' and 'teacher_layer' (0 = embeddings, "
            "-1 = last; omitted: every pair of layer_mapping), 'weight' (1.0), 'projection' (true/false; default: "
            "only when widths differ), 'relation_heads' (MiniLMv2) and 'noise' (input_gradient's sigma). Example: "
            '\'[{"loss": "hidden_mse"}, {"loss": "attention_mse", "weight": 0.5}]\'.'
        },
    )
    layer_mapping: str | None = field(
        default=None,
        metadata={
            "help": "Which teacher layer each student layer learns from, for terms without explicit layers: "
            "'uniform' (student m <- teacher m*N/M, TinyBERT), 'skip' (the same without the top layer, PKD-Skip), "
            "'last' (the layers just below the teacher's top, PKD-Last), or explicit pairs '1:2,2:4,3:6' (or teacher "
            "layers '2,4,6'). Default: the preset's, else 'uniform'."
        },
    )
    distill_phases: PhaseName = field(
        default=None,
        metadata={
            "help": "'joint': task + logit KD + intermediate terms together; 'intermediate': the terms alone; "
            "'prediction': task + logit KD alone; 'intermediate_then_prediction' (TinyBERT): the terms alone for the "
            "first intermediate_phase_ratio of the optimizer steps, then task + logit KD. Default: the preset's, "
            "else 'joint'.",
        },
    )
    intermediate_phase_ratio: float = field(
        default=0.5,
        metadata={"help": "Fraction of the optimizer steps spent in the intermediate phase, in (0, 1)."},
    )

    intermediate_weight: float = field(
        default=1.0,
        metadata={
            "help": "Multiplies the weight of every intermediate term (PKD's beta for its L_pt); tune it when the "
            "terms' scale swamps the task and KD terms, e.g. 0.1 for a preset's unit weights."
        },
    )

    def __post_init__(self) -> None:
        self._resolve_intermediate_settings()
        if isinstance(self.teacher_model_init_kwargs, str):
            try:
                self.teacher_model_init_kwargs = json.loads(self.teacher_model_init_kwargs)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"teacher_model_init_kwargs={self.teacher_model_init_kwargs!r} is not valid JSON ({error}); "
                    'pass a dict or a JSON object such as \'{"revision": "main"}\'.'
                ) from None
        if not self.temperature > 0:
            raise ValueError(
                f"temperature={self.temperature} must be > 0: it divides the logits. Typical values are 1 to 20 "
                "(DistilBERT uses 2.0)."
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(
                f"alpha={self.alpha} must be in [0, 1]: it weighs the distillation term and 1 - alpha the task "
                "loss (0 = plain fine-tuning, 1 = distillation only)."
            )
        if self.kd_loss_type not in KD_LOSS_TYPES:
            raise ValueError(f"kd_loss_type={self.kd_loss_type!r} is not one of {', '.join(KD_LOSS_TYPES)}.")
        if not self.eval_teacher_cache_mb >= 0:
            raise ValueError(
                f"eval_teacher_cache_mb={self.eval_teacher_cache_mb} must be >= 0 (MiB for the teacher's eval logits; "
                "0 runs the teacher at every evaluation)."
            )
        if self.teacher_dtype is not None and self.teacher_dtype not in TEACHER_DTYPES:
            raise ValueError(
                f"teacher_dtype={self.teacher_dtype!r} is not one of {', '.join(TEACHER_DTYPES)} (or None to keep "
                "the teacher's dtype)."
            )
        if self.dataloader_pin_memory and not _accelerator_available():
            self.dataloader_pin_memory = False
        super().__post_init__()

    def _resolve_intermediate_settings(self) -> None:
        """Expand ``distill_preset`` into the settings left unset, then check them all (before any training)."""
        if self.distill_preset is not None and self.distill_preset not in PRESETS:
            raise ValueError(f"distill_preset={self.distill_preset!r} is not one of {', '.join(PRESETS)} (or None).")
        preset = PRESETS.get(self.distill_preset)
        if self.intermediate_terms is None and preset is not None:
            self.intermediate_terms = [term.to_dict() for term in preset.terms]
        self.intermediate_terms = [term.to_dict() for term in parse_terms(self.intermediate_terms)] or None
        if self.layer_mapping is None:
            self.layer_mapping = preset.layer_mapping if preset is not None else "uniform"
        parse_layer_mapping(self.layer_mapping)
        if self.distill_phases is None:
            self.distill_phases = preset.distill_phases if preset is not None else "joint"
        if self.distill_phases not in DISTILL_PHASES:
            raise ValueError(f"distill_phases={self.distill_phases!r} is not one of {', '.join(DISTILL_PHASES)}.")
        if self.distill_phases in ("intermediate", "intermediate_then_prediction") and not self.intermediate_terms:
            raise ValueError(
                f"distill_phases={self.distill_phases!r} trains on intermediate terms, but none are set: give "
                "intermediate_terms or a distill_preset."
            )
        if not 0.0 < self.intermediate_phase_ratio < 1.0:
            raise ValueError(
                f"intermediate_phase_ratio={self.intermediate_phase_ratio} must be in (0, 1): the fraction of the "
                "optimizer steps spent on the intermediate terms before the prediction phase."
            )
        if not self.intermediate_weight >= 0:
            raise ValueError(f"intermediate_weight={self.intermediate_weight} must be >= 0: it scales term weights.")
        if self.intermediate_weight != 1.0 and not self.intermediate_terms:
            raise ValueError(
                f"intermediate_weight={self.intermediate_weight} scales intermediate terms, but none are set: give "
                "intermediate_terms or a distill_preset, or leave intermediate_weight at 1.0."
            )
        if self.intermediate_terms and self.distill_phases != "joint" and self.ddp_find_unused_parameters is None:
            # A phase without terms leaves the projections without gradient; one without logits, the head.
            self.ddp_find_unused_parameters = True

    def intermediate_term_list(self) -> list[IntermediateTerm]:
        """The configured intermediate terms (the preset's when not set explicitly), weights times
        ``intermediate_weight``."""
        return [
            dataclasses.replace(term, weight=term.weight * self.intermediate_weight)
            for term in parse_terms(self.intermediate_terms)
        ]

    @classmethod
    def from_training_arguments(cls, args: TrainingArguments, **overrides: Any) -> DistillationTrainingArguments:
        """Upgrade a plain `TrainingArguments` (distillation settings at their defaults unless overridden)."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init}
        return cls(**{**values, **overrides})


def as_distillation_arguments(args: TrainingArguments | None, cls: type[ArgumentsT]) -> ArgumentsT:
    """``args`` as an instance of ``cls`` (`DistillationTrainingArguments` or a subclass) for a trainer: ``cls``'s
    defaults when None; ``args`` itself when it is one already; else a plain (or less specific) `TrainingArguments`
    upgraded, the settings it lacks at ``cls``'s defaults."""
    if args is None:
        return cls(output_dir="trainer_output")
    return args if isinstance(args, cls) else cls.from_training_arguments(args)


def _accelerator_available() -> bool:
    """Whether torch sees an accelerator (the test torch's DataLoader applies before pinning memory)."""
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None:
        return accelerator.is_available()
    return torch.cuda.is_available() or torch.backends.mps.is_available()
