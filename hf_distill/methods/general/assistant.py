"""Teacher-assistant distillation (MiniLM: Wang et al., NeurIPS 2020, https://arxiv.org/abs/2002.10957; Mirzadeh et
al., AAAI 2020, https://arxiv.org/abs/1902.03393): teacher -> assistant -> student, chained.

When the gap between teacher and student is large, the teacher is first distilled into a mid-sized assistant, and
the assistant is then distilled into the student. [`chain_distillation`] runs such a chain (any length) as
successive ordinary distillations: each stage builds its student from the current teacher, trains it with the
caller's ``distill`` function, saves it to ``output_dir/<stage name>``, and the model *reloaded from that folder*
teaches the next stage, so what feeds the second distillation is exactly the saved assistant. A stage whose folder
already holds a finished model (marked by ``CHAIN_DONE_FILE``) is not trained again, so a chain can be resumed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn
from transformers import AutoModel, PreTrainedModel

CHAIN_DONE_FILE = "chain_stage_done.json"


@dataclass
class ChainStage:
    """One link of a distillation chain.

    Attributes:
        name: folder name of this stage's output under the chain's ``output_dir`` (e.g. ``"assistant"``).
        build_student: builds the stage's fresh student from the stage's teacher (the previous stage's output).
    """

    name: str
    build_student: Callable[[PreTrainedModel], PreTrainedModel]


def chain_distillation(
    teacher: PreTrainedModel,
    stages: Sequence[ChainStage],
    distill: Callable[[PreTrainedModel, PreTrainedModel, str, str], None],
    output_dir: str,
    load_model: Callable[[str], PreTrainedModel] = AutoModel.from_pretrained,
) -> list[str]:
    """Distil ``teacher`` through ``stages`` in order; return each stage's output folder.

    ``distill(teacher, student, stage_output_dir, stage_name)`` trains ``student`` from ``teacher`` and saves the
    student with ``save_pretrained(stage_output_dir)`` (a `DistillationTrainer` run followed by ``save_model``).
    ``load_model(folder)`` reloads a saved stage output to teach the next stage (default `AutoModel`, the encoder
    without a head, which is what task-agnostic distillation needs).
    """
    if not stages:
        raise ValueError("chain_distillation needs at least one stage (e.g. assistant, then student).")
    names = [stage.name for stage in stages]
    if len(set(names)) != len(names) or any(not name or os.sep in name for name in names):
        raise ValueError(f"Stage names {names} must be distinct, non-empty folder names.")
    folders = []
    current: nn.Module = teacher
    for index, stage in enumerate(stages):
        folder = os.path.join(output_dir, stage.name)
        if not os.path.isfile(os.path.join(folder, CHAIN_DONE_FILE)):
            student = stage.build_student(current)
            distill(current, student, folder, stage.name)
            if not os.path.isfile(os.path.join(folder, "config.json")):
                raise ValueError(
                    f"Stage {stage.name!r}: distill(...) did not save the student to {folder!r}; call "
                    "trainer.save_model(stage_output_dir) (or student.save_pretrained) at its end."
                )
            with open(os.path.join(folder, CHAIN_DONE_FILE), "w") as handle:
                json.dump({"stage": index, "name": stage.name, "previous": folders[-1] if folders else None}, handle)
        folders.append(folder)
        if index + 1 < len(stages):
            current = load_model(folder)
    return folders
