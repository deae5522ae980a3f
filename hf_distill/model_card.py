"""Model cards for distilled students, rendered from a run's results with `huggingface_hub.ModelCard`.

The input is a *results* dict (what ``recipes/run_glue_distill.py`` writes to ``OUTPUT_DIR/results.json``, or what
[`DistillationTrainer.distillation_results`] collects). Every number in the card comes from it; a value the run did
not measure is left out of the card, never filled in. Keys (all optional except ``student``):

- ``method``: the distillation method (``"logit"``, ``"pkd"``, ``"theseus"``, ...).
- ``task``, ``dataset``: the task name and the evaluation data, ``{"id", "config", "split", "name"}``
  (a GLUE task name alone is enough: its Hub dataset is ``nyu-mll/glue``).
- ``metric``: the main metric (a key of the ``metrics`` below); ``license``, ``language``.
- ``teacher`` / ``student``: ``{"name_or_path", "hub_id", "architecture", "num_parameters", "size_bytes",
  "num_layers", "hidden_size", "init", "metrics": {name: value}}``; the student's ``hub_id`` (or its
  ``name_or_path`` when that is a Hub id) is the card's ``base_model``, the teacher's its ``teacher``.
- ``retention`` (student metric / teacher metric) and ``compression`` (teacher params / student params); computed
  from the two sides when absent.
- ``speedup``: a number, or ``{"value", "hardware", "batch_size", "sequence_length", "teacher_ms", "student_ms"}``.
- ``train_runtime`` (seconds), ``train_hardware``; ``config`` (the distillation settings) and ``training`` (the
  optimisation settings), both flat ``{name: value}``; ``command`` and ``recipe_config`` to reproduce the run;
  ``early_exit``: a list of rows ``{column: value}`` (or ``{"description", "rows"}``); ``versions``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE_PATH = Path(__file__).parent / "model_cards" / "distilled_student.md"

GLUE_TASKS = {
    "cola": "CoLA",
    "sst2": "SST-2",
    "mrpc": "MRPC",
    "qqp": "QQP",
    "stsb": "STS-B",
    "mnli": "MNLI",
    "qnli": "QNLI",
    "rte": "RTE",
    "wnli": "WNLI",
}
METHODS = {
    "logit": "logit distillation (Hinton et al., 2015): the student matches the teacher's softened output "
    "distribution",
    "bilstm": "distilled BiLSTM (Tang et al., 2019): a BiLSTM student regresses the teacher's logits",
    "distilbert": "DistilBERT-style distillation (Sanh et al., 2019): soft targets plus a cosine loss on hidden "
    "states",
    "pkd": "patient knowledge distillation, BERT-PKD (Sun et al., 2019): the student also matches normalised [CLS] "
    "states of chosen teacher layers",
    "tinybert": "TinyBERT-style distillation (Jiao et al., 2020): embeddings, hidden states, attention maps and "
    "logits",
    "mobilebert": "MobileBERT-style layer-wise transfer (Sun et al., 2020)",
    "minilm": "MiniLM self-attention distillation (Wang et al., 2020)",
    "theseus": "BERT-of-Theseus module replacement (Xu et al., 2020): student modules progressively replace the "
    "teacher's; only the successor (student) modules are kept",
    "fastbert": "FastBERT self-distillation with early exits (Liu et al., 2020)",
    "early_exit": "self-distillation into early-exit classifiers (FastBERT, Liu et al., 2020)",
    "metadistil": "MetaDistil (Zhou et al., 2022): the teacher is updated from the student's feedback",
}
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
NOT_METRICS = ("loss", "runtime", "_time", "samples_per_second", "steps_per_second", "epoch", "step")
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


def hub_id(side: Mapping[str, Any] | None) -> str | None:
    """A model's Hub id: its ``hub_id``, else its ``name_or_path`` when that is ``namespace/name`` and no local dir."""
    side = side or {}
    if side.get("hub_id"):
        return side["hub_id"]
    name = side.get("name_or_path")
    if isinstance(name, str) and HUB_ID.match(name) and not os.path.isdir(name):
        return name
    return None


def local_license(side: Mapping[str, Any] | None) -> str | None:
    """The ``license`` of a local checkpoint's own card (``name_or_path/README.md``), if it states one."""
    path = Path(str((side or {}).get("name_or_path") or "")) / "README.md"
    if not path.is_file():
        return None
    try:
        return ModelCard.load(path, ignore_metadata_errors=True).data.get("license")
    except (OSError, ValueError, yaml.YAMLError):
        return None


def dataset_info(results: Mapping[str, Any]) -> dict[str, str] | None:
    """``{"id", "config", "split", "name"}`` of the evaluation data, from ``dataset`` or a GLUE ``task``."""
    dataset = results.get("dataset")
    if isinstance(dataset, str):
        dataset = {"id": dataset}
    dataset = dict(dataset or {})
    task = str(results.get("task") or "").lower().replace("-", "")
    if task in GLUE_TASKS:
        dataset.setdefault("id", "nyu-mll/glue")
        dataset.setdefault("config", task)
        dataset.setdefault("name", f"GLUE {GLUE_TASKS[task]}")
    if not dataset.get("id") and not dataset.get("name"):
        return None
    dataset.setdefault("name", dataset.get("id"))
    dataset.setdefault("id", dataset.get("name"))
    return dataset


def pipeline_tag(results: Mapping[str, Any]) -> str | None:
    if results.get("pipeline_tag"):
        return results["pipeline_tag"]
    architecture = str(results["student"].get("architecture") or "")
    return next((tag for suffix, tag in PIPELINE_TAGS.items() if architecture.endswith(suffix)), None)


def derived(results: Mapping[str, Any]) -> dict[str, Any]:
    """Main metric, retention and compression: taken from the results, or computed from their two sides."""
    teacher, student = results.get("teacher") or {}, results["student"]
    teacher_metrics, student_metrics = metric_values(teacher.get("metrics")), metric_values(student.get("metrics"))
    metric = results.get("metric") or next(iter(student_metrics), None)
    metric = metric.removeprefix("eval_") if metric else None
    retention = results.get("retention")
    if retention is None and teacher_metrics.get(metric) and metric in student_metrics:
        retention = student_metrics[metric] / teacher_metrics[metric]
    compression = results.get("compression")
    if compression is None and teacher.get("num_parameters") and student.get("num_parameters"):
        compression = teacher["num_parameters"] / student["num_parameters"]
    return {"metric": metric, "retention": retention, "compression": compression}


def card_data(results: Mapping[str, Any], model_name: str) -> ModelCardData:
    """The card's YAML metadata (`ModelCardData`), with a ``model-index`` of the student's eval results."""
    teacher, student = results.get("teacher") or {}, results["student"]
    dataset, tag = dataset_info(results), pipeline_tag(results)
    student_metrics = metric_values(student.get("metrics"))
    eval_results = None
    if dataset and tag and student_metrics:
        eval_results = [
            EvalResult(
                task_type=tag,
                dataset_type=dataset["id"],
                dataset_name=dataset["name"],
                dataset_config=dataset.get("config"),
                dataset_split=dataset.get("split"),
                metric_type=name,
                metric_name=name,
                metric_value=value,
            )
            for name, value in student_metrics.items()
        ]
    method = results.get("method") or "logit"
    extra = {"teacher": hub_id(teacher)} if hub_id(teacher) else {}
    return ModelCardData(
        language=results.get("language"),
        license=results.get("license") or local_license(student) or local_license(teacher),
        library_name="transformers",
        base_model=hub_id(student),
        datasets=[dataset["id"]] if dataset and HUB_ID.match(dataset["id"]) else None,
        metrics=list(student_metrics) or None,
        pipeline_tag=tag,
        tags=["distillation", "hf_distill", method, *results.get("tags", [])],
        model_name=model_name,
        eval_results=eval_results,
        **extra,
    )


def render_model_card(
    results: Mapping[str, Any], repo_id: str | None = None, template_path: str | Path | None = None
) -> ModelCard:
    """The `ModelCard` of a distilled student from its run's ``results`` (see the module docstring for the keys).

    ``repo_id`` names the model and goes into the loading snippet; ``template_path`` replaces the default template
    (``hf_distill/model_cards/distilled_student.md``, Jinja2, receives every value built here).
    """
    if not isinstance(results.get("student"), Mapping):
        raise ValueError(
            "results needs a 'student' entry ({'num_parameters': ..., 'metrics': {...}, ...}); got keys "
            f"{sorted(results)}. Pass the dict the recipe writes to results.json or "
            "DistillationTrainer.distillation_results()."
        )
    model_name = (repo_id or results.get("model_name") or "distilled-student").split("/")[-1]
    data = card_data(results, model_name)
    card = ModelCard.from_template(
        data, template_path=str(template_path or TEMPLATE_PATH), **_template_values(results, repo_id, model_name, data)
    )
    return card


def _template_values(results: Mapping[str, Any], repo_id: str | None, model_name: str, data: ModelCardData) -> dict:
    teacher, student = results.get("teacher") or {}, results["student"]
    values = derived(results)
    metric, dataset = values["metric"], dataset_info(results)
    method = results.get("method") or "logit"
    description = METHODS.get(method, f"the `{method}` method")
    teacher_name = _model_label(teacher) if teacher else "a teacher"
    summary = f"A student model distilled from {teacher_name} with {description.split(':')[0]}"
    summary += f" on {dataset['name']}." if dataset else "."
    tag = data.pipeline_tag
    return {
        "model_name": model_name,
        "summary": summary,
        "details": _details(results, data, dataset),
        "method_description": f"Method: {description}.",
        "settings": [(name, _format(value)) for name, value in {**results.get("config", {})}.items()]
        + [(name, _format(value)) for name, value in results.get("training", {}).items()],
        "results_table": _results_table(teacher, student, metric, dataset),
        "results_notes": _results_notes(results, values, metric),
        **_early_exit(results.get("early_exit")),
        "auto_class": AUTO_CLASSES.get(tag, "AutoModel"),
        "pipeline_tag": tag,
        "load_id": repo_id or "path/to/this/model",
        "command": results.get("command"),
        "recipe_config": _yaml(results.get("recipe_config")),
        "versions": sorted((results.get("versions") or {}).items()),
    }


def _model_label(side: Mapping[str, Any]) -> str:
    identifier = hub_id(side)
    if identifier:
        return f"[{identifier}](https://huggingface.co/{identifier})"
    name = side.get("name_or_path")
    return f"`{Path(str(name)).name}` (a local checkpoint)" if name else "a model built in code"


def _details(results: Mapping[str, Any], data: ModelCardData, dataset: dict | None) -> list[tuple[str, str]]:
    teacher, student = results.get("teacher") or {}, results["student"]
    rows = [("Teacher", _model_label(teacher) if teacher else "not recorded")]
    init = _model_label(student) if student.get("name_or_path") or student.get("hub_id") else None
    if student.get("init"):
        init = f"{student['init']}" + (f", from {init}" if init else "")
    rows.append(("Student initialisation", init or "not recorded"))
    if student.get("architecture"):
        rows.append(("Student architecture", f"`{student['architecture']}`"))
    if dataset:
        split = f", {dataset['split']} split" if dataset.get("split") else ""
        rows.append(("Evaluation data", f"{dataset['name']}{split}"))
    rows.append(("Distillation method", f"`{results.get('method') or 'logit'}`"))
    rows.append(("License", data.license or "not stated; check the teacher's and the base model's licenses"))
    return rows


def _results_table(teacher: Mapping, student: Mapping, metric: str | None, dataset: dict | None) -> list[tuple]:
    rows = [("Model", _model_label(teacher) if teacher else "—", "this model")]
    for key, label in (("num_layers", "Layers"), ("hidden_size", "Hidden size")):
        if teacher.get(key) is not None or student.get(key) is not None:
            rows.append((label, _format(teacher.get(key)), _format(student.get(key))))
    if teacher.get("num_parameters") or student.get("num_parameters"):
        rows.append(("Parameters", _params(teacher.get("num_parameters")), _params(student.get("num_parameters"))))
    if teacher.get("size_bytes") or student.get("size_bytes"):
        rows.append(("Size on disk", _size(teacher.get("size_bytes")), _size(student.get("size_bytes"))))
    teacher_metrics, student_metrics = metric_values(teacher.get("metrics")), metric_values(student.get("metrics"))
    where = f" ({dataset['name']}{', ' + dataset['split'] if dataset.get('split') else ''})" if dataset else ""
    for name in dict.fromkeys([*([metric] if metric else []), *student_metrics, *teacher_metrics]):
        if name in student_metrics or name in teacher_metrics:
            rows.append((f"{name}{where}", _format(teacher_metrics.get(name)), _format(student_metrics.get(name))))
    return rows if len(rows) > 1 else []


def _results_notes(results: Mapping[str, Any], values: dict, metric: str | None) -> list[str]:
    notes = []
    if values["retention"] is not None and metric:
        notes.append(f"**Retention:** the student keeps {values['retention']:.1%} of the teacher's {metric}.")
    if values["compression"] is not None:
        notes.append(f"**Compression:** {values['compression']:.2f}x fewer parameters than the teacher.")
    speedup = results.get("speedup")
    if isinstance(speedup, int | float):
        speedup = {"value": speedup}
    if speedup and speedup.get("value") is not None:
        setup = [f"{k.replace('_', ' ')} {speedup[k]}" for k in ("batch_size", "sequence_length") if speedup.get(k)]
        timing = ""
        if speedup.get("teacher_ms") is not None and speedup.get("student_ms") is not None:
            timing = f" ({_format(speedup['teacher_ms'])} ms vs {_format(speedup['student_ms'])} ms per batch)"
        hardware = f" on {speedup['hardware']}" if speedup.get("hardware") else " (hardware not recorded)"
        setup_text = f", {', '.join(setup)}" if setup else ""
        notes.append(
            f"**Speedup:** {speedup['value']:.2f}x faster inference than the teacher{timing}, measured"
            f"{hardware}{setup_text}."
        )
    if results.get("train_runtime") is not None:
        where = f" on {results['train_hardware']}" if results.get("train_hardware") else ""
        notes.append(f"**Training time:** {_duration(results['train_runtime'])}{where}.")
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


def _yaml(config: Any) -> str | None:
    if not config:
        return None
    return config.strip() if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False).strip()


def _format(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or isinstance(value, int):
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


def _duration(seconds: float) -> str:
    minutes, secs = divmod(float(seconds), 60)
    return f"{int(minutes)} min {secs:.0f} s" if minutes else f"{secs:.1f} s"
