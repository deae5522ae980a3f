"""Stop a training run whose loss or weights stop being finite, before a NaN model is saved or reported.

`transformers.Trainer` trains on after a NaN or infinite loss (``logging_nan_inf_filter`` even hides it from the
logs: a run that is NaN from its first step logs a loss of 0.0) and saves the NaN model at the end. Two guards raise
`NonFiniteTrainingError` instead: [`DistillationTrainer`] checks the loss of every step (``training_step``), and
`FiniteModelCallback` checks the weights of any `Trainer`'s model before each log and save and at the end of training.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import TrainerCallback, TrainingArguments


class NonFiniteTrainingError(FloatingPointError):
    """The training loss or the model's weights became NaN or infinite."""


def _fixes(args: TrainingArguments) -> str:
    precision = ", float32 or bf16 instead of fp16," if args.fp16 else ""
    return (
        f"try a lower learning_rate (now {args.learning_rate:g}){precision} and check the data and any cached "
        "teacher logits for non-finite values."
    )


def check_finite_loss(loss: torch.Tensor, step: int, args: TrainingArguments) -> None:
    """Raise `NonFiniteTrainingError` when ``loss`` (of optimizer step ``step``) is NaN or infinite."""
    if not bool(torch.isfinite(loss).all()):
        raise NonFiniteTrainingError(
            f"Training stopped at step {step}: the loss is {loss.float().sum().item()}, so nothing of this step or "
            f"later was saved; {_fixes(args)}"
        )


def first_non_finite_parameter(model: nn.Module) -> str | None:
    """The name of the first parameter of ``model`` holding a NaN or an infinity, or None."""
    for name, parameter in model.named_parameters():
        if parameter.is_floating_point() and not bool(torch.isfinite(parameter).all()):
            return name
    return None


class FiniteModelCallback(TrainerCallback):
    """Raises `NonFiniteTrainingError` when the model's weights are not finite, checked before every log and save
    (the Trainer's ``should_log``/``should_save``) and at the end of training: a NaN model is never checkpointed
    nor returned to be saved or evaluated. Works with any `Trainer` (add it with ``callbacks=[...]``)."""

    def __init__(self) -> None:
        self.last_finite_step = 0

    def check(self, args: TrainingArguments, state, model: nn.Module | None) -> None:
        name = first_non_finite_parameter(model) if model is not None else None
        if name is not None:
            raise NonFiniteTrainingError(
                f"Training stopped at step {state.global_step}: the model's weights are not finite ({name}; they "
                f"were at step {self.last_finite_step}), so they were not saved; {_fixes(args)}"
            )
        self.last_finite_step = state.global_step

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if control.should_log or control.should_save:
            self.check(args, state, model)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if control.should_log or control.should_save:
            self.check(args, state, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.check(args, state, model)
