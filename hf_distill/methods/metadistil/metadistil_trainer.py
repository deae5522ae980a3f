"""MetaDistil: a teacher that learns to teach. Zhou et al., "BERT Learns to Teach: Knowledge Distillation with Meta
Learning", ACL 2022, https://arxiv.org/abs/2106.04570.

Each optimizer step, with a training batch ``x`` and a quiz batch ``q`` (a held-out split of the training data):

1. pilot update of a functional copy of the student: ``S' = S - lr_pilot * grad_S L_s(x; S, T)``;
2. teacher update: ``T <- T - lr_t * grad_T CE(y_q, S'(q))``, differentiated through step 1 (second order: the
   teacher reaches ``S'`` only through ``grad_S L_s``);
3. the real update of ``S`` on ``L_s(x; S, T)`` with the updated teacher (the ordinary `DistillationTrainer` step).

``L_s`` is the library's distillation objective: per example ``(1 - alpha) * task + alpha * kd`` (``kd`` alone when
unlabeled), averaged over the batch. (The paper writes it with ``alpha`` on the task term; the library convention
puts ``alpha`` on the distillation term. The paper's setting ``alpha = 0.5`` is the same either way.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.data import Dataset, IterableDataset, RandomSampler, random_split
from transformers import PreTrainedModel

from ...arguments import as_distillation_arguments
from ...data import TEACHER_PREFIX, split_teacher_inputs
from ...losses import hard_label_loss, logit_kd_loss
from ...papers import cites
from ...trainer import DistillationTrainer
from .metadistil_config import METADISTIL, MetaDistilTrainingArguments

TEACHER_DIR = "teacher"
TEACHER_OPTIMIZER_NAME = "teacher_optimizer.pt"


def split_quiz(dataset: Dataset, quiz_size: float, seed: int = 0) -> tuple[Dataset, Dataset]:
    """``(train, quiz)``: a seeded random split holding out ``quiz_size`` rows (a fraction in (0, 1) or a count)."""
    if dataset is None or isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        raise ValueError(
            "MetaDistil holds out its quiz set from train_dataset, which needs a dataset with a length; for an "
            "iterable dataset pass quiz_dataset=... to MetaDistilTrainer."
        )
    total = len(dataset)
    count = round(quiz_size * total) if quiz_size < 1 else int(quiz_size)
    if not 1 <= count < total:
        raise ValueError(
            f"quiz_size={quiz_size} gives {count} quiz rows out of {total} training rows; it must leave at least one "
            "row on each side. Lower quiz_size or pass quiz_dataset=...."
        )
    if hasattr(dataset, "train_test_split"):  # datasets.Dataset
        parts = dataset.train_test_split(test_size=count, seed=seed, shuffle=True)
        return parts["train"], parts["test"]
    train, quiz = random_split(dataset, [total - count, count], generator=torch.Generator().manual_seed(seed))
    return train, quiz


def distillation_objective(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None,
    *,
    alpha: float,
    temperature: float,
    kd_loss_type: str,
    problem_type: str = "single_label_classification",
    label_smoothing: float = 0.0,
    detach_teacher: bool = True,
) -> torch.Tensor:
    """The student's objective ``L_s`` on one batch, differentiable in the teacher when ``detach_teacher=False``.

    Shapes: logits ``[batch, C]``; ``labels`` ``[batch]`` (class ids, -100 = unlabeled; floats for regression) or
    ``[batch, C]`` (multi-label), or None. Per example ``(1 - alpha) * task + alpha * kd`` with ``kd`` from
    [`logit_kd_loss`] and ``task`` from [`hard_label_loss`]; ``kd`` alone for unlabeled examples; the mean over
    the batch. It equals `DistillationTrainer.compute_loss` on a batch that is a whole optimizer step.
    """
    if student_logits.dim() != 2:
        raise ValueError(
            f"MetaDistil supports sequence-level heads (logits [batch, num_labels]); got logits of shape "
            f"{tuple(student_logits.shape)}."
        )
    kd = logit_kd_loss(
        student_logits,
        teacher_logits,
        temperature=temperature,
        loss_type=kd_loss_type,
        reduction="none",
        detach_teacher=detach_teacher,
    )
    if labels is None:
        return kd.mean()
    task = hard_label_loss(
        student_logits, labels, problem_type=problem_type, label_smoothing=label_smoothing, reduction="none"
    )
    labeled = labels.ne(-100) if problem_type == "single_label_classification" else torch.ones_like(kd).bool()
    return torch.where(labeled, (1 - alpha) * task + alpha * kd, kd).mean()


def meta_gradient(
    student: nn.Module,
    teacher: nn.Module,
    student_inputs: dict[str, torch.Tensor],
    teacher_inputs: dict[str, torch.Tensor],
    quiz_inputs: dict[str, torch.Tensor],
    objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    quiz_loss: Callable[[torch.Tensor], torch.Tensor],
    pilot_learning_rate: float,
    quiz_in_eval_mode: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    """``(quiz loss of S', d quiz_loss / d teacher parameter)`` for one MetaDistil step (steps 1 and 2).

    ``objective(student_logits, teacher_logits)`` is ``L_s`` on the training batch; ``quiz_loss(quiz_logits)`` is
    ``CE(y_q, S'(q))``. The pilot student ``S' = S - pilot_learning_rate * grad_S L_s`` is a dict of tensors run with
    `torch.func.functional_call` (the real student is untouched); ``grad_S L_s`` keeps its graph
    (``create_graph=True``) so the quiz loss differentiates back into the teacher. The pilot forward runs in the
    student's current mode, the quiz forward in eval mode (no dropout) unless ``quiz_in_eval_mode=False``; the
    teacher runs in its own mode. Gradients are returned, not accumulated into ``.grad``.
    """
    teacher_params = {name: p.detach().requires_grad_(True) for name, p in teacher.named_parameters()}
    student_params = {name: p for name, p in student.named_parameters() if p.requires_grad}
    teacher_logits = functional_call(teacher, teacher_params, args=(), kwargs=teacher_inputs).logits
    loss = objective(student(**student_inputs).logits, teacher_logits)
    grads = torch.autograd.grad(loss, list(student_params.values()), create_graph=True, allow_unused=True)
    pilot = {
        name: p if grad is None else p - pilot_learning_rate * grad
        for (name, p), grad in zip(student_params.items(), grads)
    }
    was_training = student.training
    student.train(was_training and not quiz_in_eval_mode)
    try:
        value = quiz_loss(functional_call(student, pilot, args=(), kwargs=quiz_inputs).logits)
    finally:
        student.train(was_training)
    if not value.requires_grad:  # nothing links the quiz to the teacher (e.g. pilot_learning_rate == 0)
        return value.detach(), dict.fromkeys(teacher_params)
    teacher_grads = torch.autograd.grad(value, list(teacher_params.values()), allow_unused=True)
    return value.detach(), dict(zip(teacher_params, teacher_grads))


@cites(METADISTIL)
class MetaDistilTrainer(DistillationTrainer):
    """`DistillationTrainer` whose teacher learns from the student's quiz results (MetaDistil, Zhou et al., 2022).

    Each training step runs the pilot update and the teacher's meta-update ([`meta_gradient`]), then the ordinary
    distillation step with the updated teacher. Costs about 2-4x the time and memory of plain KD per step
    (``benchmarks/metadistil_cost.py``). The pilot and the real step see the same dropout masks (the pilot runs
    on a forked RNG state), so with ``teacher_learning_rate=0`` a step is exactly a plain KD step. The quiz forward
    of the pilot student runs in eval mode (no dropout). SDPA attention runs its math kernel during the meta step
    (the fused CPU/GPU kernels have no second derivative).

    Args:
        args: [`MetaDistilTrainingArguments`] (a plain `TrainingArguments` is upgraded with its defaults).
        quiz_dataset: labelled rows for the quiz; when None, ``args.quiz_size`` rows are held out of
            ``train_dataset`` (seeded with ``args.seed``) and the student never trains on them.
        Everything else: as [`DistillationTrainer`]. The teacher must be a live model (no precomputed
        ``teacher_logits`` column: they would go stale as the teacher learns).
    """

    _loss_names = ("task_loss", "kd_loss", "quiz_loss")

    def __init__(self, *trainer_args: Any, quiz_dataset: Dataset | None = None, **kwargs: Any) -> None:
        names = ("model", "args", "data_collator", "train_dataset")
        if len(trainer_args) > len(names):
            raise TypeError(f"MetaDistilTrainer takes at most {len(names)} positional arguments ({', '.join(names)}).")
        kwargs.update(zip(names, trainer_args))
        if kwargs.get("teacher_model") is None:
            raise ValueError(
                "MetaDistilTrainer needs a live teacher_model (it updates the teacher every step); a teacher-output "
                "cache of logits cannot stand in for it."
            )
        kwargs["args"] = args = as_distillation_arguments(kwargs.get("args"), MetaDistilTrainingArguments)
        if quiz_dataset is None and kwargs.get("train_dataset") is not None:
            kwargs["train_dataset"], quiz_dataset = split_quiz(kwargs["train_dataset"], args.quiz_size, args.seed)
        self.quiz_dataset = quiz_dataset
        super().__init__(**kwargs)
        self.teacher_optimizer = self._make_teacher_optimizer()
        self._quiz_generator = torch.Generator().manual_seed(args.seed)
        self._quiz_loader: torch.utils.data.DataLoader | None = None
        self._quiz_iterator: Iterator | None = None

    def _make_teacher_optimizer(self) -> torch.optim.Optimizer:
        params = list(self.teacher.parameters())
        lr, decay = self.args.teacher_learning_rate, self.args.teacher_weight_decay
        if self.args.teacher_optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, weight_decay=decay)
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)

    # ---- The step ----

    def training_step(
        self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        self.meta_step(model, inputs)
        return super().training_step(model, inputs, num_items_in_batch)

    def meta_step(self, model: nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
        """Steps 1-2 on the training batch ``inputs`` and the next quiz batch: update the teacher; the quiz loss."""
        student = self.accelerator.unwrap_model(model)
        inputs = self._prepare_inputs(inputs)
        student_inputs, teacher_inputs = split_teacher_inputs(inputs)
        labels = student_inputs.pop("labels", None)
        teacher_inputs = self._live_teacher_inputs(teacher_inputs, student_inputs)
        devices = [self.args.device] if self.args.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), sdpa_kernel(SDPBackend.MATH), self.compute_loss_context_manager():
            quiz = self._next_quiz_batch()
            quiz_inputs = {k: v for k, v in split_teacher_inputs(quiz)[0].items() if k != "labels"}
            quiz_labels = quiz.get("labels")
            if quiz_labels is None:
                raise ValueError(
                    "The quiz batch has no labels: MetaDistil's quiz loss is CE(y_q, S'(q)). Give the quiz set (or "
                    "the training data it is held out of) a label column, or pass a labelled quiz_dataset=...."
                )
            problem_type, quiz_problem_type = self._problem_type_or_none(labels), self._problem_type(quiz_labels)

            def objective(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
                return distillation_objective(
                    student_logits,
                    teacher_logits,
                    labels,
                    alpha=self.args.alpha,
                    temperature=self.args.temperature,
                    kd_loss_type=self.args.kd_loss_type,
                    problem_type=problem_type,
                    label_smoothing=self.args.label_smoothing_factor,
                    detach_teacher=False,
                )

            def quiz_loss(quiz_logits: torch.Tensor) -> torch.Tensor:
                return hard_label_loss(quiz_logits, quiz_labels, problem_type=quiz_problem_type, reduction="mean")

            pilot_lr = self.args.pilot_learning_rate
            if pilot_lr is None:
                pilot_lr = self._get_learning_rate() if self.lr_scheduler is not None else self.args.learning_rate
            student.train()
            value, grads = meta_gradient(
                student, self.teacher, student_inputs, teacher_inputs, quiz_inputs, objective, quiz_loss, pilot_lr
            )
        self._apply_teacher_gradients(grads)
        count = quiz_labels.shape[0]
        self._loss_meter.add("train", "quiz_loss", value * count, count)
        return value

    def _apply_teacher_gradients(self, grads: dict[str, torch.Tensor | None]) -> None:
        params = dict(self.teacher.named_parameters())
        for name, grad in grads.items():
            if grad is not None and self.accelerator.num_processes > 1:
                grad = self.accelerator.reduce(grad, reduction="mean")
            params[name].grad = None if grad is None else grad.to(params[name].dtype)
        max_norm = self.args.teacher_max_grad_norm
        if max_norm:
            torch.nn.utils.clip_grad_norm_([p for p in params.values() if p.grad is not None], max_norm)
        self.teacher_optimizer.step()
        self.teacher_optimizer.zero_grad(set_to_none=True)

    def _live_teacher_inputs(self, teacher_inputs: dict[str, Any], student_inputs: dict[str, Any]) -> dict[str, Any]:
        if "logits" in teacher_inputs:
            raise ValueError(
                f"The batch has a precomputed {TEACHER_PREFIX}logits column, but MetaDistil updates the teacher at "
                "every step, so cached logits would be stale. Drop the column and give a live teacher_model."
            )
        if not teacher_inputs:
            if self._tokenizer_mismatch:
                raise ValueError(
                    f"Teacher and student use different tokenizers ({self._tokenizer_mismatch}) but the batch has no "
                    f"{TEACHER_PREFIX}input_ids; use DistillationDataCollator(..., teacher_tokenizer=...)."
                )
            teacher_inputs = student_inputs
        return {k: v for k, v in teacher_inputs.items() if k in self._teacher_argument_names}

    def _problem_type_or_none(self, labels: torch.Tensor | None) -> str:
        return self._problem_type(labels) if labels is not None else "single_label_classification"

    def _next_quiz_batch(self) -> dict[str, Any]:
        if self.quiz_dataset is None:
            raise ValueError("MetaDistilTrainer has no quiz set: pass train_dataset (quiz_size) or quiz_dataset.")
        if self._quiz_loader is None:
            self._quiz_loader = self._get_dataloader(
                dataset=self.quiz_dataset,
                description="Quiz",
                batch_size=self.args.quiz_batch_size or self._train_batch_size,
                sampler_fn=lambda dataset: RandomSampler(dataset, generator=self._quiz_generator),
                is_training=True,
            )
        batch = next(self._quiz_iterator, None) if self._quiz_iterator is not None else None
        if batch is None:  # a new (reshuffled) pass over the quiz set
            self._quiz_iterator = iter(self._quiz_loader)
            batch = next(self._quiz_iterator)
        return self._prepare_inputs(batch)

    # ---- Saving and resuming the teacher ----

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save the student as usual and, with ``save_teacher``, the updated teacher under ``output_dir/teacher``."""
        super().save_model(output_dir, _internal_call)
        if self.args.save_teacher and self.args.should_save:
            self.teacher.save_pretrained(os.path.join(output_dir or self.args.output_dir, TEACHER_DIR))

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        super()._save_optimizer_and_scheduler(output_dir)
        if self.args.save_teacher and self.args.should_save:
            torch.save(self.teacher_optimizer.state_dict(), os.path.join(output_dir, TEACHER_OPTIMIZER_NAME))

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        teacher_dir = os.path.join(checkpoint, TEACHER_DIR)
        if os.path.isdir(teacher_dir) and isinstance(self.teacher, PreTrainedModel):
            saved = type(self.teacher).from_pretrained(teacher_dir, dtype=self.teacher.dtype)
            self.teacher.load_state_dict(saved.state_dict())
        optimizer_file = os.path.join(checkpoint, TEACHER_OPTIMIZER_NAME)
        if os.path.isfile(optimizer_file):
            state = torch.load(optimizer_file, map_location=self.args.device, weights_only=True)
            self.teacher_optimizer.load_state_dict(state)
