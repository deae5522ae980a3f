"""Model cards for distilled students, rendered from a run's results with `huggingface_hub.ModelCard`.

The input is a *results* dict: the ``OUTPUT_DIR/results.json`` that ``recipes/run_glue_distill.py`` writes, or what
[`DistillationTrainer.distillation_results`] collects, in the same format. Every number in the card comes from it; a
value the run did not measure is left out of the card, never filled in. The keys used (all optional but ``student``):

- ``distill_method``; ``task`` (a GLUE task name gives the Hub dataset ``nyu-mll/glue``), ``eval_split``,
  ``main_metric``; ``dataset`` (``{"id", "config", "split", "name"}``) for other data; ``license``, ``language``,
  ``tags``, ``pipeline_tag`` to set those directly.
- ``teacher`` / ``student``: ``{"name_or_path", "hub_id", "architecture", "parameters", "size_bytes",
  "num_layers", "hidden_size", "layers" (the teacher layers a student kept), "metrics": {name: value},
  "metrics_by_split": {split: {name: value}}, "inference_seconds"}``. The student's ``hub_id`` (or a
  ``name_or_path`` that is a Hub id) is the card's ``base_model``; the teacher's is its ``teacher``.
- ``retention`` (``{metric: student / teacher}`` or one number) and ``compression_ratio`` (teacher parameters /
  student parameters): computed from the two sides when absent.
- ``inference_speedup`` with ``inference`` (``{"examples", "batch_size", "repeats", "device"}``) and ``hardware``
  or ``machine``; ``train`` (``{"runtime_seconds", ...}``) and ``num_processes``; ``versions``.
- ``config``: ``{"config_file", "model", "data", "training", "method"}``: the settings of the method that ran go
  into the card (the distillation fields of ``training`` it uses, its own ``method`` arguments, the student's
  layers, the main optimisation settings); other methods' arguments are left out.
- ``command``: how the run was launched; ``early_exit``: rows ``{column: value}`` (or ``{"description", "rows"}``).

Everything rendered goes through [`hf_distill.hub.redaction.redact`] first: no token, and no absolute path of the
training machine (``./x``, ``~/x`` or ``.../name`` instead), reaches the card.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import TrainingArguments

from ..arguments import DistillationTrainingArguments
from ..glue import GLUE_TASKS
from ..papers import PAPERS
from .redaction import redact

TEMPLATE_PATH = Path(__file__).parent / "templates" / "distilled_student.md"

PIPELINE_TAGS = {
    "ForSequenceClassification": "text-classification",
    "ForTokenClassification": "token-classification",
    "ForQuestionAnswering": "question-answering",
    "ForMaskedLM": "fill-mask",
    "ForMultipleChoice": "multiple-choice",
}
AUTO_CLASSES = {
    "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "fill-mask": "AutoModelForMaskedLM",
    "multiple-choice": "AutoModelForMultipleChoice",
}
# Optimisation settings shown next to the distillation ones (the rest of TrainingArguments is in results.json).
TRAINING_KEYS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size")
TRAINING_KEYS += ("gradient_accumulation_steps", "warmup_steps", "weight_decay", "seed")
NOT_METRICS = ("loss", "runtime", "_time", "samples_per_second", "steps_per_second", "epoch", "step")
# Methods trained on their own objective (task loss, self-distillation), not the logit distillation of
# DistillationTrainingArguments: their cards show only how the teacher was loaded of those settings.
OWN_OBJECTIVE = ("theseus", "fastbert", "early_exit")
TEACHER_SETTINGS = ("teacher_dtype", "teacher_model_init_kwargs")
# Settings that only act through intermediate-layer terms (intermediate_terms, or a distill_preset that fills them).
INTERMEDIATE_SETTINGS = ("layer_mapping", "distill_phases", "intermediate_phase_ratio", "intermediate_weight")
# Distillation arguments that are no setting of the method: the teacher (its own row of the card, never a path of the
# training machine) and how evaluation runs.
NOT_SETTINGS = ("teacher_model_name_or_path", "eval_teacher_cache_mb")
# Data settings a card shows when the student also trained on teacher-labelled augmented copies.
AUGMENT_SETTINGS = ("augment_copies", "augment_mask_prob", "augment_replace_prob", "augment_ngram_prob")
AUGMENT_SETTINGS += ("augment_top_k", "augment_mlm_model", "augment_hard_labels")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def metric_values(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The quality metrics of an eval dict: ``eval_`` prefixes dropped, losses/runtimes/counters left out."""
    values = {}
    for key, value in (metrics or {}).items():
        name = key.removeprefix("eval_")
        if isinstance(value, bool) or not isinstance(value, int | float) or name.endswith(NOT_METRICS):
            continue
        values[name] = value
    return values


def local_folder(name: str | os.PathLike | None) -> Path | None:
    """The local folder ``name`` names (``~`` expanded), or None."""
    if not isinstance(name, str | os.PathLike) or not str(name):
        return None
    path = Path(name).expanduser()
    return path if path.is_dir() else None


def hub_id(side: Mapping[str, Any] | None) -> str | None:
    """A model's Hub id: its ``hub_id``, else its ``name_or_path`` when that is ``namespace/name`` and no local dir."""
    side = side or {}
    if side.get("hub_id"):
        return side["hub_id"]
    name = side.get("name_or_path")
    if isinstance(name, str) and HUB_ID.match(name) and local_folder(name) is None:
        return name
    return None


def local_license(side: Mapping[str, Any] | None) -> str | None:
    """The ``license`` stated by a local checkpoint's own card (``name_or_path/README.md``), if any."""
    folder = local_folder((side or {}).get("name_or_path"))
    path = folder / "README.md" if folder is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return ModelCard.load(path, ignore_metadata_errors=True).data.get("license")
    except (OSError, ValueError, yaml.YAMLError):
        return None


def dataset_info(results: Mapping[str, Any]) -> dict[str, str] | None:
    """``{"id", "config", "split", "name"}`` of the evaluation data, from ``dataset`` or a GLUE ``task``."""
    dataset = results.get("dataset")
    dataset = dict({"id": dataset} if isinstance(dataset, str) else dataset or {})
    task = str(results.get("task") or "").lower().replace("-", "")
    if task in GLUE_TASKS:
        dataset.setdefault("id", "nyu-mll/glue")
        dataset.setdefault("config", task)
        dataset.setdefault("name", f"GLUE {GLUE_TASKS[task].folder}")
    if results.get("eval_split"):
        dataset.setdefault("split", results["eval_split"])
    if not dataset.get("id") and not dataset.get("name"):
        return None
    dataset.setdefault("name", dataset.get("id"))
    dataset.setdefault("id", dataset.get("name"))
    return dataset


def pipeline_tag(results: Mapping[str, Any]) -> str | None:
    if results.get("pipeline_tag"):
        return results["pipeline_tag"]
    architecture = str(results["student"].get("architecture") or "")
    if not architecture and str(results.get("task") or "").lower().replace("-", "") in GLUE_TASKS:
        return "text-classification"  # the recipe's GLUE students are sequence classifiers
    return next((tag for suffix, tag in PIPELINE_TAGS.items() if architecture.endswith(suffix)), None)


def split_metrics(side: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str | None, dict[str, float]]:
    """``{split: metrics}`` of a teacher/student entry (split ``None`` when the run names none)."""
    by_split = side.get("metrics_by_split")
    if by_split:
        return {split: metric_values(metrics) for split, metrics in by_split.items()}
    return {results.get("eval_split"): metric_values(side.get("metrics"))} if side.get("metrics") else {}


def derived(results: Mapping[str, Any]) -> dict[str, Any]:
    """Main metric, retention per metric and compression: from the results, or computed from their two sides."""
    teacher, student = results.get("teacher") or {}, results["student"]
    teacher_metrics, student_metrics = metric_values(teacher.get("metrics")), metric_values(student.get("metrics"))
    metric = results.get("main_metric") or next(iter(student_metrics), None)
    retention = results.get("retention")
    if isinstance(retention, int | float):
        retention = {metric: retention}
    if retention is None:
        retention = {
            name: value / teacher_metrics[name] for name, value in student_metrics.items() if teacher_metrics.get(name)
        }
    compression = results.get("compression_ratio")
    if compression is None and teacher.get("parameters") and student.get("parameters"):
        compression = teacher["parameters"] / student["parameters"]
    return {
        "metric": metric,
        "retention": {k: v for k, v in retention.items() if v is not None},
        "compression": compression,
    }


def card_data(results: Mapping[str, Any], model_name: str) -> ModelCardData:
    """The card's YAML metadata (`ModelCardData`), with a ``model-index`` of the student's eval results."""
    teacher, student = results.get("teacher") or {}, results["student"]
    dataset, tag = dataset_info(results), pipeline_tag(results)
    eval_results = []
    for split, metrics in split_metrics(student, results).items():
        for name, value in metrics.items():
            if dataset and tag:
                eval_results.append(
                    EvalResult(
                        task_type=tag,
                        dataset_type=dataset["id"],
                        dataset_name=dataset["name"],
                        dataset_config=dataset.get("config"),
                        dataset_split=split or dataset.get("split"),
                        metric_type=name,
                        metric_name=name,
                        metric_value=value,
                    )
                )
    metric_names = list(
        dict.fromkeys(name for metrics in split_metrics(student, results).values() for name in metrics)
    )
    method = results.get("distill_method") or "logit"
    extra = {"teacher": hub_id(teacher)} if hub_id(teacher) else {}
    return ModelCardData(
        language=results.get("language"),
        license=results.get("license") or local_license(student) or local_license(teacher),
        library_name="transformers",
        base_model=hub_id(student),
        datasets=[dataset["id"]] if dataset and HUB_ID.match(dataset["id"]) else None,
        metrics=metric_names or None,
        pipeline_tag=tag,
        tags=["distillation", "hf_distill", method, *results.get("tags", [])],
        model_name=model_name,
        eval_results=eval_results or None,
        **extra,
    )


def render_model_card(
    results: Mapping[str, Any], repo_id: str | None = None, template_path: str | Path | None = None
) -> ModelCard:
    """The `ModelCard` of a distilled student from its run's ``results`` (see the module docstring for the keys).

    ``repo_id`` names the model and goes into the loading snippet; ``template_path`` replaces the default template
    (``hf_distill/hub/templates/distilled_student.md``, Jinja2, receives every value built here).
    """
    if not isinstance(results.get("student"), Mapping):
        raise ValueError(
            f"results need a 'student' entry (got keys {sorted(results)}): pass the results.json of a distillation "
            "run (not of a --stage teacher run) or DistillationTrainer.distillation_results()."
        )
    # Local files are read before paths are shortened; nothing the card shows holds a secret or a machine path.
    license = results.get("license") or local_license(results["student"]) or local_license(results.get("teacher"))
    results = redact({**results, "license": license}, paths=True)
    model_name = (repo_id or results.get("model_name") or "distilled-student").split("/")[-1]
    data = card_data(results, model_name)
    values = _template_values(results, repo_id, model_name, data)
    return ModelCard.from_template(data, template_path=str(template_path or TEMPLATE_PATH), **values)


def _template_values(results: Mapping[str, Any], repo_id: str | None, model_name: str, data: ModelCardData) -> dict:
    teacher = results.get("teacher") or {}
    values, dataset = derived(results), dataset_info(results)
    method = results.get("distill_method") or "logit"
    preset = ((results.get("config") or {}).get("training") or {}).get("distill_preset")
    paper = PAPERS.get(preset if method == "logit" and preset in PAPERS else method)
    description = paper.description if paper else f"the `{method}` method"
    summary = f"A student model distilled from {_model_label(teacher) if teacher else 'a teacher'} with "
    summary += description.split(":")[0] + (f" on {dataset['name']}." if dataset else ".")
    return {
        "model_name": model_name,
        "summary": summary,
        "details": _details(results, data, dataset),
        "method_description": f"Method: {description}." + (f" Paper: {paper.citation}." if paper else ""),
        "settings": [(name, _format(value)) for name, value in _settings(results.get("config") or {}, method).items()],
        "results_table": _results_table(results, values["metric"], dataset),
        "results_notes": _results_notes(results, values),
        **_early_exit(results.get("early_exit")),
        "auto_class": AUTO_CLASSES.get(data.pipeline_tag, "AutoModel"),
        "pipeline_tag": data.pipeline_tag,
        "load_id": repo_id or "path/to/this/model",
        "command": results.get("command"),
        "config_file": (results.get("config") or {}).get("config_file"),
        "versions": sorted((results.get("versions") or {}).items()),
    }


def _settings(config: Mapping[str, Any], method: str) -> dict[str, Any]:
    """The settings of the run's ``method``, from ``results["config"]``: the distillation fields that act in it, the
    method's own arguments (``config["method"]``, by class: ``TheseusArguments`` for ``theseus``,
    ``MetaDistilTrainingArguments`` for ``metadistil``), the student's layers, the data augmentation when there was
    one, and the main optimisation settings. Other methods' arguments are left out."""
    training = config.get("training") or {}
    base = {f.name for f in dataclasses.fields(TrainingArguments)}
    own = [f.name for f in dataclasses.fields(DistillationTrainingArguments) if f.name not in base]
    names = [name for name in own if name not in NOT_SETTINGS]
    if method in OWN_OBJECTIVE:
        names = [name for name in names if name in TEACHER_SETTINGS]
    if not training.get("intermediate_terms"):
        names = [name for name in names if name not in INTERMEDIATE_SETTINGS]
    elif training.get("distill_phases") != "intermediate_then_prediction":
        names.remove("intermediate_phase_ratio")
    settings = {name: training[name] for name in names if training.get(name) is not None}
    for arguments, method_settings in (config.get("method") or {}).items():
        if _normalised(str(arguments).removesuffix("Arguments").removesuffix("Training")) == _normalised(method):
            settings.update({k: v for k, v in (method_settings or {}).items() if v is not None})
    for name in ("student_layers", "student_num_layers"):
        if (config.get("model") or {}).get(name) is not None:
            settings[name] = config["model"][name]
    data = config.get("data") or {}
    if data.get("max_seq_length") is not None:
        settings["max_seq_length"] = data["max_seq_length"]
    if data.get("augment_copies"):
        settings.update({name: data[name] for name in AUGMENT_SETTINGS if data.get(name) is not None})
    settings.update({name: training[name] for name in TRAINING_KEYS if training.get(name) not in (None, -1)})
    return settings


def _normalised(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _model_label(side: Mapping[str, Any]) -> str:
    identifier = hub_id(side)
    if identifier:
        return f"[{identifier}](https://huggingface.co/{identifier})"
    name = side.get("name_or_path")
    return f"`{Path(str(name)).name}` (a local checkpoint)" if name else "a model built in code"


def _details(results: Mapping[str, Any], data: ModelCardData, dataset: dict | None) -> list[tuple[str, str]]:
    teacher, student = results.get("teacher") or {}, results["student"]
    rows = [("Teacher", _model_label(teacher) if teacher else "not recorded")]
    rows.append(("Student initialisation", _student_origin(student)))
    if student.get("architecture"):
        rows.append(("Student architecture", f"`{student['architecture']}`"))
    if dataset:
        rows.append(
            ("Evaluation data", dataset["name"] + (f", {dataset['split']} split" if dataset.get("split") else ""))
        )
    rows.append(("Distillation method", f"`{results.get('distill_method') or 'logit'}`"))
    rows.append(("License", data.license or "not stated; check the teacher's and the base model's licenses"))
    return rows


def _student_origin(student: Mapping[str, Any]) -> str:
    """Where the student's weights came from: its checkpoint, the layers kept of it, or the teacher's layers."""
    init = _model_label(student) if student.get("name_or_path") or student.get("hub_id") else None
    layers = student.get("layers")
    if layers is None:
        return init or "not recorded"
    if init:  # the layers were cut from the student checkpoint, not from the teacher
        return f"{init}, keeping its layers {_format(layers)} (embeddings and classifier copied)"
    return f"the teacher's layers {_format(layers)} (embeddings and classifier copied)"


def _results_table(results: Mapping[str, Any], metric: str | None, dataset: dict | None) -> list[tuple]:
    teacher, student = results.get("teacher") or {}, results["student"]
    rows = [("Model", _model_label(teacher) if teacher else "—", "this model")]
    for key, label in (("num_layers", "Layers"), ("hidden_size", "Hidden size")):
        if teacher.get(key) is not None or student.get(key) is not None:
            rows.append((label, _format(teacher.get(key)), _format(student.get(key))))
    if teacher.get("parameters") or student.get("parameters"):
        rows.append(("Parameters", _params(teacher.get("parameters")), _params(student.get("parameters"))))
    if teacher.get("size_bytes") or student.get("size_bytes"):
        rows.append(("Size on disk", _size(teacher.get("size_bytes")), _size(student.get("size_bytes"))))
    teacher_splits, student_splits = split_metrics(teacher, results), split_metrics(student, results)
    for split in dict.fromkeys([*student_splits, *teacher_splits]):
        t_metrics, s_metrics = teacher_splits.get(split, {}), student_splits.get(split, {})
        where = ", ".join(part for part in (dataset["name"] if dataset else None, split) if part)
        for name in dict.fromkeys([*([metric] if metric else []), *s_metrics, *t_metrics]):
            if name in s_metrics or name in t_metrics:
                label = f"{name} ({where})" if where else name
                rows.append((label, _format(t_metrics.get(name)), _format(s_metrics.get(name))))
    if teacher.get("inference_seconds") is not None or student.get("inference_seconds") is not None:
        examples = (results.get("inference") or {}).get("examples")
        label = f"Inference time ({examples} examples)" if examples else "Inference time"
        rows.append((label, _seconds(teacher.get("inference_seconds")), _seconds(student.get("inference_seconds"))))
    return rows if len(rows) > 1 else []


def _hardware(results: Mapping[str, Any], device: str | None = None) -> str | None:
    if results.get("hardware"):
        return results["hardware"]
    device, machine = device or results.get("device"), results.get("machine")
    if device and machine:
        return f"{'CPU' if str(device).startswith('cpu') else device}, {machine}"
    return machine or device


def _results_notes(results: Mapping[str, Any], values: dict) -> list[str]:
    notes = []
    metric, retention = values["metric"], values["retention"]
    for name, value in sorted(retention.items(), key=lambda item: item[0] != metric):
        notes.append(f"**Retention:** the student keeps {value:.1%} of the teacher's {name}.")
    if values["compression"] is not None:
        notes.append(f"**Compression:** {values['compression']:.2f}x fewer parameters than the teacher.")
    speedup, inference = results.get("inference_speedup"), results.get("inference") or {}
    if speedup is not None:
        setup = [
            f"{key.replace('_', ' ')} {inference[key]}" for key in ("batch_size", "repeats") if inference.get(key)
        ]
        setup = [part.replace("repeats", "best of") for part in setup]
        hardware = _hardware(results, inference.get("device"))
        where = f"on {hardware}" if hardware else "(hardware not recorded)"
        notes.append(
            f"**Speedup:** {speedup:.2f}x faster inference than the teacher, measured {where}"
            + (f"; {', '.join(setup)}." if setup else ".")
        )
    runtime = (results.get("train") or {}).get("runtime_seconds")
    if runtime is not None:
        hardware = _hardware(results)
        processes = results.get("num_processes")
        where = f" on {hardware}" if hardware else ""
        where += f", {processes} processes" if processes and processes > 1 else ""
        notes.append(f"**Training time:** {_duration(runtime)}{where}.")
    return notes


def _early_exit(curve: Any) -> dict[str, Any]:
    if not curve:
        return {"early_exit_rows": []}
    description = "Accuracy against speed when the student stops at the first exit confident enough:"
    if isinstance(curve, Mapping):
        description = curve.get("description") or description
        curve = curve.get("rows") or curve.get("curve") or []
    header = list(dict.fromkeys(key for row in curve for key in row))
    rows = [[_format(row.get(key)) for key in header] for row in curve]
    return {"early_exit_description": description, "early_exit_header": header, "early_exit_rows": rows}


def _format(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, list | tuple | dict):
        return f"`{json.dumps(value)}`"
    return str(value)


def _params(count: int | None) -> str:
    if count is None:
        return "—"
    return f"{count / 1e6:.1f}M ({count:,})" if count >= 1e6 else f"{count / 1e3:.1f}k ({count:,})"


def _size(size: int | None) -> str:
    return "—" if size is None else f"{size / 1e6:.1f} MB"


def _seconds(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.3g} s"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(float(seconds), 60)
    return f"{int(minutes)} min {secs:.0f} s" if minutes else f"{secs:.1f} s"
