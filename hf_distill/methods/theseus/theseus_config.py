"""BERT-of-Theseus settings, parsable by `HfArgumentParser` next to the `TrainingArguments`.

Xu et al., "BERT-of-Theseus: Compressing BERT by Progressive Module Replacing", EMNLP 2020,
https://arxiv.org/abs/2002.02925.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from transformers import PreTrainedModel

from ...papers import cites
from .modeling_theseus import SCHEDULES, SUCCESSOR_INITS, THESEUS, ReplacementScheduler, theseus_model

__all__ = ["TheseusArguments"]


@cites(THESEUS)
@dataclass
class TheseusArguments:
    """BERT-of-Theseus settings for `HfArgumentParser`, next to the `TrainingArguments`
    (prefixed ``theseus_`` so they can share a parser with other methods' settings). Valid at their defaults;
    [`build_model`] wraps the predecessor (and needs ``theseus_successor_layers`` or ``theseus_predecessor_groups``),
    [`scheduler`] gives the [`ReplacementScheduler`]."""

    theseus_successor_layers: int | None = field(
        default=None,
        metadata={"help": "BERT-of-Theseus: number n of successor layers; must divide the predecessor's layers."},
    )
    theseus_predecessor_groups: str | None = field(
        default=None,
        metadata={
            "help": "BERT-of-Theseus: instead of an even split, the predecessor layers of each module as a JSON list "
            "of consecutive groups, e.g. '[[0, 1], [2, 3, 4], [5]]'."
        },
    )
    theseus_successor_init: str = field(
        default="first",
        metadata={
            "help": "BERT-of-Theseus: predecessor layer each successor is copied from: 'first' (layers 0..n-1, the "
            "authors' code), 'group_first', 'group_last', or a JSON list of n layer indices such as '[0, 2, 4]'."
        },
    )
    theseus_replacement_rate: float = field(
        default=0.5,
        metadata={
            "help": "BERT-of-Theseus: replacement probability p in [0, 1] (constant), or the base rate b (linear)."
        },
    )
    theseus_schedule: str = field(
        default="constant",
        metadata={
            "help": "BERT-of-Theseus: 'constant' p, or 'linear': p_t = min(1, k * t + b).",
            "choices": list(SCHEDULES),
        },
    )
    theseus_slope: float | None = field(
        default=None,
        metadata={"help": "BERT-of-Theseus: k > 0 of the linear curriculum, per optimizer step."},
    )
    theseus_replacing_steps: float | None = field(
        default=None,
        metadata={
            "help": "BERT-of-Theseus, constant schedule: optimizer steps at rate p before successor fine-tuning "
            "(p = 1); a value in (0, 1) is a fraction of the run. None: rate p for the whole run."
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.theseus_predecessor_groups, str):
            self.theseus_predecessor_groups = _json_list(self.theseus_predecessor_groups, "theseus_predecessor_groups")
        init = self.theseus_successor_init
        if isinstance(init, str) and init.lstrip().startswith("["):
            self.theseus_successor_init = _json_list(init, "theseus_successor_init")
        elif isinstance(init, str) and init not in SUCCESSOR_INITS:
            raise ValueError(
                f"theseus_successor_init={init!r} is not one of {', '.join(SUCCESSOR_INITS)} or a JSON list."
            )
        steps = self.theseus_replacing_steps
        if isinstance(steps, float) and steps >= 1:
            if not steps.is_integer():
                raise ValueError(f"theseus_replacing_steps={steps} must be an integer or in (0, 1).")
            self.theseus_replacing_steps = int(steps)
        self.scheduler()  # validates rate, schedule, slope and replacing steps

    def scheduler(self) -> ReplacementScheduler:
        return ReplacementScheduler(
            self.theseus_replacement_rate, self.theseus_schedule, self.theseus_slope, self.theseus_replacing_steps
        )

    def build_model(self, predecessor: PreTrainedModel) -> PreTrainedModel:
        if self.theseus_successor_layers is None and self.theseus_predecessor_groups is None:
            raise ValueError(
                "BERT-of-Theseus needs theseus_successor_layers (e.g. 3 for a 6-layer predecessor) or "
                "theseus_predecessor_groups."
            )
        return theseus_model(
            predecessor,
            self.theseus_successor_layers,
            predecessor_groups=self.theseus_predecessor_groups,
            successor_init=self.theseus_successor_init,
            replacement_rate=self.theseus_replacement_rate,
        )


def _json_list(text: str, name: str) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{name}={text!r} is not valid JSON ({error}).") from None
    if not isinstance(value, list):
        raise ValueError(f"{name}={text!r} must be a JSON list.")
    return value
