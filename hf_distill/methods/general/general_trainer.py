"""Task-agnostic (general, pre-training) distillation on raw text: presets, arguments and the trainer.

A general-distilled student is a small encoder trained to imitate a *pre-trained* (not fine-tuned) teacher on raw text;
a user fine-tunes or task-distils it afterwards. The presets (papers: ``general_config.py``) are settings of the same
`DistillationTrainer` machinery, expanded by [`GeneralDistillationArguments`]:

- ``distilbert``: ``L = a_ce * L_kd(MLM logits, T=2) + a_mlm * L_mlm + a_cos * L_cos(last hidden states)`` with the
  reference weights 5 / 2 / 1. Teacher and student need a masked-LM head (``*ForMaskedLM``).
- ``tinybert``: TinyBERT's general stage: embedding + attention-score + hidden-state MSE on uniformly mapped layers
  (learned projections when widths differ), no prediction loss.
- ``minilm`` / ``minilmv2``: the last layer's self-attention relations only (attention + value relation KL; Q-Q,
  K-K, V-V relation KL with free head counts), any student depth and width.
- ``mobilebert``: feature-map (hidden MSE) + attention (KL) transfer layer by layer, trained progressively
  ([`ProgressiveTransferCallback`]: ``progressive_stage_steps`` per layer, then all layers together; with
  masked-LM heads the final stage adds MLM + logit KD, MobileBERT's pre-training distillation).

Batches come from [`pack_blocks`] + [`DynamicMaskingCollator`]: ``labels`` are the masked-LM targets (-100 on
unmasked tokens), which the logit objective reads token by token; presets without prediction loss ignore them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, AutoModelForMaskedLM, PreTrainedModel, TrainingArguments

from ...arguments import as_distillation_arguments
from ...teacher import _DTYPES
from ...trainer import DistillationTrainer
from ..students import narrow_student, shallow_student
from .general_config import GeneralDistillationArguments
from .masking import DynamicMaskingCollator, MaskingEpochCallback
from .progressive import ProgressiveTransferCallback


def has_mlm_head(model: nn.Module) -> bool:
    """Whether ``model`` predicts tokens (a masked-LM head: ``*ForMaskedLM`` or output embeddings)."""
    if type(model).__name__.endswith("ForMaskedLM"):
        return True
    try:
        return model.get_output_embeddings() is not None
    except (AttributeError, NotImplementedError):
        return False


def load_mlm_teacher(
    path: str, dtype: str | None = None, init_kwargs: dict[str, Any] | None = None
) -> PreTrainedModel:
    """Load a masked-LM teacher, refusing a checkpoint whose masked-LM head would be freshly initialised."""
    kwargs = dict(init_kwargs or {})
    if dtype is not None:
        kwargs["dtype"] = dtype if dtype == "auto" else _DTYPES[dtype]
    model, info = AutoModelForMaskedLM.from_pretrained(path, output_loading_info=True, **kwargs)
    prefix = model.base_model_prefix
    missing_head = [key for key in info.get("missing_keys", ()) if not key.startswith(prefix + ".")]
    if missing_head:
        raise ValueError(_no_mlm_head_message(f"The teacher {path!r}", f"missing weights: {', '.join(missing_head)}"))
    return model


def _no_mlm_head_message(who: str, detail: str) -> str:
    return (
        f"{who} has no masked-LM head ({detail}), but this objective distils masked-LM predictions (DistilBERT's "
        "MLM-logit KD, MobileBERT's pre-training distillation). Sentence-embedding checkpoints such as "
        "all-MiniLM-L6-v2 ship without one. Use a teacher with its MLM head (e.g. bert-base-uncased), or a preset "
        "without prediction loss: general_preset='tinybert', 'minilm', 'minilmv2' or 'mobilebert' (student without "
        "a head)."
    )


class GeneralDistillationTrainer(DistillationTrainer):
    """`DistillationTrainer` for task-agnostic distillation (the presets of ``general_config.py``).

    On top of the parent it: refuses, before any training, a teacher or student without a masked-LM head when the
    objective needs one; adds [`MaskingEpochCallback`] for a [`DynamicMaskingCollator`]; builds the
    [`ProgressiveTransferCallback`] from ``args.progressive_stage_steps`` and, in a layer stage, keeps only the
    active layer's intermediate terms (stage 0 also the embedding terms) with no logit objective; multiplies the
    loss by ``args.loss_scale``; logs ``progressive_stage``. The student is saved alone (no projections), loadable
    with ``AutoModel.from_pretrained``.
    """

    def __init__(
        self,
        model: PreTrainedModel | nn.Module | None = None,
        args: TrainingArguments | None = None,
        data_collator: Callable | None = None,
        *positional: Any,
        teacher_model: PreTrainedModel | nn.Module | str | None = None,
        **kwargs: Any,
    ) -> None:
        args = as_distillation_arguments(args, GeneralDistillationArguments)
        needs_logits = args.distill_phases != "intermediate"
        if needs_logits:
            if model is not None and not has_mlm_head(model):
                raise ValueError(
                    _no_mlm_head_message(
                        f"The student ({type(model).__name__})", "it has no output embeddings"
                    ).replace("Use a teacher with its MLM head", "Build the student with AutoModelForMaskedLM")
                )
            if isinstance(teacher_model, str):
                teacher_model = load_mlm_teacher(teacher_model, args.teacher_dtype, args.teacher_model_init_kwargs)
            elif teacher_model is not None and not has_mlm_head(teacher_model):
                raise ValueError(
                    _no_mlm_head_message(f"The teacher ({type(teacher_model).__name__})", "no output embeddings")
                )
        super().__init__(model, args, data_collator, *positional, teacher_model=teacher_model, **kwargs)
        if isinstance(self.data_collator, DynamicMaskingCollator) and not any(
            isinstance(callback, MaskingEpochCallback) for callback in self.callback_handler.callbacks
        ):
            self.add_callback(MaskingEpochCallback(self.data_collator))
        if args.progressive_stage_steps and self._progressive() is None:
            self.add_callback(
                ProgressiveTransferCallback(
                    args.progressive_stage_steps, lower_lr_scale=args.progressive_lower_lr_scale
                )
            )
        if self._progressive() is not None and self.intermediate is None:
            raise ValueError(
                "Progressive layer-wise transfer trains each layer on its intermediate terms, but none are set: use "
                "general_preset='mobilebert' or give intermediate_terms."
            )
        self._all_terms = list(self.intermediate.terms) if self.intermediate is not None else []

    def _progressive(self) -> ProgressiveTransferCallback | None:
        # Looked up each time: resuming with restore_callback_states_from_checkpoint replaces the callback object.
        return next(
            (cb for cb in self.callback_handler.callbacks if isinstance(cb, ProgressiveTransferCallback)), None
        )

    def active_layer(self) -> int | None:
        """The student layer trained alone at the current step (progressive transfer), or None."""
        progressive = self._progressive()
        if progressive is None or progressive.num_stages is None:
            return None
        return progressive.active_layer(self.state.global_step)

    def distill_phase(self) -> str:
        return "intermediate" if self.active_layer() is not None else super().distill_phase()

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        if self.intermediate is not None:
            self.intermediate.terms = self._terms_for(self.active_layer() if model.training else None)
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.args.loss_scale == 1.0:
            return result
        if return_outputs:
            return result[0] * self.args.loss_scale, result[1]
        return result * self.args.loss_scale

    def _terms_for(self, layer: int | None) -> list:
        if layer is None:
            return self._all_terms
        terms = [t for t in self._all_terms if t.student_layer == layer or (layer == 1 and t.student_layer == 0)]
        if not terms:
            raise ValueError(
                f"Progressive transfer: no intermediate term trains student layer {layer} (terms on layers "
                f"{sorted({t.student_layer for t in self._all_terms})}). Use a layer_mapping that maps every "
                "student layer ('uniform'), or fewer stages (num_stages)."
            )
        return terms

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        progressive = self._progressive()
        if "loss" in logs and progressive is not None and progressive.num_stages is not None:
            logs["progressive_stage"] = progressive.stage_at(self.state.global_step - 1)
        super().log(logs, start_time)


def student_auto_class(with_mlm_head: bool) -> type:
    """`AutoModelForMaskedLM` when the objective reads masked-LM logits, else `AutoModel` (the bare encoder)."""
    return AutoModelForMaskedLM if with_mlm_head else AutoModel


def load_general_teacher(path: str, with_mlm_head: bool, dtype: str | None = None) -> PreTrainedModel:
    """The pre-trained teacher: with its masked-LM head (refused when it has none) or as a bare encoder."""
    if with_mlm_head:
        return load_mlm_teacher(path, dtype)
    kwargs = {} if dtype is None else {"dtype": dtype if dtype == "auto" else _DTYPES[dtype]}
    return AutoModel.from_pretrained(path, **kwargs)


def build_general_student(
    teacher: PreTrainedModel,
    init: str = "random",
    num_layers: int = 4,
    hidden_size: int | None = None,
    num_heads: int | None = None,
    intermediate_size: int | None = None,
    with_mlm_head: bool = False,
    attention_dropout: float | None = None,
) -> PreTrainedModel:
    """A student for general distillation, with a masked-LM head or bare, of the teacher's architecture.

    ``init="random"``: a fresh student of the given size (defaults: the teacher's width and heads, FFN 4 x width).
    Otherwise the teacher layers to copy (``"every_other"``, ``"first_k"`` or ``"0,2,4"``), keeping the teacher's
    width, as DistilBERT initialises its student. ``attention_dropout`` overrides the dropout on attention
    probabilities.
    """
    overrides = {} if attention_dropout is None else {"attention_probs_dropout_prob": attention_dropout}
    if with_mlm_head and not has_mlm_head(teacher):
        raise ValueError(_no_mlm_head_message(f"The teacher ({type(teacher).__name__})", "no output embeddings"))
    config = teacher.config
    if init == "random":
        hidden = hidden_size or config.hidden_size
        return narrow_student(
            config,
            num_layers,
            hidden,
            intermediate_size or 4 * hidden,
            num_heads or config.num_attention_heads,
            auto_class=student_auto_class(with_mlm_head),
            **overrides,
        )
    for name, value in (("hidden_size", hidden_size), ("num_heads", num_heads)):
        own = config.hidden_size if name == "hidden_size" else config.num_attention_heads
        if value is not None and value != own:
            raise ValueError(
                f"student_init={init!r} copies teacher layers, so the student keeps the teacher's {name} ({own}), "
                f"not {value}. Use student_init='random' for a different size."
            )
    layers: str | list[int] = init if init in ("every_other", "first_k") else [int(x) for x in init.split(",")]
    student = shallow_student(teacher, layers, num_layers, **overrides)
    if not with_mlm_head and has_mlm_head(student):
        student = student.base_model
    return student
