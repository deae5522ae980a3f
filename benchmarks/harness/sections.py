"""The four measurements of ``benchmarks/run.py``, each checking what this checkout can run before running it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import inference as inference_bench
from . import quality as quality_bench
from . import training
from .models import spec


def _missing(path: str | None) -> str | None:
    if not path or not Path(path).is_dir():
        return f"checkpoint {path} not found"
    return None


def training_cost(case: dict, sizes: dict, features: dict) -> dict[str, Any]:
    """Samples/s and peak memory of each training method on ``case``'s student, ratios to plain fine-tuning."""
    if _missing(case["teacher"]):
        return {"error": _missing(case["teacher"])}
    not_available = {}
    methods = list(training.BASE_METHODS)
    sizes = dict(sizes)
    presets = sizes.pop("presets", None)
    if features["intermediate_presets"]["available"]:
        from hf_distill.terms import PRESETS

        methods += [f"preset:{name}" for name in (presets or PRESETS)]
    else:
        not_available["intermediate presets"] = features["intermediate_presets"]["reason"]
    results = training.measure(methods, spec(case["teacher"]), case["student"], **sizes)
    isolated = all(run["memory_isolated"] for entry in results.values() for run in entry.get("runs", []))
    return {
        "case": case["name"],
        **sizes,
        "cached_kd_source": "hf_distill.cache" if features["teacher_cache"]["available"] else "teacher_logits column",
        "memory_isolated": isolated,
        "methods": results,
        "not_available": not_available,
    }


def seq_len_scaling(case: dict, sizes: dict) -> dict[str, Any]:
    """Step time of plain fine-tuning, logit KD and the docs KD trainer at each sequence length (in this process:
    in this process: CPU memory figures here are approximate, the training-cost section isolates each run)."""
    if _missing(case["teacher"]):
        return {"error": _missing(case["teacher"])}
    sizes = dict(sizes)
    lengths = sizes.pop("lengths")
    by_length = {}
    for length in lengths:
        results = training.measure(
            ["plain", "logit_kd", "docs_kd"], spec(case["teacher"]), case["student"], seq_len=length, isolated=False,
            **sizes,
        )  # fmt: skip
        results["logit_kd"]["overhead_vs_docs_kd"] = (
            results["logit_kd"]["step_time_s"] / results["docs_kd"]["step_time_s"]
        )
        by_length[str(length)] = results
    return {"case": case["name"], "lengths": lengths, **sizes, "by_length": by_length}


def inference(cases: list[dict], sizes: dict, features: dict, glue_dir: str) -> dict[str, Any]:
    """Teacher vs exported student speed for each case whose teacher checkpoint exists; FastBERT speeds."""
    sizes = dict(sizes)
    fastbert_sizes = sizes.pop("fastbert")
    out: dict[str, Any] = {"cases": {}, "not_available": {}, "fastbert": {}}
    for case in cases:
        if _missing(case["teacher"]):
            out["not_available"][case["name"]] = _missing(case["teacher"])
            continue
        out["cases"][case["name"]] = inference_bench.measure_case(case, sizes)
    if not features["fastbert"]["available"]:
        out["not_available"]["FastBERT early exit"] = features["fastbert"]["reason"]
        return out
    from . import fastbert

    for case in cases:
        if case["name"] in fastbert_sizes["cases"] and not _missing(case["teacher"]):
            out["fastbert"][case["name"]] = fastbert.measure_case(case, fastbert_sizes, glue_dir)
    return out


def quality(
    cases: list[dict],
    sizes: dict,
    glue_dir: str,
    features: dict,
    reuse: list[str],
    only: list[str] | None = None,
    scratch_dir: str = ".",
) -> dict[str, Any]:
    """Teacher, student alone and each method per case and task; results of other scripts when given."""
    out: dict[str, Any] = {"cases": {}, "not_available": {}, "reused": []}
    methods = list(quality_bench.CORE_METHODS)
    if features["intermediate_presets"]["available"]:
        from hf_distill.terms import PRESETS

        methods += [f"preset:{name}" for name in (sizes.get("presets") or PRESETS)]
        methods += [f"preset:{name}" for name in sizes.get("preset_args", {}) if "@" in name]  # variants
    else:
        out["not_available"]["intermediate presets"] = features["intermediate_presets"]["reason"]
    if features["recipes"]["available"]:
        methods += quality_bench.recipe_methods(sizes)
    else:
        out["not_available"]["recipe methods (Theseus, MetaDistil, BiLSTM, ...)"] = features["recipes"]["reason"]
    only = only or sizes.get("methods")
    if only and only != ["all"]:
        skipped = [method for method in methods if method not in only and method.split(":", 1)[-1] not in only]
        if skipped:
            out["not_available"]["not trained in this run"] = (
                ", ".join(skipped) + " (--quality-methods all trains them)"
            )
        methods = [method for method in methods if method not in skipped]
    for case in cases:
        if sizes.get("cases") and case["name"] not in sizes["cases"]:
            out["not_available"][case["name"]] = f"not trained in this suite (it trains cases {sizes['cases']})"
            continue
        for task in sizes["tasks"]:
            teacher = case["teachers"].get(task)
            key = f"{case['name']} {task}"
            if _missing(teacher) and sizes.get("finetune_missing_teachers"):
                target = str(Path(scratch_dir) / "teachers" / f"{case['name'].replace('>', '')}-{task}")
                out.setdefault("teachers_finetuned_here", {})[key] = quality_bench.finetune_teacher(
                    case["student"]["path"], task, glue_dir, sizes, target
                )
                teacher = target
            if _missing(teacher):
                out["not_available"][key] = _missing(teacher)
                continue
            case_for_task = {**case, "teacher": teacher}
            out["cases"][key] = quality_bench.measure_case(case_for_task, task, glue_dir, sizes, methods)
    measured = next(iter(out["cases"].values()), None)
    teacher_score = measured["methods"]["teacher"]["score"] if measured else None
    teacher_source = f"teacher measured in this run ({next(iter(out['cases']), '')})"
    for path in reuse:
        out["reused"].append(quality_bench.load_reused(path, teacher_score, teacher_source))
    return out
