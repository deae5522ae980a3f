"""The results JSON as a Markdown report and PNG plots (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGETS = {
    "logit_kd_gap_to_ideal": 0.10,  # logit KD step time within 10% of the FLOP ideal
    "cached_kd_cost_ratio": 1.05,  # cached KD within 5% of plain fine-tuning
    "inference_efficiency": 0.90,  # speedup >= 90% of the FLOP ratio
}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _measured_on(results: dict[str, Any]) -> list[str]:
    """Where and when each section was measured, when they differ from the header (results merged from runs)."""
    lines = []
    for name in ("training", "seq_len_scaling", "inference", "quality"):
        where = (results.get(name) or {}).get("measured_on")
        if where:
            device = where.get("gpu") or f"{where.get('cpu')} ({where.get('cpu_count')} cores)"
            lines.append(f"- {name}: measured on {device}, {where.get('date')}")
    return lines + [""] if lines else []


def _spread(ratios: dict | None) -> str:
    """``median [min-max]`` of round-by-round ratios (`training.round_ratios`)."""
    if not ratios or ratios.get("median") is None:
        return "n/a"
    return f"{ratios['median']:.3f} [{ratios['min']:.3f}-{ratios['max']:.3f}]"


def _teacher_weights(section: dict) -> str:
    weights = section.get("teacher_weights", "fine-tuned")
    return "" if weights == "fine-tuned" else f"Teacher weights: {weights} (timing only). "


def _error(section: dict) -> list[str]:
    return [f"Section failed or skipped: `{section['error'].strip().splitlines()[-1]}`", ""]


def markdown(results: dict[str, Any], plot_names: list[str]) -> str:
    m = results["machine"]
    shared = "yes: other jobs were running, timings are contended" if m["shared_machine"] else "no"
    lines = [
        f"# hf_distill benchmarks: suite `{results['suite']}`",
        "",
        f"- machine: {m['cpu']} ({m['cpu_count']} cores, torch threads {m['torch_threads']}), GPU: {m['gpu']}",
        f"- torch {m['torch']}, transformers {m['transformers']}, python {m['python']}",
        f"- shared machine: {shared}; load average at start {m['load_average_start']}, "
        f"end {m.get('load_average_end')}",
        f"- started {m['started']}, wall time {results.get('wall_seconds', 0):.0f} s",
        "",
    ]
    lines += _measured_on(results)
    not_available = [(name, f["reason"]) for name, f in results.get("features", {}).items() if not f["available"]]
    if not_available:
        lines += ["Not available in this checkout (not measured):", ""]
        lines += [f"- {name}: {reason}" for name, reason in not_available] + [""]
    lines += _training(results.get("training")) + _scaling(results.get("seq_len_scaling"))
    lines += _inference(results.get("inference")) + _quality(results.get("quality"))
    lines += [f"![{name}]({name})" for name in plot_names]
    return "\n".join(lines) + "\n"


def _training(section: dict | None) -> list[str]:
    if section is None:
        return []
    if "by_case" in section:
        return [line for case in section["by_case"].values() for line in _training(case)]
    lines = [f"## Training cost{' (' + section['case'] + ')' if 'case' in section else ''}", ""]
    if "error" in section:
        return lines + _error(section)
    lines += [
        f"Case {section['case']}, batch {section['batch']} x {section['seq_len']} tokens, median over "
        f"{section['rounds']} rounds (each round runs every method once, in the same order; a fresh process per run "
        f"when memory is isolated) of the median step after {section['warmup']} warm-up steps. "
        "The round-by-round ratio to plain gives its median and its spread [min-max] over the rounds. "
        + _teacher_weights(section)
        + f"Cached KD reads teacher logits from: {section['cached_kd_source']}. Peak memory: "
        + (
            "each run in a fresh process."
            if section.get("memory_isolated")
            else "runs shared one process (approximate)."
        ),
        "",
    ]
    rows = []
    for name, entry in section["methods"].items():
        if "error" in entry:
            rows.append([name, "failed: " + entry["error"].replace("|", "/"), *[""] * 6])
            continue
        rows.append(
            [name, entry["step_time_s"] * 1000, entry["samples_per_s"], entry["peak_memory_mb"], entry["cost_ratio"],
             _spread(entry.get("cost_ratio_rounds")), entry["ideal_ratio"], entry["gap_to_ideal"],
             entry["memory_ratio"]]
        )  # fmt: skip
    lines += _table(
        ["method", "step ms", "samples/s", "peak MB", "time / plain", "per round: median [min-max]", "FLOP ideal",
         "gap to ideal", "memory / plain"],
        rows,
    )  # fmt: skip
    methods = {name: entry for name, entry in section["methods"].items() if "error" not in entry}
    if "logit_kd" in methods:
        gap = methods["logit_kd"]["gap_to_ideal"]
        lines.append(f"- target logit KD within 10% of the FLOP ideal: {gap:+.1%} ({_verdict(gap <= 0.10)})")
    if "cached_kd" in methods:
        ratio = methods["cached_kd"]["cost_ratio"]
        lines.append(f"- target cached KD within 5% of plain: x{ratio:.3f} ({_verdict(ratio <= 1.05)})")
    if "logit_kd" in methods and "docs_kd" in methods:
        overhead = methods["logit_kd"]["step_time_s"] / methods["docs_kd"]["step_time_s"]
        pair = section.get("pairs", {}).get("logit_kd / docs_kd")
        rounds = f"; round by round {_spread(pair)}" if pair and pair.get("median") is not None else ""
        lines.append(f"- DistillationTrainer step time / docs-style Trainer KD subclass: x{overhead:.3f}{rounds}")
    evaluation = section.get("evaluation")
    if evaluation:
        lines.append(
            f"- evaluation over {evaluation['rows']} rows with the teacher's eval logits reused / running the "
            f"teacher: x{_spread(evaluation['ratio'])} ({evaluation['seconds_with_cached_logits']:.2f} s vs "
            f"{evaluation['seconds_with_teacher']:.2f} s)"
        )
    for name, reason in section.get("not_available", {}).items():
        lines.append(f"- not available: {name} ({reason})")
    return lines + [""]


def _scaling(section: dict | None) -> list[str]:
    if section is None:
        return []
    lines = ["## Sequence-length scaling of the KD step", ""]
    if "error" in section:
        return lines + _error(section)
    lines += [f"Case {section['case']}, batch {section['batch']}, median step after {section['warmup']} warm-up.", ""]
    rows = []
    for length, entry in section["by_length"].items():
        rows.append(
            [length, entry["plain"]["step_time_s"] * 1000, entry["logit_kd"]["step_time_s"] * 1000,
             entry["docs_kd"]["step_time_s"] * 1000, entry["logit_kd"]["cost_ratio"], entry["logit_kd"]["ideal_ratio"],
             entry["logit_kd"]["overhead_vs_docs_kd"]]
        )  # fmt: skip
    return lines + _table(
        ["tokens", "plain ms", "logit KD ms", "docs KD ms", "KD / plain", "FLOP ideal", "ours / docs"], rows
    )


def _inference(section: dict | None) -> list[str]:
    if section is None:
        return []
    lines = ["## Inference", ""]
    if "error" in section:
        return lines + _error(section)
    rows = []
    for name, entry in section["cases"].items():
        for model in ("teacher", "student"):
            rows.append(
                [name, model, entry[model]["latency_ms"], entry[model]["throughput_samples_per_s"],
                 entry[model]["forward_gflops"]]
            )  # fmt: skip
    lines += _table(["case", "model", "batch-1 latency ms", "batch-64 samples/s", "GFLOPs/sequence"], rows)
    rows = []
    for name, entry in section["cases"].items():
        rows.append(
            [name, entry["flop_ratio"], entry["latency_speedup"], entry["latency_efficiency"],
             entry["throughput_speedup"], entry["throughput_efficiency"]]
        )  # fmt: skip
    lines += _table(["case", "FLOP ratio", "latency speedup", "efficiency", "throughput speedup", "efficiency"], rows)
    lines.append(f"Target: efficiency (speedup / FLOP ratio) >= {TARGETS['inference_efficiency']}.")
    lines.append("")
    for name, entry in section["cases"].items():
        if entry.get("teacher_weights", "fine-tuned") != "fine-tuned":
            lines.append(f"- {name}: teacher weights {entry['teacher_weights']} (timing only)")
    for name, entry in section.get("fastbert", {}).items():
        lines += [
            f"FastBERT on the {name} teacher: branches trained on {entry['train_rows']} unlabeled rows, "
            f"{entry['dev_rows']} dev rows (speed 'full' = the exported backbone):",
            "",
        ]
        rows = [
            [row["speed"] if row["speed"] is not None else "full", row["accuracy"], row["avg_layers"],
             row["flop_speedup"], row.get("speedup_batch1"), row.get("efficiency_batch1"), row.get("speedup_batch64"),
             row.get("efficiency_batch64")]
            for row in entry["speeds"]
        ]  # fmt: skip
        lines += _table(
            ["speed", "accuracy", "avg layers", "FLOP speedup", "batch-1 speedup", "efficiency", "batch-64 speedup",
             "efficiency"],
            rows,
        )  # fmt: skip
    for name, reason in section.get("not_available", {}).items():
        lines.append(f"- not available: {name} ({reason})")
    return lines + [""]


def _seed_scores(value: dict[str, Any]) -> str:
    scores = value.get("seed_scores")
    return " / ".join(_fmt(score, 4) for score in scores) if scores else ""


def _quality(section: dict | None) -> list[str]:
    if section is None:
        return []
    lines = ["## Quality", ""]
    if "error" in section:
        lines += _error(section)
        if not section.get("cases"):  # a failure after some methods finished keeps them
            return lines
    for key, entry in [*section["cases"].items(), *[(r["task"], r) for r in section.get("reused", [])]]:
        if "retention_reference" in entry:  # reused from another script
            reference = entry["retention_reference"]
            title = f"### {key}: {entry['source']}; machine: {entry['machine']}; retention vs {reference}"
        else:
            title = (
                f"### {key}: {entry.get('metric', 'score')} on {entry.get('dev_rows', '?')} "
                f"{'held-out train' if entry.get('eval_split') == 'heldout' else 'dev'} rows, "
                f"{entry.get('train_rows', '?')} train rows, {entry['sizes']['epochs']} epochs ({entry['source']})"
            )
        lines += [title, ""]
        rows = [
            [method, _fmt(value["score"], 4), _seed_scores(value), _fmt(value["retention"], 4),
             _fmt(value.get("train_seconds"), 0), value.get("parameters"), value.get("settings", ""),
             value.get("error", "").replace("|", "/")]
            for method, value in entry["methods"].items()
        ]  # fmt: skip
        seeds = next((value["seeds"] for value in entry["methods"].values() if "seeds" in value), None)
        score_title = f"score (mean of seeds {seeds})" if seeds else "score"
        header = ["method", score_title, "per seed", "retention", "train s", "parameters", "settings", "error"]
        lines += _table(header, rows)
        scores = {name: value["score"] for name, value in entry["methods"].items() if value["score"] is not None}
        if "student_alone" in scores and "teacher" in scores:
            methods = {name: score for name, score in scores.items() if name not in ("teacher", "student_alone")}
            beaten = [name for name, score in methods.items() if score <= scores["student_alone"]]
            if methods:
                best = max(methods, key=methods.get)
                lines.append(
                    f"- best method {best}: retention {methods[best] / scores['teacher']:.3f}; methods not beating "
                    f"student alone ({scores['student_alone']:.4f}): {', '.join(beaten) or 'none'}"
                )
                lines.append("")
    for name, reason in section.get("not_available", {}).items():
        lines.append(f"- not available: {name} ({reason})")
    return lines + [""]


def plots(results: dict[str, Any], stem: Path) -> list[str]:
    """PNG plots next to ``stem``; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(fig, suffix: str) -> None:
        path = stem.parent / f"{stem.name}-{suffix}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path.name)

    training = results.get("training") or {}
    training = next(iter(training["by_case"].values()), {}) if "by_case" in training else training
    if "methods" in training:
        names = [name for name, entry in training["methods"].items() if "error" not in entry]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [training["methods"][n]["cost_ratio"] for n in names], 0.4, label="measured")
        ax.bar([x + 0.2 for x in xs], [training["methods"][n]["ideal_ratio"] for n in names], 0.4, label="FLOP ideal")
        ax.set_xticks(list(xs), names, rotation=20)
        ax.set_ylabel("step time / plain fine-tuning")
        ax.set_title(f"Training cost ({training['case']}, {training['batch']}x{training['seq_len']} tokens)")
        ax.legend()
        save(fig, "training")
    scaling = results.get("seq_len_scaling") or {}
    if "by_length" in scaling:
        lengths = [int(length) for length in scaling["by_length"]]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for method in ("plain", "logit_kd", "docs_kd"):
            times = [scaling["by_length"][str(n)][method]["step_time_s"] * 1000 for n in lengths]
            ax.plot(lengths, times, marker="o", label=method)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length (tokens)")
        ax.set_ylabel("step time (ms)")
        ax.set_title(f"KD step time vs sequence length (batch {scaling['batch']})")
        ax.legend()
        save(fig, "seq-len")
    inference = results.get("inference") or {}
    if inference.get("cases"):
        names = list(inference["cases"])
        fig, ax = plt.subplots(figsize=(6, 3.5))
        xs = range(len(names))
        for offset, key, label in ((-0.25, "flop_ratio", "FLOP ratio"), (0, "latency_speedup", "batch-1 speedup"),
                                   (0.25, "throughput_speedup", "batch-64 speedup")):  # fmt: skip
            ax.bar([x + offset for x in xs], [inference["cases"][n][key] for n in names], 0.25, label=label)
        ax.set_xticks(list(xs), names)
        ax.set_ylabel("teacher / student")
        ax.set_title("Inference speedup of the exported student")
        ax.legend()
        save(fig, "inference")
    quality = results.get("quality") or {}
    if quality.get("cases"):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for index, (key, entry) in enumerate(quality["cases"].items()):
            methods = [m for m in entry["methods"] if entry["methods"][m]["score"] is not None]
            ax.scatter(methods, [entry["methods"][m]["score"] for m in methods], label=key, zorder=2 + index)
        ax.tick_params(axis="x", labelrotation=30)
        ax.set_ylabel("dev score")
        ax.set_title("Quality (teacher, student alone, methods)")
        ax.legend()
        save(fig, "quality")
    return written


def write(results: dict[str, Any], stem: Path) -> None:
    names = plots(results, stem)
    stem.with_suffix(".md").write_text(markdown(results, names))
