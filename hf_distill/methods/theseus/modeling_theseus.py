"""BERT-of-Theseus: progressive module replacement, as a model wrapper and a callback. Xu et al., "BERT-of-Theseus:
Compressing BERT by Progressive Module Replacing", EMNLP 2020, https://arxiv.org/abs/2002.02925.

The fine-tuned predecessor's ``L`` encoder layers are split into ``n`` consecutive groups ``prd_i``; each group gets
a successor ``scc_i`` (one layer, a copy of a predecessor layer). In every training forward each module draws
``r_i ~ Bernoulli(p)`` independently and computes

    y_{i+1} = scc_i(y_i)  if r_i = 1  else  prd_i(y_i)

Only the successors train: predecessor layers, embeddings, pooler and classifier are frozen (``requires_grad`` off,
so the `Trainer` gives them no optimizer state). The loss is the model's own task loss: no teacher logits are
involved, so the method runs on the plain `transformers.Trainer` with a [`ReplacementScheduler`] callback (the
predecessor *is* the wrapped model; [`DistillationTrainer`] would run a separate teacher for nothing).

The scheduler sets ``p`` per optimizer step ``t``: constant ``p`` (then ``1`` after ``replacing_steps``: the
successor fine-tuning phase), or the curriculum ``p_t = min(1, k * t + b)``. Once ``p = 1`` only the successors run,
which is the successor fine-tuning phase. Evaluation (``model.eval()``) always runs the successors alone, and
[`export_successor`] returns a plain ``*ForSequenceClassification`` with the ``n`` successor layers.

Draws are a function of ``(seed, global step, forward index within the step)`` only, so every process of a
distributed run, and a run resumed from a checkpoint, makes the same draws without any communication.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel, TrainerCallback
from transformers.trainer_callback import ExportableState

from ...layers import encoder_layers, encoder_layers_prefix
from ...papers import Paper, cites

THESEUS = Paper(
    "Xu et al.",
    2020,
    "BERT-of-Theseus: Compressing BERT by Progressive Module Replacing",
    "EMNLP",
    "https://arxiv.org/abs/2002.02925",
    "BERT-of-Theseus module replacement",
    "the student's modules progressively replace the teacher's; only the student's are kept",
)
SUCCESSOR_INITS = ("first", "group_first", "group_last")
SCHEDULES = ("constant", "linear")


# ---- Encoder layer access ----


def _layer_list_location(model: nn.Module) -> tuple[str, nn.Module, str]:
    """``(qualified name, owning module, attribute)`` of the encoder's layer list inside ``model``."""
    name = encoder_layers_prefix(model)
    owner_name, _, attribute = name.rpartition(".")
    return name, model.get_submodule(owner_name), attribute


# ---- The wrapper ----


class TheseusModule(nn.Module):
    """Module ``i``: the frozen predecessor group ``prd_i`` (a list of layers) and the successor layer ``scc_i``.

    ``forward(hidden_states [batch, seq, hidden], *args, **kwargs)`` runs ``scc_i`` when ``use_successor`` is set or
    the module is in eval mode, else each layer of ``prd_i`` in turn (a layer's output, a tensor or a tuple whose
    first item is the hidden states, feeds the next). It returns what the layers return, so the encoder's own loop
    is unchanged.

    When a training forward draws no successor at all, nothing trainable runs and the loss would have no graph;
    the last module then marks its output as requiring grad (``anchor_output``), so that ``backward()`` works and
    leaves every parameter's ``grad`` at None: the optimizer skips the step's parameters, as for any unused one.
    """

    def __init__(self, predecessor: Sequence[nn.Module], successor: nn.Module) -> None:
        super().__init__()
        self.predecessor = nn.ModuleList(predecessor)
        self.successor = successor
        self.use_successor = True
        self.anchor_output = False

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if self.use_successor or not self.training:
            return self.successor(hidden_states, *args, **kwargs)
        output = hidden_states
        for layer in self.predecessor:
            output = layer(hidden_states, *args, **kwargs)
            hidden_states = output[0] if isinstance(output, tuple) else output
        if self.anchor_output and torch.is_grad_enabled() and not hidden_states.requires_grad:
            hidden_states.requires_grad_(True)
        return output


class TheseusLayers(nn.ModuleList):
    """Takes the place of the encoder's layer list: the ``n`` [`TheseusModule`] and the replacement draws.

    Before each training forward of the encoder, [`draw`] sets every module's ``r_i`` from a generator seeded with
    ``(seed, step, forward index within the step)``. ``replacement_rate`` (``p``), ``seed`` and ``step`` are set by
    [`ReplacementScheduler`] during training; ``draws`` holds the latest ``r``.
    """

    def __init__(self, modules: Sequence[TheseusModule], replacement_rate: float = 0.5, seed: int = 0) -> None:
        super().__init__(modules)
        self.replacement_rate = _check_rate(replacement_rate, "replacement_rate")
        self.seed = seed
        self.step = 0
        self.forwards_in_step = 0
        self.draws: list[bool] = []

    def set_step(self, step: int) -> None:
        if step != self.step:
            self.step, self.forwards_in_step = step, 0

    def draw(self) -> list[bool]:
        """Draw ``r_i ~ Bernoulli(replacement_rate)`` for every module (True = successor) and apply them."""
        key = f"{self.seed}:{self.step}:{self.forwards_in_step}".encode()
        seed = int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1
        uniform = torch.rand(len(self), generator=torch.Generator().manual_seed(seed))
        self.draws = (uniform < self.replacement_rate).tolist()
        for module, replace in zip(self, self.draws):
            module.use_successor, module.anchor_output = replace, False
        self[-1].anchor_output = not any(self.draws)
        self.forwards_in_step += 1
        return self.draws


def _draw_before_forward(attribute: str, owner: nn.Module, args: tuple) -> None:
    layers = getattr(owner, attribute)
    if isinstance(layers, TheseusLayers) and layers.training:
        layers.draw()


def theseus_model(
    predecessor: PreTrainedModel,
    num_successor_layers: int | None = None,
    *,
    predecessor_groups: Sequence[Sequence[int]] | None = None,
    successor_init: str | Sequence[int] = "first",
    replacement_rate: float = 0.5,
    seed: int = 0,
    copy_predecessor: bool = True,
) -> PreTrainedModel:
    """Wrap a fine-tuned ``predecessor`` for BERT-of-Theseus training (Xu et al., 2020).

    Args:
        predecessor: a fine-tuned encoder model (e.g. ``BertForSequenceClassification``, ``MPNetFor...``).
        num_successor_layers: ``n``; the ``L`` predecessor layers form ``n`` consecutive groups of ``L / n``.
        predecessor_groups: instead of an even split, the layer indices of each group, consecutive and covering
            every layer in order, e.g. ``[[0, 1], [2, 3, 4], [5]]``.
        successor_init: predecessor layer each ``scc_i`` is copied from: ``"first"`` (layers ``0..n-1``, as the
            authors' code), ``"group_first"`` / ``"group_last"`` (first/last layer of group ``i``) or a list of ``n``
            indices.
        replacement_rate: ``p`` until a [`ReplacementScheduler`] sets it.
        seed: draw seed until a [`ReplacementScheduler`] sets it (to ``TrainingArguments.seed``).
        copy_predecessor: wrap a deep copy (True) or modify ``predecessor`` in place.

    Returns:
        The predecessor's model class with its layer list replaced by [`TheseusLayers`]; only successor parameters
        require gradients. In eval mode it computes the successor model's outputs.
    """
    layers = encoder_layers(predecessor)
    if isinstance(layers, TheseusLayers):
        raise ValueError("The predecessor is already a BERT-of-Theseus model; pass the fine-tuned model itself.")
    groups = _groups(len(layers), num_successor_layers, predecessor_groups)
    init = _init_indices(successor_init, groups, len(layers))
    _check_rate(replacement_rate, "replacement_rate")

    model = copy.deepcopy(predecessor) if copy_predecessor else predecessor
    _, owner, attribute = _layer_list_location(model)
    layers = getattr(owner, attribute)
    model.requires_grad_(False)
    modules = []
    for group, source in zip(groups, init):
        successor = copy.deepcopy(layers[source]).requires_grad_(True)
        modules.append(TheseusModule([layers[index] for index in group], successor))
    setattr(owner, attribute, TheseusLayers(modules, replacement_rate, seed))
    owner.register_forward_pre_hook(functools.partial(_draw_before_forward, attribute))
    # The task loss is a batch mean that ignores `num_items_in_batch`: tell the Trainer so that it divides by the
    # gradient-accumulation steps and does not multiply by the process count (transformers 5 does both otherwise).
    model.accepts_loss_kwargs = False
    return model


def theseus_layers(model: nn.Module) -> TheseusLayers:
    """The [`TheseusLayers`] of a model made by [`theseus_model`] (unwrapped from DDP etc. when needed)."""
    model = getattr(model, "module", model)
    try:
        layers = encoder_layers(model)
    except ValueError:
        layers = None
    if not isinstance(layers, TheseusLayers):
        raise ValueError(
            f"{type(model).__name__} is not a BERT-of-Theseus model: build it with "
            "hf_distill.theseus_model(predecessor, num_successor_layers=...)."
        )
    return layers


@torch.no_grad()
def export_successor(model: PreTrainedModel) -> PreTrainedModel:
    """The successor model alone: a plain instance of ``model``'s class with ``n`` layers.

    Embeddings, pooler and classifier are the (frozen) predecessor's; layer ``i`` is ``scc_i``. Its
    ``save_pretrained`` output loads with ``AutoModel*.from_pretrained`` and gives the wrapper's eval-mode logits.
    """
    layers = theseus_layers(model)
    prefix, _, _ = _layer_list_location(model)
    config = copy.deepcopy(model.config)
    config.num_hidden_layers = len(layers)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith(prefix + "."):
            index, part, rest = key[len(prefix) + 1 :].split(".", 2)
            if part == "successor":
                state[f"{prefix}.{index}.{rest}"] = value
        else:
            state[key] = value
    exported = type(model)(config)
    exported.load_state_dict(state, strict=True)
    parameter = next(model.parameters())
    return exported.to(device=parameter.device, dtype=parameter.dtype).eval()


def _groups(num_layers: int, num_successors: int | None, groups: Sequence[Sequence[int]] | None) -> list[list[int]]:
    if groups is not None:
        groups = [list(group) for group in groups]
        flat = [index for group in groups for index in group]
        if any(not group for group in groups) or flat != list(range(num_layers)):
            raise ValueError(
                f"predecessor_groups={groups} must split the predecessor's {num_layers} layers into non-empty "
                f"consecutive groups covering 0..{num_layers - 1} in order, e.g. [[0, 1], [2, 3, 4], [5]]."
            )
        if num_successors is not None and num_successors != len(groups):
            raise ValueError(
                f"num_successor_layers={num_successors} but predecessor_groups has {len(groups)} groups; "
                "give one of them or make them agree."
            )
        return groups
    if num_successors is None or not isinstance(num_successors, int) or num_successors < 1:
        raise ValueError(f"num_successor_layers={num_successors!r} must be a positive integer.")
    if num_layers % num_successors:
        raise ValueError(
            f"num_successor_layers={num_successors} does not divide the predecessor's {num_layers} layers; choose a "
            f"divisor of {num_layers} or pass predecessor_groups=[[...], ...] with {num_successors} groups."
        )
    size = num_layers // num_successors
    return [list(range(start, start + size)) for start in range(0, num_layers, size)]


def _init_indices(successor_init: str | Sequence[int], groups: list[list[int]], num_layers: int) -> list[int]:
    if isinstance(successor_init, str):
        if successor_init == "first":
            return list(range(len(groups)))
        if successor_init in ("group_first", "group_last"):
            return [group[0 if successor_init == "group_first" else -1] for group in groups]
        raise ValueError(
            f"successor_init={successor_init!r} is not one of {', '.join(SUCCESSOR_INITS)} or a list of layer indices."
        )
    indices = list(successor_init)
    if len(indices) != len(groups) or not all(isinstance(i, int) and 0 <= i < num_layers for i in indices):
        raise ValueError(
            f"successor_init={indices} must hold {len(groups)} predecessor layer indices in [0, {num_layers - 1}]."
        )
    return indices


def _check_rate(rate: float, name: str) -> float:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name}={rate} is a probability and must be in [0, 1] (the paper uses 0.5).")
    return rate


# ---- The replacement rate over training ----


@cites(THESEUS, "theseus")
class ReplacementScheduler(TrainerCallback, ExportableState):
    """Sets the replacement rate ``p`` of a [`theseus_model`] at the start of every optimizer step ``t``.

    - ``schedule="constant"``: ``p_t = replacement_rate`` for ``t < replacing_steps``, then ``1`` (the successor
      fine-tuning phase). ``replacing_steps=None`` keeps ``p`` for the whole run; a float in ``(0, 1)`` is a
      fraction of the run's total steps.
    - ``schedule="linear"`` (curriculum): ``p_t = min(1, slope * t + replacement_rate)``, i.e. ``k = slope > 0``,
      ``b = replacement_rate``; from ``t = (1 - b) / k`` on only the successors train.

    The draws are seeded with ``TrainingArguments.seed``, the step and the forward's index within the step, so all
    processes draw alike and a resumed run draws what the uninterrupted run would have. The rate in use is added
    to the training logs as ``replacement_rate`` (log history, console; reporters listed in ``report_to`` run before
    user callbacks and do not see it). The scheduler's settings are saved in ``trainer_state.json``; resuming with
    other settings raises unless ``restore_callback_states_from_checkpoint=True`` (then the checkpoint's apply).
    """

    def __init__(
        self,
        replacement_rate: float = 0.5,
        schedule: str = "constant",
        slope: float | None = None,
        replacing_steps: int | float | None = None,
    ) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule={schedule!r} is not one of {', '.join(SCHEDULES)}.")
        _check_rate(replacement_rate, "replacement_rate" if schedule == "constant" else "replacement_rate (b)")
        if schedule == "linear":
            if slope is None or not slope > 0:
                raise ValueError(
                    f"slope={slope} must be > 0 for the linear curriculum p_t = min(1, slope * t + replacement_rate) "
                    "(the paper uses k around 1e-4 to 1e-3 per step)."
                )
            if replacing_steps is not None:
                raise ValueError(
                    f"replacing_steps={replacing_steps} applies to the constant schedule only; the linear curriculum "
                    "reaches p = 1 (successor fine-tuning) at step (1 - replacement_rate) / slope."
                )
        elif slope is not None:
            raise ValueError(f"slope={slope} applies to schedule='linear' only; drop it or set schedule='linear'.")
        if replacing_steps is not None and not (
            (isinstance(replacing_steps, int) and replacing_steps >= 0)
            or (isinstance(replacing_steps, float) and 0 < replacing_steps < 1)
        ):
            raise ValueError(
                f"replacing_steps={replacing_steps!r} must be a number of optimizer steps (int >= 0) or a fraction of "
                "the run's steps (float in (0, 1))."
            )
        self.replacement_rate = replacement_rate
        self.schedule = schedule
        self.slope = slope
        self.replacing_steps = replacing_steps
        self.max_steps: int | None = None
        self.current_rate = self.rate(0)

    def rate(self, step: int) -> float:
        """``p`` for optimizer step ``step`` (0-based)."""
        if self.schedule == "linear":
            return min(1.0, self.slope * step + self.replacement_rate)
        steps = self.replacing_steps
        if isinstance(steps, float):
            if self.max_steps is None:
                return self.replacement_rate  # before training: the run's length is not known yet
            steps = round(steps * self.max_steps)
        return self.replacement_rate if steps is None or step < steps else 1.0

    def state(self) -> dict:
        return {
            "args": {
                "replacement_rate": self.replacement_rate,
                "schedule": self.schedule,
                "slope": self.slope,
                "replacing_steps": self.replacing_steps,
            },
            "attributes": {"current_rate": self.current_rate},
        }

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        stored = state.stateful_callbacks.get(type(self).__name__)
        stored = stored[0] if isinstance(stored, list) else stored
        if stored is not None and stored.get("args") != self.state()["args"]:
            raise ValueError(
                f"The checkpoint was trained with ReplacementScheduler({_kwargs(stored['args'])}) but this run has "
                f"ReplacementScheduler({_kwargs(self.state()['args'])}); pass the same settings to continue the "
                "same curve, or set restore_callback_states_from_checkpoint=True to take the checkpoint's."
            )
        if args.world_size > 1 and (
            args.ddp_find_unused_parameters is False
            or (args.ddp_find_unused_parameters is None and _activation_checkpointing(args, model))
        ):
            raise ValueError(
                "BERT-of-Theseus leaves the successors of unreplaced modules unused in a step, which DDP only allows "
                "with find_unused_parameters: set ddp_find_unused_parameters=True."
            )
        self.max_steps = state.max_steps
        layers = theseus_layers(model)
        layers.seed = args.seed
        self._apply(layers, state.global_step)

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        self._apply(theseus_layers(model), state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is not None and "loss" in logs:
            logs["replacement_rate"] = self.current_rate
            last = state.log_history[-1] if state.log_history else {}
            if last.get("step") == state.global_step and "loss" in last:
                last["replacement_rate"] = self.current_rate

    def _apply(self, layers: TheseusLayers, step: int) -> None:
        self.current_rate = self.rate(step)
        layers.replacement_rate = self.current_rate
        layers.set_step(step)


def _activation_checkpointing(args: Any, model: nn.Module) -> bool:
    flags = (getattr(args, "activation_checkpointing", None), getattr(args, "gradient_checkpointing", None))
    return any(flags) or bool(getattr(model, "is_gradient_checkpointing", False))


def _kwargs(values: dict) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in values.items())
