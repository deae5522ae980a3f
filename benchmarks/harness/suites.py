"""The section suites, defined in ``benchmarks/suites/<name>.yaml`` (``kind: sections``): ``tiny`` is for the tests
(self-made models, seconds); ``quick`` fits a 2-core CPU in about 15 minutes; ``full`` is for a GPU (and a machine
that can afford full GLUE training sets). Settings several suites share are in ``suites/common.yaml``."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import yaml

from .glue_data import TASKS
from .models import spec
from .rows import SUITES_DIR

DEFAULT_MODELS_DIR = os.environ.get("HF_DISTILL_MODELS", str(Path.home() / ".cache" / "hf-distill-models"))


def section_suites() -> list[str]:
    """Names of the suites defined by section in ``benchmarks/suites`` (``kind: sections``)."""
    return sorted(path.stem for path in SUITES_DIR.glob("*.yaml") if _kind(path) == "sections")


def load_suite(name: str) -> dict[str, Any]:
    """The sizes of section suite ``name`` (``suites/<name>.yaml``), with common.yaml's settings filled in: the preset
    weights where ``quality.preset_args`` is ``common``, and its ``method_recipe_args`` after the suite's own."""
    definition = yaml.safe_load((SUITES_DIR / f"{name}.yaml").read_text())
    common = yaml.safe_load((SUITES_DIR / "common.yaml").read_text())
    quality = definition["quality"]
    if quality.get("preset_args") == "common":
        quality["preset_args"] = common["preset_args"]
    recipe_args = {**quality.get("recipe_args", {}), **common["method_recipe_args"]}
    quality["recipe_args"] = {method: _flags(spec, common["arg_sets"]) for method, spec in recipe_args.items()}
    return {section: value for section, value in definition.items() if section != "kind"}


def _flags(spec: list[str] | dict[str, list[str]], named: dict[str, list[str]]) -> list[str]:
    """A method's flags: a list as is, or ``{args, arg_sets}`` with the named lists appended after ``args``."""
    if isinstance(spec, list):
        return list(spec)
    return [*spec.get("args", []), *(arg for key in spec.get("arg_sets", []) for arg in named[key])]


def _kind(path: Path) -> str | None:
    return (yaml.safe_load(path.read_text()) or {}).get("kind")


SUITES: dict[str, dict[str, Any]] = {name: load_suite(name) for name in section_suites()}


def with_overrides(settings: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of ``settings`` with each ``SECTION.KEY=JSON`` override applied (the key must exist)."""
    settings = copy.deepcopy(settings)
    for override in overrides:
        path, _, value = override.partition("=")
        section, _, key = path.partition(".")
        if not value or section not in settings or key not in settings[section]:
            raise ValueError(
                f"--set {override!r}: expected SECTION.KEY=JSON with an existing key, e.g. training.rounds=1."
            )
        settings[section][key] = json.loads(value)
    return settings


def cases(suite: str, teachers_dir: str | None, models_dir: str, tiny_paths: dict[str, str] | None) -> list[dict]:
    """Teacher -> student cases. The student keeps every other layer of the teacher's pretrained checkpoint."""
    if suite == "tiny":
        assert tiny_paths is not None
        teacher = tiny_paths["teacher"]
        return [{"name": "4->2", "teacher": teacher, "teachers": {"SST-2": teacher}, "student": spec(teacher, [0, 2])}]
    found = []
    for name, family, source, layers in (
        ("6->3", "minilm", "minilm-l6", [0, 2, 4]),
        ("12->6", "mpnet", "mpnet-base", [0, 2, 4, 6, 8, 10]),
    ):
        # A fine-tuned teacher per task: TEACHERS_DIR/<family>-<task> (minilm-sst2, mpnet-mrpc, ...). The timing
        # sections need none: without the SST-2 teacher they time the pre-trained checkpoint (step and forward
        # times do not depend on the weights' values).
        teachers = {task: str(Path(teachers_dir) / f"{family}-{task.lower().replace('-', '')}") for task in TASKS}
        pretrained = str(Path(models_dir) / source)
        speed_teacher = teachers["SST-2"] if Path(teachers["SST-2"]).is_dir() else pretrained
        found.append({"name": name, "teacher": teachers["SST-2"], "teachers": teachers, "speed_teacher": speed_teacher,
                      "student": spec(pretrained, layers)})  # fmt: skip
    return found
