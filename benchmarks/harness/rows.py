"""Rows suites (``benchmarks/suites/<name>.yaml`` with ``kind: rows``): every row one recipe command.

A suite definition names tasks, teachers, a student, the rows trained on each task and seed, and the selection
stage's candidates. `plan` expands it into rows, in run order, named ``TASK/teacher/NAME``,
``TASK/select/SELECTION/CANDIDATE`` and ``TASK/ROW/seedN``:

- a teacher row reads ``TEACHERS_DIR/<name>-<task>/results.json`` when it is there, and otherwise runs the recipe's
  teacher stage into that folder; a row whose teacher row is done but whose folder is gone (a fresh machine
  continuing the results file) runs that teacher stage again first, kept on the teacher row as a rebuild;
- a candidate row trains on the task's training rows minus a held-out slice and is scored on that slice (seed
  ``selection_seed``); a row with ``select: SELECTION`` takes the arguments of the candidate with the best
  held-out score, and runs once every candidate of its task has a result;
- every other row runs ``recipes/run_glue_distill.py`` in a fresh process, on the full training rows, scored on
  dev; its command, machine, date and wall time are recorded with its scores.
"""

from __future__ import annotations

import copy
import json
import math
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import store
from .machine import REPO_ROOT, _load_average, machine_info

SUITES_DIR = Path(__file__).resolve().parents[1] / "suites"
RECIPE = REPO_ROOT / "recipes" / "run_glue_distill.py"
TASK_NAMES = {"MRPC": "mrpc", "RTE": "rte", "SST-2": "sst2"}  # GLUE folder -> the recipe's --task_name


def arg_sets() -> dict[str, list[str]]:
    """The named argument lists of ``suites/common.yaml``."""
    return yaml.safe_load((SUITES_DIR / "common.yaml").read_text())["arg_sets"]


def rows_suites() -> list[str]:
    """Names of the suites defined as rows in ``benchmarks/suites``."""
    return sorted(path.stem for path in SUITES_DIR.glob("*.yaml") if _is_rows_file(path))


def _is_rows_file(path: Path) -> bool:
    return (yaml.safe_load(path.read_text()) or {}).get("kind") == "rows"


def load_definition(name: str) -> dict[str, Any]:
    """The definition of rows suite ``name``, with each row's ``arg_sets`` expanded into its ``args``."""
    definition = yaml.safe_load((SUITES_DIR / f"{name}.yaml").read_text())
    definition["name"] = name
    named = arg_sets()
    for row in definition["rows"]:
        unknown = [name for name in row.get("arg_sets", []) if name not in named]
        if unknown:
            raise ValueError(f"suite {name}: row {row['name']} names unknown arg_sets {unknown} (see common.yaml).")
        row["args"] = [*row.get("args", []), *(arg for key in row.get("arg_sets", []) for arg in named[key])]
    return definition


@dataclass
class Row:
    """One unit of a rows suite. ``kind``: "teacher", "candidate" (selection stage) or "recipe" (a final row)."""

    name: str
    kind: str
    task: str
    teacher: str
    method: str
    seed: int = 0
    args: list[str] = field(default_factory=list)
    cache: bool = False
    own_student: bool = False
    select: str | None = None
    candidate: str | None = None


def plan(definition: dict[str, Any]) -> list[Row]:
    """Every row of the suite in run order: the teachers of every task, then row by row as the definition lists
    them (cheapest first), each on every task and seed, a ``select`` row's candidates just before it. A suite cut
    short thus has the first rows on every task."""
    rows = [
        Row(f"{task}/teacher/{name}", "teacher", task, name, "teacher")
        for task in definition["tasks"]
        for name in definition["teachers"]
    ]
    selected: set[str] = set()
    for spec in definition["rows"]:
        if spec.get("select") and spec["select"] not in selected:
            rows += candidates(definition, spec["select"])
            selected.add(spec["select"])
        for task in definition["tasks"]:
            rows += [
                Row(f"{task}/{spec['name']}/seed{seed}", "recipe", task, spec["teacher"], spec["name"], seed,
                    list(spec.get("args", [])), spec.get("cache", False), spec.get("own_student", False),
                    spec.get("select"))
                for seed in definition["protocol"]["seeds"]
            ]  # fmt: skip
    return rows


def candidates(definition: dict[str, Any], name: str) -> list[Row]:
    """The candidate rows of selection ``name`` on every task (held-out rows, ``selection_seed``)."""
    spec, seed = definition["selections"][name], definition["protocol"]["selection_seed"]
    return [
        Row(f"{task}/select/{name}/{label}", "candidate", task, spec["teacher"], name, seed, list(args),
            spec.get("cache", False), candidate=label)
        for task in definition["tasks"]
        for label, args in spec["candidates"].items()
    ]  # fmt: skip


# ---- Data splits ----


def train_row_count(glue_dir: str, task: str) -> int:
    """Rows of ``glue_dir/task/train.tsv`` (lines after the header; GLUE TSVs hold one row per line)."""
    text = (Path(glue_dir) / task / "train.tsv").read_text(encoding="utf-8")
    return text.count("\n") - 1 + (0 if text.endswith("\n") else 1)


def split_sizes(task_spec: dict[str, Any], total: int) -> dict[str, int | None]:
    """``train_rows`` (None: all) of the final rows, and ``select_train_rows`` / ``heldout_rows`` of the selection.

    ``heldout_rows`` N: the selection trains on the same rows as the final rows and scores the N rows after them;
    ``heldout_fraction`` f: it holds out ``round(f * rows)`` of the training rows and trains on the others.
    """
    train_rows = task_spec.get("train_rows")
    if "heldout_rows" in task_spec:
        if train_rows is None or train_rows + task_spec["heldout_rows"] > total:
            raise ValueError(f"heldout_rows needs train_rows + heldout_rows <= {total} rows: {task_spec}.")
        return {"train_rows": train_rows, "select_train_rows": train_rows, "heldout_rows": task_spec["heldout_rows"]}
    available = total if train_rows is None else min(train_rows, total)
    heldout = round(task_spec["heldout_fraction"] * available)
    return {"train_rows": train_rows, "select_train_rows": available - heldout, "heldout_rows": heldout}


def heldout_glue_dir(glue_dir: str, task: str, train_rows: int, heldout_rows: int, work_dir: Path) -> str:
    """A GLUE folder whose ``task/dev.tsv`` holds the ``heldout_rows`` rows after the first ``train_rows`` of the
    seed-0 shuffle (the recipe's ``--train_shuffle_seed 0``), and whose ``train.tsv`` is the original; written once
    under ``work_dir`` (named by the split, so other sizes get their own)."""
    from .quality import heldout_glue_dir as write_heldout

    into = Path(work_dir) / f"{task}-{train_rows}-{heldout_rows}"
    if not (into / task / "dev.tsv").is_file():
        shutil.rmtree(into, ignore_errors=True)
        sizes = {"eval_split": "heldout", "train_rows": train_rows, "heldout_rows": heldout_rows}
        write_heldout(glue_dir, task, sizes, str(into))
    return str(into)


# ---- Commands ----


@dataclass
class Paths:
    """Where a rows suite reads and writes: GLUE data, checkpoints, teachers, and its scratch folder."""

    glue_dir: str
    models_dir: str
    teachers_dir: str
    work_dir: str

    def teacher(self, name: str, task: str) -> Path:
        return Path(self.teachers_dir) / f"{name}-{TASK_NAMES[task]}"


def _protocol_args(definition: dict[str, Any], task: str, seed: int) -> list[str]:
    protocol = definition["protocol"]
    return [
        "--task_name", TASK_NAMES[task], "--max_seq_length", str(protocol["max_seq_length"]),
        "--num_train_epochs", str(protocol["epochs"]), "--per_device_train_batch_size", str(protocol["batch"]),
        "--per_device_eval_batch_size", str(protocol["eval_batch"]), "--seed", str(seed),
        "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", *protocol.get("args", []),
    ]  # fmt: skip


def _without_flags(pairs: list[str], overrides: list[str]) -> list[str]:
    """``pairs`` (``--flag value`` pairs) less the flags that ``overrides`` sets, so a row's flag replaces the
    protocol's instead of following it (the parser keeps the last, but the logged command would show both)."""
    replaced = {arg for arg in overrides if arg.startswith("--")}
    kept = [(flag, value) for flag, value in zip(pairs[::2], pairs[1::2], strict=True) if flag not in replaced]
    return [arg for pair in kept for arg in pair]


def _rows_args(train_rows: int | None) -> list[str]:
    return [] if train_rows is None else ["--train_shuffle_seed", "0", "--max_train_samples", str(train_rows)]


def teacher_command(definition: dict[str, Any], row: Row, paths: Paths, sizes: dict[str, Any]) -> list[str]:
    """The recipe's teacher stage for ``row``: the pre-trained source fine-tuned on the task into its folder."""
    spec = definition["teachers"][row.teacher]
    return [
        sys.executable, str(RECIPE), "--stage", "teacher", "--glue_dir", paths.glue_dir,
        "--teacher_model_name_or_path", str(Path(paths.models_dir) / spec["source"]),
        "--output_dir", str(paths.teacher(row.teacher, row.task)), "--learning_rate", str(spec["learning_rate"]),
        *_protocol_args(definition, row.task, 0), *_rows_args(sizes["train_rows"]),
    ]  # fmt: skip


def recipe_command(
    definition: dict[str, Any], row: Row, paths: Paths, sizes: dict[str, Any], output_dir: str, args: list[str]
) -> list[str]:
    """The distill-stage command of a final or candidate row (``args``: the row's own, chosen ones included)."""
    student = definition["student"]
    student_args = (
        []
        if row.own_student
        else ["--student_model_name_or_path", str(Path(paths.models_dir) / student["source"]),
              "--student_layers", str(student["layers"])]
    )  # fmt: skip
    candidate = row.kind == "candidate"
    glue_dir = paths.glue_dir
    if candidate:
        glue_dir = heldout_glue_dir(
            paths.glue_dir,
            row.task,
            sizes["select_train_rows"],
            sizes["heldout_rows"],
            Path(paths.work_dir) / "heldout",
        )
    train_rows = sizes["select_train_rows"] if candidate else sizes["train_rows"]
    cache = []
    if row.cache:
        folder = f"{row.teacher}-{TASK_NAMES[row.task]}-{'select' if candidate else 'final'}"
        cache = ["--teacher_cache_dir", str(Path(paths.work_dir) / "teacher-cache" / folder)]
    return [
        sys.executable, str(RECIPE), "--glue_dir", glue_dir,
        "--teacher_model_name_or_path", str(paths.teacher(row.teacher, row.task)), *student_args,
        "--output_dir", output_dir, "--learning_rate", str(definition["protocol"]["learning_rate"]),
        *_without_flags(_protocol_args(definition, row.task, row.seed), args), *_rows_args(train_rows), *cache, *args,
    ]  # fmt: skip


# ---- Selection ----


def selection(results: dict[str, Any], definition: dict[str, Any], task: str, name: str) -> dict[str, Any]:
    """The held-out scores of selection ``name``'s candidates on ``task`` and the chosen one (best score; the
    first listed on a tie). ``chosen`` is None until every candidate has a result and one of them succeeded."""
    rows = results.get("rows", {})
    labels = list(definition["selections"][name]["candidates"])
    entries = {label: rows.get(f"{task}/select/{name}/{label}") for label in labels}
    scores = {label: entry.get("score") for label, entry in entries.items() if store.done(entry)}
    errors = {label: entry["error"] for label, entry in entries.items() if entry and "error" in entry}
    complete = all(entry is not None for entry in entries.values())
    chosen = max(scores, key=lambda label: (scores[label], -labels.index(label))) if complete and scores else None
    return {"scores": scores, "errors": errors, "complete": complete, "chosen": chosen}


def selections(results: dict[str, Any], definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{selection: {task: selection(...)}}`` for the whole suite (recorded in the results file)."""
    return {
        name: {task: selection(results, definition, task, name) for task in definition["tasks"]}
        for name in definition.get("selections", {})
    }


def status(results: dict[str, Any], definition: dict[str, Any], row: Row) -> str:
    """The state of ``row``: done, failed, pending, or why it cannot run yet: waiting for teacher (its teacher row
    is not done), waiting for selection (a candidate has no result yet), unavailable (every candidate failed)."""
    entry = results.get("rows", {}).get(row.name)
    if store.done(entry):
        return "done"
    if row.kind != "teacher" and not store.done(results.get("rows", {}).get(f"{row.task}/teacher/{row.teacher}")):
        return "waiting for teacher"
    if row.select:
        chosen = selection(results, definition, row.task, row.select)
        if not chosen["complete"]:
            return "waiting for selection"
        if chosen["chosen"] is None:
            return "unavailable"
    return "failed" if entry else "pending"


# ---- Running ----


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_command(command: list[str], log_path: Path) -> float:
    """Run ``command`` with its output in ``log_path``; returns the CPU seconds it used (user + system, its child
    processes included), which unlike wall time hardly changes when other jobs share the machine. A failure raises
    with the last line it printed."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log_path, "w") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=_environment())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
        raise RuntimeError(f"exit {completed.returncode}: {lines[-1] if lines else 'no output'} (log: {log_path})")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _score(recipe: dict[str, Any], side: str) -> float:
    return float(recipe[side]["metrics"][recipe["main_metric"]])


def teacher_record(path: Path) -> dict[str, Any]:
    """What a teacher row records from the teacher stage's ``results.json``."""
    recipe = json.loads((path / "results.json").read_text())
    return {
        "score": _score(recipe, "teacher"),
        "metric": recipe["main_metric"],
        "metrics": recipe["teacher"]["metrics"],
        "parameters": recipe["teacher"]["parameters"],
        "train_seconds": recipe.get("train", {}).get("runtime_seconds"),
        "train_rows": recipe.get("train", {}).get("train_rows"),
        "recipe_command": recipe.get("command"),
        "recipe_machine": recipe.get("hardware") or recipe.get("machine"),
        "path": str(path),
        "trained": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime((path / "results.json").stat().st_mtime)),
    }


CHECKED_SETTINGS = (
    ("data", "max_seq_length"), ("data", "max_train_samples"), ("data", "train_shuffle_seed"),
    ("training", "num_train_epochs"), ("training", "learning_rate"), ("training", "per_device_train_batch_size"),
    ("training", "warmup_steps"), ("training", "weight_decay"), ("training", "seed"),
)  # fmt: skip


def protocol_differences(results_file: Path, command: list[str]) -> dict[str, list[Any]]:
    """``{setting: [the teacher's, the suite's]}`` for each setting of ``CHECKED_SETTINGS`` where the teacher stage
    that wrote ``results_file`` differs from ``command`` (the suite's own teacher command); empty when none."""
    config = json.loads(results_file.read_text()).get("config", {})
    flags = {command[i][2:]: command[i + 1] for i in range(len(command) - 1) if command[i].startswith("--")}
    differences = {}
    for group, name in CHECKED_SETTINGS:
        theirs, ours = config.get(group, {}).get(name), flags.get(name)
        if ours is None and theirs is None:
            continue
        if ours is None or theirs is None or float(theirs) != float(ours):
            differences[name] = [theirs, ours]
    return differences


def student_record(recipe: dict[str, Any]) -> dict[str, Any]:
    """What a final or candidate row records from the distill stage's ``results.json``."""
    train = recipe.get("train", {})
    return {
        "score": _score(recipe, "student"),
        "metric": recipe["main_metric"],
        "metrics": recipe["student"]["metrics"],
        "teacher_score": _score(recipe, "teacher"),
        "retention": recipe["retention"].get(recipe["main_metric"]),
        "parameters": recipe["student"]["parameters"],
        "teacher_parameters": recipe["teacher"]["parameters"],
        "size_ratio": recipe.get("compression_ratio"),
        "speedup": recipe.get("inference_speedup"),
        "inference": recipe.get("inference"),
        "train_seconds": train.get("runtime_seconds"),
        "steps_per_second": train.get("steps_per_second"),
        "steps": train.get("global_step"),
        "train_rows": train.get("train_rows"),
        "augmented_rows": train.get("augmented_rows"),
        "trained_from_teacher_logits": recipe.get("trained_from_teacher_logits"),
    }


class Runner:
    """Runs the rows of one suite definition into one results file."""

    def __init__(self, definition: dict[str, Any], paths: Paths, results_path: Path, shared_machine: bool = False):
        self.definition, self.paths, self.results_path = definition, paths, results_path
        self.machine = {key: value for key, value in machine_info(shared_machine).items() if key != "started"}
        self.results = store.load(results_path) or {"schema_version": 1, "suite": definition["name"], "rows": {}}
        self.results.update(kind="rows", definition=definition)
        self._sizes: dict[str, dict[str, Any]] = {}

    def sizes(self, task: str) -> dict[str, Any]:
        if task not in self._sizes:
            total = train_row_count(self.paths.glue_dir, task)
            self._sizes[task] = split_sizes(self.definition["tasks"][task], total)
        return self._sizes[task]

    def args(self, row: Row) -> tuple[list[str], dict[str, Any] | None]:
        """The row's arguments, the chosen candidate's appended for a ``select`` row, and that selection."""
        if not row.select:
            return list(row.args), None
        chosen = selection(self.results, self.definition, row.task, row.select)
        candidates = self.definition["selections"][row.select]["candidates"]
        return [*row.args, *candidates[chosen["chosen"]]], chosen

    def command(self, row: Row, output_dir: str = "OUTPUT_DIR") -> list[str]:
        if row.kind == "teacher":
            return teacher_command(self.definition, row, self.paths, self.sizes(row.task))
        args, _ = self.args(row)
        return recipe_command(self.definition, row, self.paths, self.sizes(row.task), output_dir, args)

    def run_row(self, row: Row) -> dict[str, Any]:
        """Run (or, for a teacher already trained, read) ``row``; its record, an ``error`` when it failed."""
        start, log = time.perf_counter(), Path(self.paths.work_dir) / "logs" / f"{row.name.replace('/', '_')}.log"
        record: dict[str, Any] = {"kind": row.kind, "task": row.task, "teacher": row.teacher, "seed": row.seed}
        try:
            if row.kind == "teacher":
                record.update(self._teacher(row, log))
            else:
                record.update(self._recipe(row, log))
        except Exception as error:  # one row failing must not cost the others; the error is kept, the row retried
            record["error"] = f"{type(error).__name__}: {' '.join(str(error).split())[-600:]}"
        record.update(wall_seconds=time.perf_counter() - start, machine=self.machine, date=store.stamp())
        record["load_average_end"] = _load_average()  # other jobs on the machine stretch wall times
        return record

    def _restore_teacher(self, row: Row) -> dict[str, Any] | None:
        """Fine-tune ``row``'s teacher again when its row is done but its folder is gone (a fresh machine continuing
        the results file); the rebuild is kept on the teacher row, its score beside the first. Returns ``row``'s
        failed record when the rebuild fails, else None."""
        if row.kind == "teacher" or (self.paths.teacher(row.teacher, row.task) / "results.json").is_file():
            return None
        name = f"{row.task}/teacher/{row.teacher}"
        print(f"[{name}] its folder is gone: fine-tuning it again ...", file=sys.stderr, flush=True)
        rebuilt = self.run_row(Row(name, "teacher", row.task, row.teacher, "teacher"))
        self.results["rows"][name].setdefault("rebuilds", []).append(rebuilt)
        self.save()
        if "error" in rebuilt:
            failed = {"kind": row.kind, "seed": row.seed, "wall_seconds": 0.0}  # the time is the rebuild's
            return {**rebuilt, **failed, "error": f"rebuilding {name}: {rebuilt['error']}"}
        print(f"[{name}] rebuilt: {rebuilt['score']:.4f} ({rebuilt['wall_seconds']:.0f} s)", file=sys.stderr)
        return None

    def _teacher(self, row: Row, log: Path) -> dict[str, Any]:
        folder = self.paths.teacher(row.teacher, row.task)
        if (folder / "results.json").is_file():
            differences = protocol_differences(folder / "results.json", self.command(row))
            return {
                **teacher_record(folder), "source": f"read from {folder}/results.json",
                "differs_from_suite": differences,
            }  # fmt: skip
        if folder.is_dir() and any(folder.iterdir()):
            raise RuntimeError(
                f"{folder} holds files but no results.json: a teacher stage still running there, or one that failed. "
                "Wait for it, or remove the folder to fine-tune the teacher here."
            )
        command = self.command(row)
        cpu_seconds = run_command(command, log)
        return {
            **teacher_record(folder), "source": "trained by this run", "command": shlex.join(command),
            "cpu_seconds": cpu_seconds,
        }  # fmt: skip

    def _recipe(self, row: Row, log: Path) -> dict[str, Any]:
        args, chosen = self.args(row)
        scratch = Path(self.paths.work_dir) / "outputs"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch) as output_dir:
            command = recipe_command(self.definition, row, self.paths, self.sizes(row.task), output_dir, args)
            cpu_seconds = run_command(command, log)
            recipe = json.loads((Path(output_dir) / "results.json").read_text())
        record = {**student_record(recipe), "command": shlex.join(command), "args": args, "cpu_seconds": cpu_seconds}
        if chosen is not None:
            record["chosen"] = {"candidate": chosen["chosen"], "heldout_scores": chosen["scores"]}
        if row.kind == "candidate":
            record.update(candidate=row.candidate, scored_on="held-out train rows")
        return record

    def save(self) -> None:
        self.results["selections"] = selections(self.results, self.definition)
        store.save(self.results_path, self.results)

    def run(self, patterns: list[str] | None, time_budget: float | None = None, on_row=None) -> list[str]:
        """Run every selected row that is not done, in plan order, saving after each; returns the names run.

        A ``select`` row whose selection is incomplete is passed over on this pass and run once its candidates
        are (they come earlier in the plan). No row starts after ``time_budget`` seconds."""
        start, ran = time.perf_counter(), []
        rows = plan(self.definition)
        needed = {f"{row.task}/teacher/{row.teacher}" for row in rows if store.selected(row.name, patterns)}
        for row in rows:
            wanted = store.selected(row.name, patterns) or row.name in needed  # a row's teacher comes with it
            if not wanted or status(self.results, self.definition, row) not in ("pending", "failed"):
                continue
            if time_budget is not None and time.perf_counter() - start > time_budget:
                print(f"time budget of {time_budget:.0f} s spent: {row.name} and later rows left", file=sys.stderr)
                break
            print(f"[{row.name}] running ...", file=sys.stderr, flush=True)
            record = self._restore_teacher(row) or self.run_row(row)
            self.results["rows"][row.name] = record
            self.save()
            ran.append(row.name)
            outcome = record.get("error") or f"{record.get('metric')} {record.get('score', math.nan):.4f}"
            print(f"[{row.name}] {outcome} ({record['wall_seconds']:.0f} s)", file=sys.stderr, flush=True)
            if on_row is not None:
                on_row(self.results)
        return ran


def with_overrides(definition: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of ``definition`` with each ``SECTION.KEY=JSON`` (or top-level ``KEY=JSON``) override applied."""
    definition = copy.deepcopy(definition)
    for override in overrides:
        path, _, value = override.partition("=")
        section, _, key = path.partition(".")
        target = definition if not key else definition.get(section)
        name = key or section
        if not value or not isinstance(target, dict) or name not in target:
            raise ValueError(
                f"--set {override!r}: expected SECTION.KEY=JSON with an existing key, e.g. protocol.epochs=1."
            )
        target[name] = json.loads(value)
    return definition
