"""One command for every benchmark: training cost, quality, inference speed and sequence-length scaling.

    python benchmarks/run.py --suite standard --teachers-dir /path/to/teachers  # full GLUE training sets, CPU
    python benchmarks/run.py --suite quick --teachers-dir /path/to/teachers     # ~15 min on a 2-core CPU
    python benchmarks/run.py --suite full --teachers-dir /path/to/teachers      # GPU (device auto-detected)
    python benchmarks/run.py --suite tiny                                         # seconds, self-made tiny models

``standard`` is a rows suite (benchmarks/suites/standard.yaml): every row one command of the GLUE recipe. The other
suites have sections (training cost, sequence-length scaling, inference, quality). Either way every unit (a row; a
section, or one quality method of one case and task) is written to the results file as soon as it finishes, and a
rerun skips the units already there (``--fresh`` starts over). ``--rows PATTERN ...`` picks units by name
(``MRPC/*``, ``inference``, ``quality/6->3 RTE/*``), ``--time-budget`` starts none after that many seconds,
``--merge FILE ...`` merges results files of several runs (chunks of the GPU suite: benchmarks/GPU.md) into one,
``--report-only`` rewrites the report from the results file, ``--dry-run`` lists the units and their state.

``--teachers-dir`` holds the fine-tuned teachers ``<minilm|mpnet>-<sst2|mrpc|rte>`` (the quick suite needs the SST-2
ones; the standard suite fine-tunes a missing one there with the recipe's teacher stage, the full suite with the
harness); students keep layers of the pretrained checkpoints in ``--models-dir`` (``HF_DISTILL_MODELS``).
Writes ``benchmarks/results/<suite>-<machine>.json``, ``.md`` and ``.png`` plots. Run timing work alone on the
machine (``--shared-machine`` records that it was not).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import machine, report, rows, rows_report, store, suites

SECTIONS = ("training", "seq_len_scaling", "inference", "quality")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted([*suites.SUITES, *rows.rows_suites()]), default="quick")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--teachers-dir", help="fine-tuned teachers <minilm|mpnet>-<task>/ (e.g. minilm-sst2/)")
    parser.add_argument("--models-dir", default=suites.DEFAULT_MODELS_DIR, help="pretrained minilm-l6/, mpnet-base/")
    parser.add_argument("--glue-dir", default="/work/shared/data/glue", help="GLUE TSVs: TASK/{train,dev}.tsv")
    parser.add_argument("--output-dir", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--shared-machine", action="store_true", help="record that other jobs ran meanwhile")
    parser.add_argument("--cases", nargs="+", help="only these cases (e.g. 6->3); default all of the suite")
    parser.add_argument("--quality-methods", nargs="+", help="only these quality methods (e.g. logit_kd distilbert)")
    parser.add_argument("--reuse-quality", nargs="*", default=[], help="quality JSONs of other benchmark scripts")
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="SECTION.KEY=JSON",
        help="override a suite size, e.g. training.rounds=1 quality.train_rows=2000 (values are JSON)",
    )  # fmt: skip
    parser.add_argument("--rows", nargs="+", metavar="PATTERN", help="only the units matching these shell patterns")
    parser.add_argument("--results", help="the results file (default OUTPUT_DIR/<suite>-<machine>.json)")
    parser.add_argument("--merge", nargs="+", default=[], metavar="FILE", help="merge these results files into it")
    parser.add_argument("--report-only", action="store_true", help="only write the report from the results file")
    parser.add_argument("--dry-run", action="store_true", help="list the units and their state, run nothing")
    parser.add_argument(
        "--readme", metavar="FILE", help="also write the headline table and plot into FILE with each report"
    )
    parser.add_argument("--fresh", action="store_true", help="start a new results file instead of continuing it")
    parser.add_argument("--time-budget", type=float, metavar="SECONDS", help="start no unit after this many seconds")
    parser.add_argument("--work-dir", help="scratch folder of a rows suite (logs, teacher caches, held-out splits)")
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "RESULT"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    offline = options.worker or options.report_only or options.merge
    if options.suite != "tiny" and not offline and not options.teachers_dir:
        parser.error(f"--suite {options.suite} needs --teachers-dir (fine-tuned teachers such as minilm-sst2/).")
    return options


def run_section(name: str, function, *args) -> dict[str, Any]:
    """Run one section; a failure is recorded with its traceback instead of losing the other sections."""
    start = time.perf_counter()
    try:
        result = function(*args)
    except Exception:
        result = {"error": traceback.format_exc()}
        print(f"[{name}] FAILED\n{result['error']}", file=sys.stderr)
    result["wall_seconds"] = time.perf_counter() - start
    print(f"[{name}] done in {result['wall_seconds']:.0f} s", file=sys.stderr)
    return result


def results_path(options: argparse.Namespace, info: dict[str, Any]) -> Path:
    """``--results``, or ``OUTPUT_DIR/<suite>-<machine>.json``."""
    if options.results:
        return Path(options.results)
    return Path(options.output_dir) / f"{options.suite}-{machine.machine_slug(info)}.json"


def start_fresh(path: Path) -> None:
    """``--fresh``: the old results file is kept beside the new one as ``*.old.json``, not deleted."""
    if path.exists():
        path.replace(path.with_suffix(".old.json"))
        print(f"moved the old results to {path.with_suffix('.old.json')}", file=sys.stderr)


def print_plan(runner: rows.Runner) -> None:
    """``--dry-run``: each row's state and, when it can run now, its command."""
    for row in rows.plan(runner.definition):
        state = rows.status(runner.results, runner.definition, row)
        print(f"{state:>22}  {row.name}")
        if state in ("pending", "failed"):
            print(f"{'':>24}{shlex.join(runner.command(row))}")


def run_rows_suite(options: argparse.Namespace) -> dict[str, Any]:
    """A rows suite: run the selected rows not done yet, saving and reporting after each; or merge / report."""
    definition = rows.with_overrides(rows.load_definition(options.suite), options.set)
    path = results_path(options, machine.machine_info(options.shared_machine))
    if options.fresh:
        start_fresh(path)
    work_dir = options.work_dir or str(Path(tempfile.gettempdir()) / "hf-distill-bench" / options.suite)
    paths = rows.Paths(options.glue_dir, options.models_dir, options.teachers_dir or "", work_dir)
    runner = rows.Runner(definition, paths, path, options.shared_machine)
    for other in options.merge:
        runner.results["rows"] = store.merge_units(runner.results["rows"], store.load(other)["rows"])
    if options.dry_run:
        print_plan(runner)
        return runner.results
    report_path = path.with_suffix(".md")

    def write_report(results: dict[str, Any]) -> None:
        """The report and, with ``--readme``, the README's headline block and plot, so they never lag the results."""
        report_path.write_text(rows_report.markdown(results))
        if options.readme:
            rows_report.update_readme(Path(options.readme), results)
            rows_report.headline_plot(results, path.with_name(f"{path.stem}-headline.png"))

    if options.report_only:  # read only: a suite still running owns the results file
        write_report(runner.results)
        print(
            f"wrote {report_path}" + (f" and {options.readme}'s headline" if options.readme else ""), file=sys.stderr
        )
        return runner.results
    if not options.merge:
        runner.run(options.rows, options.time_budget, on_row=write_report)
    runner.save()
    write_report(runner.results)
    print(f"wrote {path} and {report_path}", file=sys.stderr)
    return runner.results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parse(argv)
    if options.suite in rows.rows_suites():
        return run_rows_suite(options)
    if options.worker:
        from harness import training

        training.worker_main(*options.worker)
        return {}
    return run_section_suite(options)


def merged_results(results: dict[str, Any], others: list[str]) -> dict[str, Any]:
    """``results`` with the sections of each file of ``others`` merged in (its header where ``results`` has none)."""
    results = dict(results)
    for other in others:
        data = store.load(other)
        results.update({key: value for key, value in data.items() if key not in SECTIONS and key not in results})
        results = store.merge_sections(results, data, SECTIONS)
    return results


def run_section_suite(options: argparse.Namespace) -> dict[str, Any]:
    """A section suite: run the chosen sections (and quality methods) not yet in the results file, then report;
    or, with ``--merge`` / ``--report-only``, only merge and report."""
    info = machine.machine_info(options.shared_machine)
    path = results_path(options, info)
    if options.fresh:
        start_fresh(path)
    previous = merged_results(store.load(path) or {}, options.merge)
    if options.dry_run:
        print_sections(previous, options)
        return previous
    if options.report_only or options.merge:
        return write_section_report(previous, path, [])
    import torch
    from harness import sections

    torch.manual_seed(0)
    settings = suites.with_overrides(suites.SUITES[options.suite], options.set)
    with tempfile.TemporaryDirectory() as tmp:
        tiny_paths = None
        if options.suite == "tiny":
            from harness.fixture import make_fixture

            tiny_paths = make_fixture(tmp)
            options.glue_dir = tiny_paths["glue_dir"]
        cases = suites.cases(options.suite, options.teachers_dir, options.models_dir, tiny_paths)
        if options.cases:
            cases = [case for case in cases if case["name"] in options.cases]
        results: dict[str, Any] = {
            "schema_version": 1,
            "suite": options.suite,
            "machine": info,
            "settings": settings,
            "cases": cases,
            **{name: previous[name] for name in SECTIONS if name in previous},
        }

        def keep_quality(section: dict[str, Any]) -> None:
            results["quality"] = section
            store.save(path, results)

        start = time.perf_counter()

        def in_time() -> bool:
            """Whether a unit may still start under ``--time-budget``."""
            return options.time_budget is None or time.perf_counter() - start <= options.time_budget

        runners = {
            "training": lambda: sections.training_section(cases, settings["training"]),
            "seq_len_scaling": lambda: sections.seq_len_scaling(cases[0], settings["seq_len_scaling"]),
            "inference": lambda: sections.inference(cases, settings["inference"], options.glue_dir),
            "quality": lambda: sections.quality(
                cases, settings["quality"], options.glue_dir, options.reuse_quality,
                options.quality_methods, results.get("quality"),
                lambda unit: store.selected(unit, options.rows) and in_time(), keep_quality,
            ),
        }  # fmt: skip
        ran = run_sections(options, results, runners, path, in_time)
    results["machine"]["load_average_end"] = machine._load_average()
    return write_section_report(results, path, ran)


def print_sections(results: dict[str, Any], options: argparse.Namespace) -> None:
    """``--dry-run`` of a section suite: each chosen section's state, and the quality units already measured."""
    for name in options.sections:
        state = "done" if store.done(results.get(name)) else "to run"
        if name != "quality" and not store.selected(name, options.rows):
            state = "not selected"
        print(f"{state:>12}  {name}")
    for key, entry in (results.get("quality") or {}).get("cases", {}).items():
        for method, row in entry["methods"].items():
            print(f"{'done' if store.done(row) else 'failed':>12}  quality/{key}/{method}")


def write_section_report(results: dict[str, Any], path: Path, ran: list[str]) -> dict[str, Any]:
    """Save ``results`` at ``path``, its report and plots beside it; exit non-zero if a section run here failed."""
    store.save(path, results)
    stem = path.with_suffix("")
    report.write(results, stem)
    print(f"wrote {path}, {stem}.md and {stem}-*.png", file=sys.stderr)
    failed = [name for name in ran if "error" in results[name]]
    if failed:
        raise SystemExit(f"sections failed: {failed}")
    return results


def run_sections(
    options: argparse.Namespace, results: dict[str, Any], runners: dict, path: Path, in_time: Callable[[], bool]
) -> list[str]:
    """Run each chosen section not already in the results file (quality: each method not already there), saving
    after each; no section starts once ``in_time()`` is false. Returns the sections run."""
    start, ran = time.perf_counter(), []
    for name in options.sections:
        if name != "quality" and (store.done(results.get(name)) or not store.selected(name, options.rows)):
            print(f"[{name}] {'kept from ' + str(path) if name in results else 'not selected'}", file=sys.stderr)
            continue
        if not in_time():
            print(f"time budget of {options.time_budget:.0f} s spent: {name} and later sections left", file=sys.stderr)
            break
        section = run_section(name, runners[name])
        if "error" in section and name == "quality":  # the methods it finished were saved: keep them
            section = {**results.get("quality", {}), **section}
        measured_on = {
            key: results["machine"].get(key) for key in ("cpu", "cpu_count", "gpu", "torch", "transformers")
        }
        results[name] = {**section, "measured_on": {**measured_on, "date": store.stamp()}}
        ran.append(name)
        store.save(path, results)
    results["wall_seconds"] = time.perf_counter() - start
    return ran


if __name__ == "__main__":
    main()
