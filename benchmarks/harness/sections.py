"""The four measurements of ``benchmarks/run.py``, each checking what this checkout can run before running it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hf_distill.terms import PRESETS

from . import fastbert, store, training
from . import inference as inference_bench
from . import quality as quality_bench
from .models import has_weights, spec


def _missing(path: str | None, weights: bool = True) -> str | None:
    """Why ``path`` cannot be used: no such folder, or (``weights``) a config-only folder (timing only)."""
    if not path or not Path(path).is_dir():
        return f"checkpoint {path} not found"
    if weights and not has_weights(path):
        return f"checkpoint {path} has no weights (config only: used for timing, not for scores)"
    return None


def describe_weights(path: str) -> str:
    """How a timing-only teacher was built: a pre-trained checkpoint, or random weights from a config."""
    return "pre-trained (task head random)" if has_weights(path) else "random (config only)"


def training_section(cases: list[dict], sizes: dict) -> dict[str, Any]:
    """The training-cost section: of the suite's first case, or of each case the sizes name in ``cases`` (then
    ``{"by_case": {name: section}}``)."""
    sizes = dict(sizes)
    names = sizes.pop("cases", None)
    if not names:
        return training_cost(cases[0], sizes)
    chosen = [case for case in cases if case["name"] in names]
    return {"by_case": {case["name"]: training_cost(case, sizes) for case in chosen}}


def training_cost(case: dict, sizes: dict) -> dict[str, Any]:
    """Samples/s and peak memory of each training method on ``case``'s student, ratios to plain fine-tuning (overall
    and round by round), the library's step time against the docs-style KD subclass, and the evaluation time with
    the teacher's eval logits reused against running the teacher."""
    teacher = case.get("speed_teacher", case["teacher"])
    if _missing(teacher, weights=False):
        return {"error": _missing(teacher, weights=False)}
    not_available = {}
    methods = list(training.BASE_METHODS)
    sizes = dict(sizes)
    presets = sizes.pop("presets", None)
    methods += [f"preset:{name}" for name in (presets or PRESETS)]
    results = training.measure(methods, spec(teacher), case["student"], **sizes)
    isolated = all(run["memory_isolated"] for entry in results.values() for run in entry.get("runs", []))
    cached_runs = results.get("cached_kd", {}).get("runs") or [{}]
    pairs = {}
    if "runs" in results.get("logit_kd", {}) and "runs" in results.get("docs_kd", {}):
        pairs["logit_kd / docs_kd"] = training.round_ratios(results["logit_kd"], results["docs_kd"])
    evaluation = training.time_evaluation(
        spec(teacher), case["student"], sizes["seq_len"], sizes["batch"], sizes["batch"] * sizes["steps"],
        sizes["rounds"],
    )  # fmt: skip
    return {
        "case": case["name"],
        "teacher_weights": "fine-tuned" if teacher == case["teacher"] else describe_weights(teacher),
        **sizes,
        "cached_kd_source": (cached_runs[0].get("teacher_cache") or {}).get("source"),
        "memory_isolated": isolated,
        "methods": results,
        "pairs": pairs,
        "evaluation": evaluation,
        "not_available": not_available,
    }


def seq_len_scaling(case: dict, sizes: dict) -> dict[str, Any]:
    """Step time of plain fine-tuning, logit KD and the docs KD trainer at each sequence length (in this process:
    in this process: CPU memory figures here are approximate, the training-cost section isolates each run)."""
    teacher = case.get("speed_teacher", case["teacher"])
    if _missing(teacher, weights=False):
        return {"error": _missing(teacher, weights=False)}
    sizes = dict(sizes)
    lengths = sizes.pop("lengths")
    by_length = {}
    for length in lengths:
        results = training.measure(
            ["plain", "logit_kd", "docs_kd"], spec(teacher), case["student"], seq_len=length, isolated=False,
            **sizes,
        )  # fmt: skip
        results["logit_kd"]["overhead_vs_docs_kd"] = (
            results["logit_kd"]["step_time_s"] / results["docs_kd"]["step_time_s"]
        )
        by_length[str(length)] = results
    return {"case": case["name"], "lengths": lengths, **sizes, "by_length": by_length}


def inference(cases: list[dict], sizes: dict, glue_dir: str) -> dict[str, Any]:
    """Teacher vs exported student speed for each case whose teacher checkpoint exists; FastBERT speeds."""
    sizes = dict(sizes)
    fastbert_sizes = sizes.pop("fastbert")
    out: dict[str, Any] = {"cases": {}, "not_available": {}, "fastbert": {}}
    for case in cases:
        teacher = case.get("speed_teacher", case["teacher"])
        if _missing(teacher, weights=False):
            out["not_available"][case["name"]] = _missing(teacher, weights=False)
            continue
        measured = inference_bench.measure_case({**case, "teacher": teacher}, sizes)
        measured["teacher_weights"] = "fine-tuned" if teacher == case["teacher"] else describe_weights(teacher)
        out["cases"][case["name"]] = measured
    for case in cases:
        if case["name"] in fastbert_sizes["cases"] and not _missing(case["teacher"]):
            out["fastbert"][case["name"]] = fastbert.measure_case(case, fastbert_sizes, glue_dir)
    return out


def quality(
    cases: list[dict],
    sizes: dict,
    glue_dir: str,
    reuse: list[str],
    only: list[str] | None = None,
    previous: dict[str, Any] | None = None,
    wanted: Callable[[str], bool] | None = None,
    persist: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Teacher, student alone and each method per case and task; results of other scripts when given.

    Each method of each case and task is a unit named ``quality/<case> <task>/<method>``: those in ``previous``
    (an earlier run's section) are kept, not retrained; only the units ``wanted`` accepts run, and ``persist`` gets
    the section after each one, so a run cut short keeps every method it finished. ``wanted`` is asked again just
    before each method runs (it may hold a time budget)."""
    wanted = wanted or (lambda name: True)
    out: dict[str, Any] = {"cases": dict((previous or {}).get("cases", {})), "not_available": {}, "reused": []}
    methods = quality_methods(sizes, only, out["not_available"])
    for case in cases:
        if sizes.get("cases") and case["name"] not in sizes["cases"]:
            out["not_available"][case["name"]] = f"not trained in this suite (it trains cases {sizes['cases']})"
            continue
        for task in sizes["tasks"]:
            key = f"{case['name']} {task}"
            done = out["cases"].get(key, {}).get("methods", {})
            todo = [m for m in methods if wanted(f"quality/{key}/{m}") and not store.done(done.get(m))]
            if not todo:
                continue
            teacher = task_teacher(case, task, glue_dir, sizes, out)
            if _missing(teacher):
                out["not_available"][key] = _missing(teacher)
                continue

            def save(entry: dict[str, Any], key: str = key) -> None:
                out["cases"][key] = entry
                if persist is not None:
                    persist(out)

            quality_bench.measure_case(
                {**case, "teacher": teacher}, task, glue_dir, sizes, todo, done, save,
                lambda method, key=key: wanted(f"quality/{key}/{method}"),
            )  # fmt: skip
    measured = next(iter(out["cases"].values()), None)
    teacher_score = measured["methods"]["teacher"]["score"] if measured else None
    teacher_source = f"teacher measured in this run ({next(iter(out['cases']), '')})"
    for path in reuse:
        out["reused"].append(quality_bench.load_reused(path, teacher_score, teacher_source))
    return out


def quality_methods(sizes: dict, only: list[str] | None, not_available: dict[str, str]) -> list[str]:
    """The quality methods (``teacher`` aside): the core ones, each preset and its variants, each recipe method,
    narrowed by ``only`` (or the suite's ``methods``); what is left out is said in ``not_available``."""
    methods = list(quality_bench.CORE_METHODS)
    methods += [f"preset:{name}" for name in (sizes.get("presets") or PRESETS)]
    methods += [f"preset:{name}" for name in sizes.get("preset_args", {}) if "@" in name]  # variants
    methods += quality_bench.recipe_methods(sizes)
    only = only or sizes.get("methods")
    if only and only != ["all"]:
        skipped = [method for method in methods if method not in only and method.split(":", 1)[-1] not in only]
        if skipped:
            not_available["not trained in this run"] = ", ".join(skipped) + " (--quality-methods all trains them)"
        methods = [method for method in methods if method not in skipped]
    return methods


def task_teacher(case: dict, task: str, glue_dir: str, sizes: dict, out: dict[str, Any]) -> str | None:
    """The fine-tuned teacher of ``case`` for ``task``. With ``finetune_missing_teachers``, a missing one is
    fine-tuned from the case's pre-trained checkpoint into its place (TEACHERS_DIR/<family>-<task>), so later runs
    on the machine find it; never from a config-only checkpoint."""
    teacher = case["teachers"].get(task)
    source = case["student"]["path"]
    if _missing(teacher) and sizes.get("finetune_missing_teachers") and not _missing(source):
        key = f"{case['name']} {task}"
        out.setdefault("teachers_finetuned_here", {})[key] = quality_bench.finetune_teacher(
            source, task, glue_dir, sizes, teacher
        )
    return teacher
