"""The Markdown report of a rows suite, regenerated from its results file at any time (a run cut short included).

Per task: each teacher, then each row with its score (mean over seeds, and each seed), retention (student /
teacher, the row's own teacher), size ratio (teacher / student parameters), the inference speedup the recipe
measured on the dev set, and train time; the rows still missing and why; the selection stage's held-out scores.
Then the suite's measured cost (the wall time of every row) and each row's command.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from .rows import Row, plan, selection, status


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _mean(values: list[float | None]) -> float | None:
    values = [value for value in values if value is not None]
    return statistics.fmean(values) if values else None


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(cell) if not isinstance(cell, str) else cell for cell in row) + " |"
                    for row in rows] + [""]  # fmt: skip


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def teachers_table(results: dict[str, Any], definition: dict[str, Any], task: str) -> list[str]:
    rows = []
    for name in definition["teachers"]:
        entry = results["rows"].get(f"{task}/teacher/{name}")
        if entry is None or "error" in entry:
            rows.append(
                [name, "missing" if entry is None else "failed: " + entry["error"].replace("|", "/"), "", "", ""]
            )
            continue
        minutes = entry["train_seconds"] / 60 if entry.get("train_seconds") else None
        differs = entry.get("differs_from_suite")
        note = "; settings differ from the suite's (theirs, ours): " + json.dumps(differs) if differs else ""
        for rebuild in entry.get("rebuilds", []):
            outcome = "failed" if "error" in rebuild else f"scored {_fmt(rebuild['score'])}"
            note += f"; fine-tuned again {rebuild.get('date', '')[:10]} ({outcome}, {_hours(rebuild['wall_seconds'])})"
        rows.append([name, entry["score"], entry.get("parameters"), _fmt(minutes, 1), entry.get("source", "") + note])
    return _table(["teacher", "dev score", "parameters", "train min", "source"], rows)


def method_rows(results: dict[str, Any], definition: dict[str, Any], task: str) -> list[list[Any]]:
    """One table row per final row of ``task``: means over the seeds that finished, and each seed's score."""
    seeds = definition["protocol"]["seeds"]
    table = []
    for spec in definition["rows"]:
        entries = [results["rows"].get(f"{task}/{spec['name']}/seed{seed}") for seed in seeds]
        done = [entry for entry in entries if entry and "error" not in entry]
        if not done:
            continue
        per_seed = [_fmt(entry["score"]) if entry and "error" not in entry else "-" for entry in entries]
        chosen = sorted({entry["chosen"]["candidate"] for entry in done if entry.get("chosen")})
        minutes = _mean([entry.get("train_seconds") for entry in done])
        table.append(
            [spec["name"], spec["teacher"], _mean([entry["score"] for entry in done]), " / ".join(per_seed),
             _mean([entry.get("retention") for entry in done]), _fmt(_mean([e.get("size_ratio") for e in done]), 2),
             _fmt(_mean([entry.get("speedup") for entry in done]), 2), _fmt(minutes / 60 if minutes else None, 1),
             ", ".join(chosen)]
        )  # fmt: skip
    return table


def selection_table(results: dict[str, Any], definition: dict[str, Any], task: str) -> list[str]:
    rows = []
    for name, spec in definition.get("selections", {}).items():
        chosen = selection(results, definition, task, name)
        for label in spec["candidates"]:
            entry = results["rows"].get(f"{task}/select/{name}/{label}")
            if entry is None:
                cell = "missing"
            elif "error" in entry:
                cell = "failed: " + entry["error"].replace("|", "/")[:200]
            else:
                cell = _fmt(entry["score"])
            rows.append([name, label, cell, "yes" if chosen["chosen"] == label else ""])
    return _table(["selection", "candidate", "held-out score", "chosen"], rows) if rows else []


def missing(results: dict[str, Any], definition: dict[str, Any], rows: list[Row]) -> list[str]:
    """``- ROW: status`` for every row that is not done, with its error when it failed."""
    lines = []
    for row in rows:
        state = status(results, definition, row)
        if state == "done":
            continue
        entry = results["rows"].get(row.name) or {}
        detail = f" ({entry['error'][:300]})" if "error" in entry else ""
        lines.append(f"- `{row.name}`: {state}{detail}")
    return lines


def estimate_seconds(results: dict[str, Any], rows: list[Row]) -> tuple[float, int]:
    """Estimated wall time of the rows not done: the mean wall time of done rows of the same task and method (a
    candidate: of the same selection); and how many rows had no such measurement."""
    measured: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        entry = results["rows"].get(row.name)
        if entry and "error" not in entry and entry.get("wall_seconds") is not None:
            measured.setdefault((row.task, row.kind, row.method), []).append(entry["wall_seconds"])
    total, unknown = 0.0, 0
    for row in rows:
        entry = results["rows"].get(row.name)
        if entry and "error" not in entry:
            continue
        times = measured.get((row.task, row.kind, row.method))
        if times:
            total += statistics.fmean(times)
        else:
            unknown += 1
    return total, unknown


def cost(results: dict[str, Any], rows: list[Row]) -> list[str]:
    done = [results["rows"][row.name] for row in rows if row.name in results["rows"]]
    runs = [run for entry in done for run in (entry, *entry.get("rebuilds", []))]  # teachers fine-tuned again too
    by_kind = Counter()
    for run in runs:
        by_kind[run["kind"]] += run.get("wall_seconds", 0.0)
    total = sum(by_kind.values())
    cpu = sum(run.get("cpu_seconds") or 0.0 for run in runs)
    remaining, unknown = estimate_seconds(results, rows)
    lines = [
        f"Measured cost: {_hours(total)} of wall time over {len(done)} rows (teachers {_hours(by_kind['teacher'])}, "
        f"selection {_hours(by_kind['candidate'])}, final rows {_hours(by_kind['recipe'])}); failed rows included; "
        f"{_hours(cpu)} of CPU time (user + system) in the rows' processes.",
    ]
    if remaining or unknown:
        lines.append(
            f"Rows still to run: about {_hours(remaining)} by the rows measured so far"
            + (f", plus {unknown} rows with no measurement of their kind yet." if unknown else ".")
        )
    return lines + [""]


def machines(results: dict[str, Any]) -> list[str]:
    seen = Counter()
    for entry in results["rows"].values():
        m = entry.get("machine", {})
        shared = ", shared with other jobs" if m.get("shared_machine") else ""
        seen[
            f"{m.get('cpu')} ({m.get('cpu_count')} cores, torch threads {m.get('torch_threads')}), GPU "
            f"{m.get('gpu')}, torch {m.get('torch')}, transformers {m.get('transformers')}{shared}"
        ] += 1
    dates = sorted(entry["date"] for entry in results["rows"].values() if entry.get("date"))
    lines = [f"- machine: {name} ({count} row{'s' if count != 1 else ''})" for name, count in seen.items()]
    if dates:
        lines.append(f"- rows finished between {dates[0]} and {dates[-1]}")
    return lines


def commands(results: dict[str, Any], rows: list[Row]) -> list[str]:
    lines = ["<details><summary>Command of every row</summary>", ""]
    for row in rows:
        entry = results["rows"].get(row.name) or {}
        command = entry.get("command") or entry.get("recipe_command")
        if command:
            lines += [f"`{row.name}` ({entry.get('date', '')}):", "", "```", command, "```", ""]
    return lines + ["</details>", ""]


def headline(results: dict[str, Any]) -> str:
    """The README's table: every task's teachers and finished rows (means over the seeds done), one table."""
    definition = results["definition"]
    table = []
    for task in definition["tasks"]:
        metric = next((e["metric"] for n, e in results["rows"].items() if n.startswith(f"{task}/") and "metric" in e),
                      "score")  # fmt: skip
        for name in definition["teachers"]:
            entry = results["rows"].get(f"{task}/teacher/{name}")
            if entry and "error" not in entry:
                table.append([task, metric, f"teacher ({name})", entry["score"], "", "1.0000", "1.00", "1.00"])
        for row in method_rows(results, definition, task):
            table.append([task, metric, f"{row[0]} (from {row[1]})", row[2], row[3], row[4], row[5], row[6]])
    header = ["task", "dev metric", "model", "score (mean)", "per seed", "retention", "size ratio", "speedup"]
    return "\n".join(_table(header, table)).rstrip() + "\n"


def headline_plot(results: dict[str, Any], path: Path) -> bool:
    """A bar chart of the headline table (retention per row, by task) at ``path``; False when no row is done."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    definition = results["definition"]
    tasks = [task for task in definition["tasks"] if method_rows(results, definition, task)]
    if not tasks:
        return False
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        table = [row for row in method_rows(results, definition, task) if row[4] is not None]
        ax.bar(range(len(table)), [row[4] for row in table], color="tab:blue")
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(table)), [row[0] for row in table], rotation=30, ha="right")
        ax.set_ylim(min([0.8, *(row[4] - 0.02 for row in table)]), 1.05)
        ax.set_title(f"{task}: score / teacher's score")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


HEADLINE_START, HEADLINE_END = "<!-- headline-table -->", "<!-- /headline-table -->"


def readme_block(text: str) -> str:
    """What a README holds between the headline markers."""
    return text.split(HEADLINE_START, 1)[1].split(HEADLINE_END, 1)[0].strip("\n") + "\n"


def update_readme(path: Path, results: dict[str, Any]) -> None:
    """Replace the block between the headline markers of ``path`` with the table of ``results``."""
    text = path.read_text()
    if HEADLINE_START not in text or HEADLINE_END not in text:
        raise ValueError(f"{path} has no {HEADLINE_START} ... {HEADLINE_END} block for the headline table.")
    before, rest = text.split(HEADLINE_START, 1)
    path.write_text(before + HEADLINE_START + "\n" + headline(results) + HEADLINE_END + rest.split(HEADLINE_END, 1)[1])


def markdown(results: dict[str, Any]) -> str:
    definition = results["definition"]
    rows = plan(definition)
    done = sum(1 for row in rows if status(results, definition, row) == "done")
    lines = [f"# hf_distill benchmarks: suite `{definition['name']}`", "", definition.get("description", ""), ""]
    lines += machines(results) + [f"- rows done: {done} of {len(rows)}", ""] + cost(results, rows)
    header = ["row", "teacher", "score (mean)", "per seed", "retention", "size ratio", "speedup", "train min",
              "chosen on held-out rows"]  # fmt: skip
    for task in definition["tasks"]:
        task_rows = [row for row in rows if row.task == task]
        metric = next(
            (e["metric"] for r in task_rows if (e := results["rows"].get(r.name)) and "metric" in e), "score"
        )
        lines += [f"## {task} (dev {metric})", ""] + teachers_table(results, definition, task)
        table = method_rows(results, definition, task)
        if table:
            lines += _table([*header[:2], f"{metric} (mean of seeds {definition['protocol']['seeds']})", *header[3:]],
                            table)  # fmt: skip
        lines += selection_table(results, definition, task)
        gaps = missing(results, definition, task_rows)
        lines += ["Not done yet:", "", *gaps, ""] if gaps else ["Every row of this task is done.", ""]
    lines += [
        "Retention = score / the row's teacher's score; size ratio = teacher / student parameters; speedup = the "
        "teacher's / the student's wall time over the dev set (the recipe's measurement, best of its passes, same "
        "batch size).",
        "",
    ]
    return "\n".join(lines + commands(results, rows))
