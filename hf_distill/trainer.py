"""`DistillationTrainer`: `transformers.Trainer` that distils a teacher into the model it trains."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import safetensors.torch
import torch
from torch import nn
from transformers import PreTrainedModel, Trainer, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, EvalLoopOutput

from ._meter import LossMeter
from .arguments import DistillationTrainingArguments, as_distillation_arguments
from .data import TEACHER_PREFIX, split_teacher_inputs
from .eval_teacher import TeacherEvalLogits
from .finite import check_finite_loss
from .hub.push import HubMixin
from .intermediate import (
    PROJECTIONS_FILE,
    IntermediateDistiller,
    attach_projections,
    projections_detached,
    projections_of,
)
from .losses import hard_label_loss, logit_kd_loss
from .papers import Paper, cites
from .schedules import schedule_factor, two_stage_schedule
from .teacher import (
    check_teacher_student,
    check_tokenizer_fits,
    forward_argument_names,
    load_teacher,
    tokenizer_mismatch,
)

HINTON = Paper(
    "Hinton et al.",
    2015,
    "Distilling the Knowledge in a Neural Network",
    "arXiv",
    "https://arxiv.org/abs/1503.02531",
    "logit distillation",
    "the student matches the teacher's softened outputs",
)


@cites(HINTON, "logit")
class DistillationTrainer(HubMixin, Trainer):
    """A drop-in `Trainer` that trains ``model`` (the student) to match ``teacher_model`` (Hinton et al.,
    "Distilling the Knowledge in a Neural Network", 2015, https://arxiv.org/abs/1503.02531).

    Per example, with ``z_s``/``z_t`` the student/teacher logits and ``T`` the temperature:

        loss = (1 - alpha) * task_loss(z_s, y) + alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T))

    or the distillation term alone for an example without a label (no ``labels`` in the batch, or label -100).
    With ``args.intermediate_terms`` (or ``args.distill_preset``), the weighted intermediate-layer terms are added
    for every example (each preset's paper: `hf_distill.terms`), or replace the objective above during an
    intermediate phase (``args.distill_phases``); see [`IntermediateDistiller`]. Their projections (width mismatch)
    train with the student, are saved in checkpoints (``distill_projections.safetensors``) and never in the exported
    student.
    Every term is summed over the examples of the whole optimizer step and divided by their number (gathered
    across processes), so gradient accumulation and several processes give the same update as one large batch.

    The teacher runs in eval mode without gradients on the student's device; it is never wrapped for DDP, never
    saved, and its inputs are the batch's ``teacher_*`` keys when present (its own tokenizer, see
    [`DistillationDataCollator`]) or else the student's. The logs get ``task_loss`` and ``kd_loss`` next to the
    Trainer's ``loss`` (the total); evaluation adds ``eval_task_loss`` and ``eval_kd_loss``. The teacher's logits
    over the evaluation batches are computed once and reused by later evaluations (``args.eval_teacher_cache_mb``).

    Args:
        teacher_model: a fine-tuned `PreTrainedModel`, or a path / Hub id loaded with the student's head type
            (``args.teacher_model_init_kwargs`` and ``args.teacher_dtype`` apply). Unset: the path or Hub id
            ``args.teacher_model_name_or_path`` (given, ``teacher_model`` wins over it). When ``train_dataset`` has
            a precomputed ``teacher_logits`` column (see `hf_distill.cache`) no teacher is needed, and none is
            loaded or run (the path included) unless intermediate terms are set; every dataset it sees (eval
            included) must then carry that column.
        args: [`DistillationTrainingArguments`]; a plain `TrainingArguments` gets the distillation defaults.
        Everything else: as `transformers.Trainer`.
    """

    # compute_loss normalises by the example count of the whole optimizer step (see get_batch_samples).
    loss_is_scaled_for_ga = True
    _loss_names = ("task_loss", "kd_loss")

    def __init__(
        self,
        model: PreTrainedModel | nn.Module | None = None,
        args: TrainingArguments | None = None,
        data_collator: Callable | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        model_init: Callable[..., PreTrainedModel] | None = None,
        compute_loss_func: Callable | None = None,
        compute_metrics: Callable | None = None,
        callbacks: list | None = None,
        optimizers: tuple = (None, None),
        optimizer_cls_and_kwargs: tuple | None = None,
        preprocess_logits_for_metrics: Callable | None = None,
        *,
        teacher_model: PreTrainedModel | nn.Module | str | None = None,
    ) -> None:
        args = as_distillation_arguments(args, DistillationTrainingArguments)
        cached = _has_cached_teacher_logits(train_dataset)
        if teacher_model is None and (not cached or args.intermediate_term_list()):  # an explicit teacher_model wins
            teacher_model = args.teacher_model_name_or_path
        if teacher_model is None and not cached:
            load_teacher(None, model)  # raises the "needs a teacher" error before any setup work
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            model_init=model_init,
            compute_loss_func=compute_loss_func,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
            optimizers=optimizers,
            optimizer_cls_and_kwargs=optimizer_cls_and_kwargs,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
        )
        self.teacher: nn.Module | None = None
        self._teacher_argument_names: set[str] = set()
        self._tokenizer_mismatch: str | None = None
        self._eval_teacher_logits = TeacherEvalLogits(args.eval_teacher_cache_mb)
        if teacher_model is not None:  # None: trains from a teacher-output cache, no teacher is loaded or run
            self.teacher = load_teacher(teacher_model, self.model, args.teacher_dtype, args.teacher_model_init_kwargs)
            check_teacher_student(self.teacher, self.model, args.kd_loss_type)
            if not getattr(self.teacher, "hf_device_map", None):
                self.teacher.to(self.args.device)
            self._teacher_argument_names = forward_argument_names(self.teacher)
            self._tokenizer_mismatch = tokenizer_mismatch(self.teacher, self.model)
            teacher_tokenizer = getattr(data_collator, "teacher_tokenizer", None)
            shared = processing_class if self._tokenizer_mismatch is None else None
            check_tokenizer_fits(teacher_tokenizer or shared, self.teacher, "teacher")
        check_tokenizer_fits(processing_class, self.model, "student")
        self.intermediate = self._build_intermediate(args)
        extra_names = self.intermediate.loss_names if self.intermediate is not None else []
        self._loss_meter = LossMeter([*self._loss_names, *extra_names])

    def _build_intermediate(self, args: DistillationTrainingArguments) -> IntermediateDistiller | None:
        """The intermediate terms checked against both models (None without terms); projections go on the student."""
        terms = args.intermediate_term_list()
        if not terms:
            return None
        if self.teacher is None:
            raise ValueError(
                "Intermediate terms (intermediate_terms / distill_preset) need the teacher's hidden states at "
                "every step, but no teacher_model was given (a teacher_logits column holds logits only): pass "
                "teacher_model=..., or drop the intermediate terms."
            )
        intermediate = IntermediateDistiller(terms, args.layer_mapping, self.model, self.teacher)
        if intermediate.gradient_term is not None:
            self._check_same_tokens()
        if intermediate.projections is not None:
            dtype = next(self.model.parameters()).dtype
            attach_projections(self.model, intermediate.projections.to(self.args.device, dtype=dtype))
        return intermediate

    # ---- The loss ----

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        student_inputs, teacher_inputs = split_teacher_inputs(inputs)
        labels = student_inputs.pop("labels", None)
        phase = self.distill_phase()
        term_values: dict[str, torch.Tensor] = {}
        if self.intermediate is not None and phase != "prediction":
            outputs, teacher_logits, term_values = self._forward_with_terms(model, student_inputs, teacher_inputs)
        else:
            outputs = model(**student_inputs)
            teacher_logits = self._teacher_logits(teacher_inputs, student_inputs, reuse=not model.training)

        batch_size = _num_examples(student_inputs)
        training = model.training
        normaliser = num_items_in_batch if (training and num_items_in_batch is not None) else batch_size
        mode = "train" if training else "eval"
        if phase == "intermediate":
            loss = torch.zeros((), device=self.args.device)  # no logits needed: bare encoders work too
        else:
            loss = self._logit_objective(
                outputs, labels, teacher_logits, student_inputs, normaliser, mode, num_items_in_batch
            )
        for name, per_example in term_values.items():
            loss = loss + per_example.sum() / normaliser
            self._loss_meter.add(mode, name, per_example.sum(), batch_size)

        if training and num_items_in_batch is not None and self._averages_across_processes():
            # DDP averages gradients over processes; the normaliser already counts every process's examples.
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss

    def _logit_objective(
        self,
        outputs: Any,
        labels: torch.Tensor | None,
        teacher_logits: torch.Tensor,
        student_inputs: dict[str, Any],
        normaliser: torch.Tensor | int,
        mode: str,
        num_items_in_batch: torch.Tensor | int | None,
    ) -> torch.Tensor:
        """``sum over examples of [(1 - alpha) * task + alpha * kd] / normaliser`` (kd alone when unlabeled)."""
        mask = student_inputs.get("attention_mask") if outputs.logits.dim() == 3 else None
        kd_per_example = _mean_per_example(
            logit_kd_loss(
                outputs.logits,
                teacher_logits,
                temperature=self.args.temperature,
                loss_type=self.args.kd_loss_type,
                mask=mask,
                reduction="none",
            ),
            mask,
        )
        batch_size = kd_per_example.shape[0]
        alpha = self.args.alpha

        if labels is None:
            loss = kd_per_example.sum() / normaliser
        elif self.compute_loss_func is not None:
            task_loss = self.compute_loss_func(outputs, labels, num_items_in_batch=num_items_in_batch)
            loss = (1 - alpha) * task_loss + alpha * kd_per_example.sum() / normaliser
            self._loss_meter.add(mode, "task_loss", task_loss.detach() * batch_size, batch_size)
        else:
            task_per_item = hard_label_loss(
                outputs.logits,
                labels,
                problem_type=self._problem_type(labels),
                label_smoothing=self.args.label_smoothing_factor,
                reduction="none",
            )
            # Per item (an example, or a token for token-level heads): is there a gold label?
            if labels.dtype == torch.long:
                item_labeled = labels.ne(-100)
            else:
                item_labeled = torch.ones_like(task_per_item, dtype=torch.bool)
            item_labeled = item_labeled.reshape(batch_size, -1)
            task_per_example = task_per_item.reshape(batch_size, -1).sum(-1) / item_labeled.sum(-1).clamp(min=1)
            labeled = item_labeled.any(-1)
            per_example = torch.where(labeled, (1 - alpha) * task_per_example + alpha * kd_per_example, kd_per_example)
            loss = per_example.sum() / normaliser
            self._loss_meter.add(mode, "task_loss", task_per_example.sum(), labeled.sum())
        self._loss_meter.add(mode, "kd_loss", kd_per_example.sum(), batch_size)
        return loss

    def distill_phase(self) -> str:
        """``"joint"``, ``"intermediate"`` or ``"prediction"`` at the current step (from ``args.distill_phases``)."""
        phases = self.args.distill_phases
        if phases != "intermediate_then_prediction":
            return phases
        boundary = phase_boundary(self.args.intermediate_phase_ratio, self.state.max_steps)
        return "intermediate" if self.state.global_step < boundary else "prediction"

    def create_scheduler(
        self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> torch.optim.lr_scheduler.LRScheduler:
        """With ``intermediate_then_prediction``, each phase gets the configured schedule (warmup, decay) over its
        own steps, as TinyBERT's two separate trainings do: otherwise the prediction phase, which alone trains the
        classifier, would start at an already decayed learning rate."""
        if self.lr_scheduler is not None or self.args.distill_phases != "intermediate_then_prediction":
            return super().create_scheduler(num_training_steps, optimizer)
        boundary = phase_boundary(self.args.intermediate_phase_ratio, num_training_steps)
        intermediate, prediction = (
            schedule_factor(self.args, steps) for steps in (boundary, num_training_steps - boundary)
        )
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer if optimizer is None else optimizer, two_stage_schedule(intermediate, prediction, boundary)
        )
        self._created_lr_scheduler = True
        return self.lr_scheduler

    def _forward_with_terms(
        self, model: nn.Module, student_inputs: dict[str, Any], teacher_inputs: dict[str, Any]
    ) -> tuple[Any, torch.Tensor, dict[str, torch.Tensor]]:
        """Both forwards with the representations the terms read; returns (student outputs, teacher logits, terms)."""
        intermediate = self.intermediate
        unwrapped = self.accelerator.unwrap_model(model)
        with intermediate.capture(unwrapped, "student") as student_capture:
            outputs = model(**student_inputs, **intermediate.forward_kwargs())
        forward_inputs = self._teacher_forward_inputs(teacher_inputs, student_inputs)
        student_mask = student_inputs.get("attention_mask")
        intermediate.check_aligned(student_mask, forward_inputs.get("attention_mask"))
        with torch.no_grad(), intermediate.capture(self.teacher, "teacher") as teacher_capture:
            teacher_outputs = self._run_teacher(forward_inputs, **intermediate.forward_kwargs())
        cached = teacher_inputs.get("logits")
        teacher_logits = cached if cached is not None else getattr(teacher_outputs, "logits", None)
        teacher_logits = teacher_logits.float() if teacher_logits is not None else None  # None: a bare encoder
        values = intermediate.per_example_losses(
            (outputs, student_capture), (teacher_outputs, teacher_capture), student_mask, projections_of(unwrapped)
        )
        if intermediate.gradient_term is not None:
            values.update(self._input_gradient_values(model, student_inputs, forward_inputs, teacher_logits))
        # Hidden states and attention maps must not reach prediction_step as extra "logits".
        outputs = type(outputs)(**{k: v for k, v in outputs.items() if k not in ("hidden_states", "attentions")})
        return outputs, teacher_logits, values

    def _input_gradient_values(
        self,
        model: nn.Module,
        student_inputs: dict[str, Any],
        teacher_inputs: dict[str, Any],
        teacher_logits: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """The input_gradient term: second forward passes of both models at perturbed word embeddings (the clean
        ones above give the task and KD terms and the teacher's class), in their current modes (student training,
        teacher eval), the student's differentiated with ``create_graph`` whenever gradients are on."""
        input_ids = student_inputs.get("input_ids")
        teacher_ids = teacher_inputs.get("input_ids")
        if input_ids is None or teacher_logits is None:
            raise ValueError(
                "The input_gradient term needs batches with input_ids and a teacher with a classification head "
                "(its predicted class is the output differentiated)."
            )
        if teacher_ids is not None and not (teacher_ids.shape == input_ids.shape and teacher_ids.equal(input_ids)):
            raise ValueError(_different_tokens("the batch gives the teacher other input_ids than the student"))
        mask = student_inputs.get("attention_mask")
        return self.intermediate.input_gradient_losses(
            (self.accelerator.unwrap_model(model), lambda: model(**student_inputs)),
            (self.teacher, lambda: self._run_teacher(teacher_inputs)),
            input_ids,
            torch.ones_like(input_ids) if mask is None else mask,
            teacher_logits.argmax(-1),
            temperature=self.args.temperature,
            seed=self.args.seed,
            step=self.state.global_step,
            create_graph=torch.is_grad_enabled(),
        )

    def _check_same_tokens(self) -> None:
        """The input_gradient term compares the two models position by position: refuse different tokenizers."""
        why = self._tokenizer_mismatch
        if why is None and getattr(self.data_collator, "teacher_tokenizer", None) is not None:
            why = "the data collator tokenizes the teacher's inputs with its own teacher_tokenizer"
        if why is None and f"{TEACHER_PREFIX}input_ids" in (getattr(self.train_dataset, "column_names", None) or []):
            why = f"the training data has its own {TEACHER_PREFIX}input_ids for the teacher"
        if why is not None:
            raise ValueError(_different_tokens(why))

    @torch.no_grad()
    def _teacher_logits(
        self, teacher_inputs: dict[str, Any], student_inputs: dict[str, Any], reuse: bool = False
    ) -> torch.Tensor:
        """The batch's teacher logits: a ``teacher_logits`` column, or the teacher's forward; with ``reuse`` (an
        evaluation), the logits stored for the same inputs and the same teacher by an earlier evaluation."""
        if "logits" in teacher_inputs:  # precomputed (a teacher-output cache column named teacher_logits)
            return teacher_inputs["logits"].float()
        forward_inputs = self._teacher_forward_inputs(teacher_inputs, student_inputs)
        if not reuse:
            return self._run_teacher(forward_inputs).logits.float()
        compute = lambda: self._run_teacher(forward_inputs).logits.float()  # noqa: E731
        return self._eval_teacher_logits.get(self.teacher, forward_inputs, compute)

    def _teacher_forward_inputs(self, teacher_inputs: dict[str, Any], student_inputs: dict[str, Any]) -> dict:
        """The teacher's own ``teacher_*`` inputs, or the student's when the batch has none."""
        if self.teacher is None:
            raise ValueError(
                "This DistillationTrainer has no teacher (it trains from cached teacher logits), but this batch has "
                f"no {TEACHER_PREFIX}logits: add the column to every dataset it sees (hf_distill.cache."
                "add_teacher_logits), eval datasets included, or pass teacher_model=..."
            )
        teacher_inputs = {k: v for k, v in teacher_inputs.items() if k != "logits"}
        if not teacher_inputs:
            if self._tokenizer_mismatch:
                raise ValueError(
                    f"Teacher and student use different tokenizers ({self._tokenizer_mismatch}) but the batch has no "
                    f"{TEACHER_PREFIX}input_ids. Use DistillationDataCollator(tokenizer=student_tokenizer, "
                    "teacher_tokenizer=teacher_tokenizer, text_fields=[...]) or add teacher_-prefixed columns."
                )
            teacher_inputs = student_inputs
        return {k: v for k, v in teacher_inputs.items() if k in self._teacher_argument_names}

    def _run_teacher(self, forward_inputs: dict[str, Any], **kwargs: Any) -> Any:
        if self.teacher.training:  # a callback or user code switched it; the teacher must never run dropout
            self.teacher.eval()
        with self.accelerator.autocast():
            return self.teacher(**forward_inputs, **kwargs)

    def _problem_type(self, labels: torch.Tensor) -> str:
        config = getattr(self.accelerator.unwrap_model(self.model), "config", None)
        problem_type = getattr(config, "problem_type", None)
        if problem_type:
            return problem_type
        if getattr(config, "num_labels", None) == 1:
            return "regression"
        return "single_label_classification" if labels.dtype == torch.long else "multi_label_classification"

    def _averages_across_processes(self) -> bool:
        return bool(self.args.average_tokens_across_devices) and self.accelerator.num_processes > 1

    # ---- Projections: in checkpoints, not in the exported student ----

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save the student alone (never the teacher nor the intermediate-term projections)."""
        with projections_detached(self.accelerator.unwrap_model(self.model)):
            super().save_model(output_dir, _internal_call)

    def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        projections = projections_of(self.accelerator.unwrap_model(self.model))
        if projections is not None and self.args.should_save:
            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            state = {name: value.detach().cpu().contiguous() for name, value in projections.state_dict().items()}
            safetensors.torch.save_file(state, os.path.join(folder, PROJECTIONS_FILE))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        target = self.accelerator.unwrap_model(model if model is not None else self.model)
        with projections_detached(target) as projections:
            super()._load_from_checkpoint(resume_from_checkpoint, model)
        if projections is not None:
            path = os.path.join(resume_from_checkpoint, PROJECTIONS_FILE)
            if not os.path.isfile(path):
                raise ValueError(
                    f"{resume_from_checkpoint} has no {PROJECTIONS_FILE}: it was not saved by a DistillationTrainer "
                    "with the same intermediate terms, so the projections cannot resume. Start a new run instead."
                )
            projections.load_state_dict(safetensors.torch.load_file(path, device="cpu"))

    def _load_best_model(self) -> None:
        with projections_detached(self.accelerator.unwrap_model(self.model)):
            super()._load_best_model()

    # ---- Stopping on a non-finite loss ----

    def training_step(
        self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """The Trainer's step, stopped with `NonFiniteTrainingError` (hf_distill.finite) as soon as its loss is NaN or
        infinite: the Trainer would hide it from the logs (``logging_nan_inf_filter``), train on and save a NaN
        student."""
        loss = super().training_step(model, inputs, num_items_in_batch)
        check_finite_loss(loss, self.state.global_step + 1, self.args)
        return loss

    # ---- Counting the examples of an optimizer step ----

    def get_batch_samples(
        self, epoch_iterator: Iterator, num_batches: int, device: torch.device
    ) -> tuple[list, torch.Tensor]:
        """The next ``num_batches`` batches and their total example count (over all processes when averaging)."""
        batch_samples = list(itertools.islice(epoch_iterator, num_batches))
        count = torch.tensor(sum(_num_examples(batch) for batch in batch_samples), device=device)
        if self._averages_across_processes():
            count = self.accelerator.gather(count).sum()
        return batch_samples, count

    # ---- Columns the collator and the teacher need ----

    def _set_signature_columns_if_needed(self) -> None:
        if self._signature_columns is None:
            super()._set_signature_columns_if_needed()
            extra = list(getattr(self.data_collator, "required_columns", []))
            eval_datasets = self.eval_dataset.values() if isinstance(self.eval_dataset, dict) else [self.eval_dataset]
            for dataset in [self.train_dataset, *eval_datasets]:
                extra += [c for c in getattr(dataset, "column_names", None) or [] if c.startswith(TEACHER_PREFIX)]
            self._signature_columns += [c for c in dict.fromkeys(extra) if c not in self._signature_columns]

    # ---- Logging the loss components ----

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log: add the components averaged over the same window
            logs.update(self._loss_meter.pop("train", self.accelerator))
        super().log(logs, start_time)

    def evaluation_loop(
        self,
        dataloader: Any,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> EvalLoopOutput:
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        output.metrics.update(self._loss_meter.pop("eval", self.accelerator, prefix=f"{metric_key_prefix}_"))
        return output

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        if not all(inputs.get(name) is not None for name in self.label_names):
            # Without labels the Trainer calls the model directly: the teacher's inputs must not reach it.
            inputs = split_teacher_inputs(inputs)[0]
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)


def phase_boundary(intermediate_phase_ratio: float, max_steps: int) -> int:
    """The first optimizer step of the prediction phase: steps ``< ratio * max_steps`` are intermediate."""
    return math.ceil(intermediate_phase_ratio * max_steps)


def _different_tokens(why: str) -> str:
    return (
        f"The input_gradient term compares the teacher's and the student's gradients token by token, so both must "
        f"read the same tokens (one tokenizer), but {why}. Use a student with the teacher's tokenizer and no "
        "teacher_tokenizer, or drop the input_gradient term (distill_preset='ebbt')."
    )


def _has_cached_teacher_logits(dataset: Any) -> bool:
    """Whether ``dataset`` (a `datasets.Dataset` or a list of dicts) has a precomputed ``teacher_logits`` column."""
    columns = getattr(dataset, "column_names", None)
    if columns is None and isinstance(dataset, list) and dataset and isinstance(dataset[0], dict):
        columns = list(dataset[0])
    return f"{TEACHER_PREFIX}logits" in (columns or [])


def _num_examples(batch: dict[str, Any]) -> int:
    for key in ("input_ids", "labels", "inputs_embeds"):
        if torch.is_tensor(batch.get(key)):
            return batch[key].shape[0]
    return next(value.shape[0] for value in batch.values() if torch.is_tensor(value) and value.dim() > 0)


def _mean_per_example(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``[batch]`` from per-item values ``[batch, ...]``: the mean over each example's kept items."""
    if values.dim() == 1:
        return values
    values = values.reshape(values.shape[0], -1)
    count = mask.reshape(values.shape[0], -1).sum(-1) if mask is not None else values.new_tensor(values.shape[1])
    return values.sum(-1) / count.clamp(min=1)
