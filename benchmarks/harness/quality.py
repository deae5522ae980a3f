"""Quality: dev score of the teacher, of the student fine-tuned alone, and of each distillation method.

For one case (a teacher checkpoint, a student spec) and one GLUE task: the teacher is evaluated as is; every
method trains a fresh copy of the student (same seed, rows, epochs, learning rate) and is evaluated on the same
dev rows; ``retention`` = method score / teacher score. Sizes are the suite's (``train_rows``, ``dev_rows``,
``epochs``) and are written into the results.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments

from . import glue_data, store
from .machine import REPO_ROOT
from .models import build, parameter_count

CORE_METHODS = ("student_alone", "logit_kd")


def _args(output_dir: str, sizes: dict[str, Any], seed: int) -> dict[str, Any]:
    import torch

    return dict(
        output_dir=output_dir, per_device_train_batch_size=sizes["batch"], per_device_eval_batch_size=64,
        num_train_epochs=sizes["epochs"], learning_rate=sizes["lr"], seed=seed, report_to="none",
        disable_tqdm=True, save_strategy="no", logging_strategy="no", use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False,  # rows are lists of dicts of model inputs (glue_data.tokenized)
    )  # fmt: skip


def _predict(trainer: Trainer, dev: Any, task: str) -> dict[str, float]:
    output = trainer.predict(dev)
    return glue_data.score(task, np.asarray(output.predictions), np.asarray(output.label_ids))


def train_and_score(
    method: str,
    teacher_path: str,
    student_spec: dict,
    task: str,
    train: Any,
    dev: Any,
    tokenizer: Any,
    sizes: dict,
    seed: int = 0,
) -> dict[str, Any]:
    """Train ``method``'s student on ``train`` and score it on ``dev`` (or score the teacher: ``"teacher"``).

    ``seed`` draws the student's fresh classifier and the Trainer's data order and dropout."""
    from hf_distill import DistillationTrainer, DistillationTrainingArguments

    collator = DataCollatorWithPadding(tokenizer)
    preset = preset_settings(method[7:], sizes) if method.startswith("preset:") else {}
    with tempfile.TemporaryDirectory() as output_dir:
        common = _args(output_dir, sizes, seed=seed)
        start = time.perf_counter()
        if method == "teacher":
            model = build({"path": teacher_path, "layers": None, "num_labels": 2})
            trainer = Trainer(model=model, args=TrainingArguments(**common), data_collator=collator)
        elif method == "student_alone":
            model = build(student_spec, seed=seed)
            trainer = Trainer(
                model=model, args=TrainingArguments(**common), train_dataset=train, data_collator=collator
            )
        elif method == "logit_kd" or method.startswith("preset:"):
            model = build(student_spec, seed=seed)
            args = DistillationTrainingArguments(**common, temperature=2.0, alpha=0.5, **preset)
            trainer = DistillationTrainer(
                model=model, teacher_model=teacher_path, args=args, train_dataset=train, data_collator=collator
            )
        else:
            raise ValueError(f"Unknown quality method {method!r}.")
        if method != "teacher":
            trainer.train()
        train_seconds = time.perf_counter() - start if method != "teacher" else None
        start = time.perf_counter()
        scores = _predict(trainer, dev, task)
        eval_seconds = time.perf_counter() - start
    return {
        **scores,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "parameters": parameter_count(model),
        "settings": " ".join(f"{key}={value}" for key, value in preset.items() if key != "distill_preset"),
    }


def preset_settings(name: str, sizes: dict[str, Any]) -> dict[str, Any]:
    """`DistillationTrainingArguments` settings of ``preset:<name>``: ``distill_preset`` and the suite's
    ``preset_args[name]``. ``name`` may be a variant ``preset@label`` (e.g. ``mobilebert@w0.1``) with its own
    ``preset_args`` entry."""
    return {"distill_preset": name.split("@", 1)[0], **sizes.get("preset_args", {}).get(name, {})}


def eval_rows(glue_dir: str, task: str, sizes: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows methods are scored on: the dev set (``eval_split`` "dev", the default), or for choosing settings
    without looking at dev, "heldout": ``heldout_rows`` train rows right after the ``train_rows`` trained on (same
    shuffle), which no method trains on."""
    if sizes.get("eval_split", "dev") == "dev":
        return glue_data.subset(glue_data.read_rows(glue_dir, task, "dev"), sizes["dev_rows"], shuffle_seed=None)
    rows = glue_data.read_rows(glue_dir, task, "train")
    return [rows[index] for index in _heldout_indexes(len(rows), sizes)]


def heldout_glue_dir(glue_dir: str, task: str, sizes: dict[str, Any], into: str) -> str:
    """A GLUE folder at ``into`` whose ``task/train.tsv`` is the original and whose ``task/dev.tsv`` holds the
    held-out rows of `eval_rows` (raw lines, same shuffle as the recipe's ``--train_shuffle_seed 0``)."""
    source = Path(glue_dir) / task / "train.tsv"
    header, *lines = source.read_text(encoding="utf-8").splitlines()  # QUOTE_NONE: one row per line
    heldout = _heldout_indexes(len(lines), sizes)
    target = Path(into) / task
    target.mkdir(parents=True)
    (target / "train.tsv").symlink_to(source.resolve())
    (target / "dev.tsv").write_text("\n".join([header, *(lines[index] for index in heldout)]) + "\n", encoding="utf-8")
    return into


def _heldout_indexes(num_rows: int, sizes: dict[str, Any]) -> list[int]:
    """File positions of the held-out train rows: ``heldout_rows`` rows right after the first ``train_rows`` of
    the ``random.Random(0)`` shuffle that `glue_data.subset` and the recipe's ``--train_shuffle_seed 0`` apply."""
    if sizes.get("eval_split") != "heldout" or sizes["train_rows"] is None:
        raise ValueError(f"eval_split={sizes.get('eval_split')!r}: use 'dev', or 'heldout' with a train_rows subset.")
    order = list(range(num_rows))
    random.Random(0).shuffle(order)
    return order[sizes["train_rows"] : sizes["train_rows"] + sizes.get("heldout_rows", 872)]


def finetune_teacher(source: str, task: str, glue_dir: str, sizes: dict[str, Any], output_dir: str) -> dict:
    """Fine-tune the full pretrained ``source`` on ``task`` (plain `Trainer`, the suite's rows/epochs/lr) as the
    task's teacher when none was given; saved with its tokenizer to ``output_dir``."""
    tokenizer = AutoTokenizer.from_pretrained(source)
    rows = glue_data.subset(glue_data.read_rows(glue_dir, task, "train"), sizes["train_rows"], shuffle_seed=0)
    train = glue_data.tokenized(rows, tokenizer, sizes["max_length"])
    model = build({"path": source, "layers": None, "num_labels": 2}, seed=0)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(**_args(scratch, sizes, seed=0))
        Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tokenizer)).train()
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return {
        "path": output_dir,
        "source": source,
        "train_rows": len(rows),
        "train_seconds": time.perf_counter() - start,
    }


def measure_case(
    case: dict[str, Any],
    task: str,
    glue_dir: str,
    sizes: dict[str, Any],
    methods: list[str],
    done: dict[str, Any] | None = None,
    on_method: Callable[[dict[str, Any]], None] | None = None,
    should_run: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """Teacher and each method on ``task`` for one teacher -> student case; scores and retention.

    ``done``: methods measured earlier (kept, not rerun; the teacher is rerun unless it is among them);
    ``on_method`` gets the case's entry after each method; ``should_run(method)``, asked just before each method
    but the teacher, can still pass it over (a time budget spent)."""
    tokenizer = AutoTokenizer.from_pretrained(case["teacher"])
    train_rows = glue_data.subset(glue_data.read_rows(glue_dir, task, "train"), sizes["train_rows"], shuffle_seed=0)
    dev_rows = eval_rows(glue_dir, task, sizes)
    train = glue_data.tokenized(train_rows, tokenizer, sizes["max_length"])
    dev = glue_data.tokenized(dev_rows, tokenizer, sizes["max_length"])
    seeds = sizes.get("seeds", [0])
    results: dict[str, Any] = dict(done or {})
    entry = {}
    for method in ["teacher", *methods]:
        if store.done(results.get(method)) or (method != "teacher" and should_run and not should_run(method)):
            continue
        runs = []
        for seed in seeds[:1] if method == "teacher" else seeds:  # the teacher is only evaluated
            start = time.perf_counter()
            try:
                if method.startswith("recipe:"):
                    run = run_recipe(method[7:], case, task, glue_dir, sizes, seed)
                else:
                    run = train_and_score(
                        method, case["teacher"], case["student"], task, train, dev, tokenizer, sizes, seed
                    )
            except Exception as error:  # one method failing must not cost the others' results; the error is kept
                if method == "teacher":
                    raise
                run = {"score": None, "error": f"{type(error).__name__}: {str(error).strip()[-500:]}"}
            runs.append(run)
            score = run["score"]
            print(
                f"  {case['name']} {task} {method} seed {seed}: {'FAILED' if score is None else f'{score:.4f}'} "
                f"({time.perf_counter() - start:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        results[method] = {**_over_seeds(runs, seeds), "date": store.stamp()}
        entry = _case_entry(task, len(train_rows), len(dev_rows), sizes, results)
        if on_method is not None:
            on_method(entry)
    return entry or _case_entry(task, len(train_rows), len(dev_rows), sizes, results)


def _case_entry(task: str, train_rows: int, dev_rows: int, sizes: dict, results: dict[str, Any]) -> dict[str, Any]:
    """The section's entry for one case and task, with each method's ``retention`` = its score / the teacher's."""
    teacher_score = results["teacher"]["score"]
    for entry in results.values():
        entry["retention"] = entry["score"] / teacher_score if teacher_score and entry["score"] is not None else None
    return {
        "task": task,
        "metric": glue_data.TASKS[task][3],
        "train_rows": train_rows,
        "dev_rows": dev_rows,
        "eval_split": sizes.get("eval_split", "dev"),
        "sizes": sizes,
        "methods": results,
        "source": "measured in this run",
    }


def _over_seeds(runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """One row for a method: its first run's details, ``score`` = the mean over seeds (None if any failed), and
    ``seed_scores``/``seeds`` when there was more than one."""
    row = dict(runs[0])
    if len(runs) > 1:
        scores = [run["score"] for run in runs]
        row["seed_scores"], row["seeds"] = scores, seeds[: len(runs)]
        row["score"] = None if None in scores else float(np.mean(scores))
        errors = [run["error"] for run in runs if "error" in run]
        if errors:
            row["error"] = errors[0]
        if None not in [run.get("train_seconds") for run in runs]:
            row["train_seconds"] = float(np.mean([run["train_seconds"] for run in runs]))
    return row


def run_recipe(
    name: str, case: dict[str, Any], task: str, glue_dir: str, sizes: dict[str, Any], seed: int = 0
) -> dict[str, Any]:
    """A method registered in ``hf_distill.recipes.methods``, run through ``run_glue_distill.py``.

    Same teacher, student source and layers, rows (shuffle seed 0), epochs, batch, learning rate and ``seed`` as the
    methods trained in this process; the method's own settings are its defaults, then the suite's
    ``recipe_args[name]``. ``name`` may be a variant ``method@label`` (e.g. ``bilstm@alone``): the same recipe method
    with the variant's own ``recipe_args``, where ``--epochs_scale F`` (read here, not passed on) trains F times the
    suite's epochs. Reads ``results.json``.
    """
    method = name.split("@", 1)[0]
    extra = list(sizes.get("recipe_args", {}).get(name, []))  # a method's own settings for this suite's sizes
    epochs = sizes["epochs"]
    if "--epochs_scale" in extra:  # the harness's own flag: this many times the suite's epochs
        at = extra.index("--epochs_scale")
        epochs = epochs * float(extra[at + 1])
        del extra[at : at + 2]
    student = case["student"]
    with tempfile.TemporaryDirectory() as output_dir:
        if sizes.get("eval_split", "dev") != "dev":  # the recipe scores its "dev" set: make it the held-out rows
            glue_dir = heldout_glue_dir(glue_dir, task, sizes, f"{output_dir}/glue")
        if method == "theseus":  # successors are built from the teacher's own layers, as many as the student has
            student_args = ["--theseus_successor_layers", str(len(student["layers"]))]
        else:
            layers = ",".join(str(layer) for layer in student["layers"])
            student_args = ["--student_model_name_or_path", student["path"], "--student_layers", layers]
        command = [
            sys.executable, str(REPO_ROOT / "recipes" / "run_glue_distill.py"),
            "--teacher_model_name_or_path", case["teacher"], *student_args,
            "--task_name", task.lower().replace("-", ""), "--glue_dir", glue_dir,
            "--max_seq_length", str(sizes["max_length"]), "--train_shuffle_seed", "0",
            "--distill_method", method, "--output_dir", output_dir, "--seed", str(seed), "--report_to", "none",
            "--num_train_epochs", str(epochs), "--learning_rate", str(sizes["lr"]),
            "--per_device_train_batch_size", str(sizes["batch"]), "--per_device_eval_batch_size", "64",
            "--save_strategy", "no", "--disable_tqdm", "true",
        ]  # fmt: skip
        if sizes["train_rows"] is not None:
            command += ["--max_train_samples", str(sizes["train_rows"])]
        if sizes["dev_rows"] is not None:
            command += ["--max_eval_samples", str(sizes["dev_rows"])]
        command += extra
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            lines = [line for line in completed.stderr.splitlines() if line.strip()]
            raise RuntimeError(f"recipe method {name} failed: {lines[-1] if lines else completed.returncode}")
        recipe = json.loads((Path(output_dir) / "results.json").read_text())
    metrics = recipe["student"]["metrics"]
    metric = glue_data.TASKS[task][3]
    value = metrics.get(metric, metrics.get(f"eval_{metric}"))
    if value is None:
        raise RuntimeError(f"recipe method {name}: no {metric} in its student metrics {sorted(metrics)}.")
    return {
        "score": float(value),
        "metrics": metrics,
        "train_seconds": recipe.get("train", {}).get("runtime_seconds"),
        "parameters": recipe["student"].get("parameters"),
        "via": "recipes/run_glue_distill.py",
        "settings": " ".join(sizes.get("recipe_args", {}).get(name, [])),
    }


def recipe_methods(sizes: dict[str, Any] | None = None) -> list[str]:
    """``recipe:<name>`` for each method of ``hf_distill.recipes.methods`` but ``logit`` (measured here as
    logit_kd), then each variant ``recipe:<method>@<label>`` that the suite's ``recipe_args`` defines."""
    from hf_distill.recipes.methods import METHODS

    variants = [name for name in (sizes or {}).get("recipe_args", {}) if "@" in name]
    return [f"recipe:{name}" for name in [*(name for name in METHODS if name != "logit"), *variants]]


SCORE_KEYS = ("score", "accuracy", "dev_accuracy", "dev_acc", "eval_accuracy")


def _score_of(row: Any) -> float | None:
    if not isinstance(row, dict):
        return None
    for key in SCORE_KEYS:
        if isinstance(row.get(key), (int, float)) and not isinstance(row.get(key), bool):
            return float(row[key])
    return None


def _reused_rows(data: Any) -> dict[str, dict[str, Any]]:
    """``{name: row}`` of every row with a score in another script's results: a list of rows (named by ``name`` or
    ``method``), a ``{name: row}`` mapping, or either under a ``methods`` / ``results`` key."""
    if isinstance(data, dict):
        for key in ("methods", "results"):
            if isinstance(data.get(key), (dict, list)):
                return _reused_rows(data[key])
        return {str(name): row for name, row in data.items() if _score_of(row) is not None}
    if isinstance(data, list):
        rows = [row for row in data if _score_of(row) is not None]
        return {str(row.get("name", row.get("method", index))): row for index, row in enumerate(rows)}
    return {}


def load_reused(path: str, teacher_score: float | None, teacher_source: str) -> dict[str, Any]:
    """SST-2 dev results another benchmark script wrote (same protocol teacher), kept with their source and machine.

    Scores are read from each row's first key of ``SCORE_KEYS``; a row whose name contains "teacher" is the
    file's teacher score, else ``teacher_score`` (this run's measurement of the same teacher, named by
    ``teacher_source``) is used for retention. The machine is the file's ``machine`` entry when it has one.
    """
    data = json.loads(Path(path).read_text())
    rows = _reused_rows(data)
    if not rows:
        raise ValueError(f"{path}: no rows with a score ({', '.join(SCORE_KEYS)}) found.")
    methods = {name: {"score": _score_of(row), **_small(row)} for name, row in rows.items()}
    own_teacher = [name for name in methods if "teacher" in name.lower()]
    reference = methods[own_teacher[0]]["score"] if own_teacher else teacher_score
    for entry in methods.values():
        entry["retention"] = entry["score"] / reference if reference else None
    machine = data.get("machine") if isinstance(data, dict) else None
    return {
        "task": data.get("task", "SST-2") if isinstance(data, dict) else "SST-2",
        "metric": "accuracy",
        "methods": methods,
        "source": f"reused from {path}",
        "machine": machine or "not recorded in the file",
        "file_modified": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(Path(path).stat().st_mtime)),
        "retention_reference": own_teacher[0] if own_teacher else teacher_source,
    }


def _small(row: dict[str, Any]) -> dict[str, Any]:
    """The row's scalar fields (settings, timings), without nested tables."""
    return {key: value for key, value in row.items() if isinstance(value, (int, float, str, bool)) or value is None}
