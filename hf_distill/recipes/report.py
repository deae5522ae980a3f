"""Measurements and the results file of `run_glue_distill.py`: metrics, parameter counts, inference timing."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers
from torch import nn
from transformers import PreTrainedTokenizerBase, Trainer

import hf_distill
from hf_distill import DistillationTrainingArguments
from hf_distill.cache import compute_teacher_logits, teacher_input_columns
from hf_distill.glue import GlueTask
from hf_distill.hub.push import describe_hardware, with_hub_ids
from hf_distill.hub.redaction import redact
from hf_distill.metrics import load_metric, metric_scores

RESULTS_FILE = "results.json"


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@torch.inference_mode()
def inference_seconds(
    model: nn.Module,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    prefix: str,
    batch_size: int,
    repeats: int,
    device: torch.device,
) -> float:
    """Best-of-``repeats`` wall time of ``model``'s forward passes over ``dataset`` (batches padded beforehand)."""
    _, inputs = teacher_input_columns(dataset, prefix)
    columns = dataset.select_columns(list(inputs.values()))
    batches = []
    for start in range(0, len(dataset), batch_size):
        rows = columns[start : start + batch_size]
        count = len(next(iter(rows.values())))
        features = [{name: rows[column][i] for name, column in inputs.items()} for i in range(count)]
        batch = tokenizer.pad(features, padding=True, return_tensors="pt")
        batches.append({name: value.to(device) for name, value in batch.items()})
    model.eval()
    model(**batches[0])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            model(**batch)
        best = min(best, time.perf_counter() - start)
    return best


def evaluate_splits(
    model: nn.Module,
    evals: dict[str, datasets.Dataset],
    task: GlueTask,
    tokenizer: PreTrainedTokenizerBase,
    prefix: str,
    args: DistillationTrainingArguments,
    description: str,
    metric_name: str | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, torch.Tensor]]:
    """Dev metrics and logits of ``model`` on every eval split, the metrics through `evaluate` (``metric_name``, or
    the package's GLUE module)."""
    metrics, logits, metric = {}, {}, load_metric(task.name, metric_name)
    for split, dataset in evals.items():
        logits[split] = compute_teacher_logits(
            model,
            dataset,
            tokenizer,
            args.per_device_eval_batch_size,
            args.device,
            not args.disable_tqdm,
            input_prefix=prefix,
            description=f"{description} on {split}",
        )
        metrics[split] = metric_scores(metric, logits[split].numpy(), dataset["label"], task.is_regression)
    return metrics, logits


def main_metric_name(task: GlueTask, results: dict[str, Any]) -> str:
    """The task's GLUE score, or the first metric reported when another ``--metric_name`` does not give it."""
    side = results.get("student") or results.get("teacher") or {}
    reported = list(side.get("metrics") or {})
    return task.main_metric if task.main_metric in reported or not reported else reported[0]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def write_results(output_dir: str, results: dict[str, Any]) -> Path:
    """Write ``results.json`` atomically (temporary file, then rename): a reader never sees a half-written one."""
    path = Path(output_dir) / RESULTS_FILE
    temporary = path.with_name(f".{RESULTS_FILE}.tmp")
    temporary.write_text(json.dumps(results, indent=2, default=str) + "\n")
    os.replace(temporary, path)
    return path


def summary_line(results: dict[str, Any], output_dir: str) -> str:
    """The line a run ends with: the scores on the main metric, and for a student its retention (student /
    teacher), size ratio (teacher / student parameters) and measured speedup, then where the model was saved."""
    metric, stage = results.get("main_metric"), results.get("stage")
    side = results["teacher"] if stage == "teacher" else results["student"]
    parts = [f"{stage} {metric} {side['metrics'][metric]:.4f}"]
    if stage != "teacher":
        parts.append(f"teacher {results['teacher']['metrics'][metric]:.4f}")
        retention = (results.get("retention") or {}).get(metric)
        parts.append(f"retention {retention:.1%}" if retention is not None else "retention n/a")
        parts.append(f"{results['compression_ratio']:.2f}x fewer parameters")
        speedup = results.get("inference_speedup")
        parts.append(f"{speedup:.2f}x faster on {results['inference']['device']}" if speedup else "speed not timed")
    return ", ".join(parts) + f"; saved to {output_dir}"


def recorded(results: dict[str, Any], model_args) -> dict[str, Any]:
    """What ``results.json`` keeps of a run: ``results`` with the Hub ids given by ``--student_base_model`` /
    ``--teacher_hub_id`` and local model folders written so they cannot be read as Hub ids, through
    `hf_distill.hub.redaction.redact` (no token in the command or the settings)."""
    results = with_hub_ids(results, model_args.student_base_model, model_args.teacher_hub_id)
    for side in ("teacher", "student"):
        for key in ("name_or_path", "fine_tuned_from"):
            if isinstance(results.get(side), dict) and results[side].get(key):
                results[side] = {**results[side], key: local_path_marked(results[side][key])}
    return redact(results)


def local_path_marked(name: str) -> str:
    """``./name`` for a relative path to an existing folder (``runs/teacher`` also reads as a Hub id ``namespace/
    name``, so a card rendered elsewhere would link it to the Hub); anything else as it is."""
    if isinstance(name, str) and not name.startswith((".", "~", "/")) and os.path.isdir(name):
        return f"./{name}"
    return name


def configuration(model_args, data_args, training_args, method_args, config_path) -> dict[str, Any]:
    """The run's settings by group; ``method`` holds the method's own settings by class, including the fields a
    method's training-arguments class adds (MetaDistil's) so the model card finds them under the method's name."""
    method = {type(args).__name__: dataclasses.asdict(args) for args in method_args}
    base = {f.name for f in dataclasses.fields(DistillationTrainingArguments)}
    own = {f.name: getattr(training_args, f.name) for f in dataclasses.fields(training_args) if f.name not in base}
    if own:
        method[type(training_args).__name__] = own
    return {
        "config_file": config_path,
        "model": dataclasses.asdict(model_args),
        "data": dataclasses.asdict(data_args),
        "training": training_args.to_dict(),
        "method": method,
    }


def environment(training_args: DistillationTrainingArguments) -> dict[str, Any]:
    return {
        "num_processes": training_args.world_size,
        "device": str(training_args.device),
        "machine": f"{platform.machine()} {platform.processor()} ({os.cpu_count()} CPUs)".replace("  ", " "),
        "hardware": describe_hardware(training_args.device),
        "versions": {
            "hf_distill": hf_distill.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "datasets": datasets.__version__,
        },
    }


def train_summary(train_output: Any, trainer: Trainer, train_rows: int) -> dict[str, Any]:
    metrics = train_output.metrics
    return {
        "runtime_seconds": metrics.get("train_runtime"),
        "samples_per_second": metrics.get("train_samples_per_second"),
        "steps_per_second": metrics.get("train_steps_per_second"),
        "train_loss": metrics.get("train_loss"),
        "global_step": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_rows": train_rows,
    }
