"""One command for every benchmark: training cost, quality, inference speed and sequence-length scaling.

    python benchmarks/run.py --suite quick --teachers-dir /path/to/teachers   # ~15 min on a 2-core CPU
    python benchmarks/run.py --suite full --teachers-dir /path/to/teachers    # GPU (device auto-detected)
    python benchmarks/run.py --suite tiny                                       # seconds, self-made tiny models

``--teachers-dir`` holds the fine-tuned SST-2 teachers ``minilm-sst2`` (6 layers) and ``mpnet-sst2`` (12 layers);
students keep every other layer of the pretrained checkpoints in ``--models-dir`` (``HF_DISTILL_MODELS``).
Writes ``benchmarks/results/<suite>-<machine>.json``, ``.md`` and ``.png`` plots. Methods whose module is not in
this checkout are listed as not available. Run timing work alone on the machine (``--shared-machine`` records
that it was not).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine, report, suites  # noqa: E402

SECTIONS = ("training", "seq_len_scaling", "inference", "quality")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(suites.SUITES), default="quick")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--teachers-dir", help="directory with minilm-sst2/ and mpnet-sst2/ (quick and full)")
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
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "RESULT"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.suite != "tiny" and not options.worker and not options.teachers_dir:
        parser.error(f"--suite {options.suite} needs --teachers-dir (with minilm-sst2/ and mpnet-sst2/).")
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parse(argv)
    if options.worker:
        from harness import training

        training.worker_main(*options.worker)
        return {}
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
            "machine": machine.machine_info(options.shared_machine),
            "features": machine.feature_status(),
            "settings": settings,
            "cases": cases,
        }
        start = time.perf_counter()
        runners = {
            "training": lambda: sections.training_cost(cases[0], settings["training"], results["features"]),
            "seq_len_scaling": lambda: sections.seq_len_scaling(cases[0], settings["seq_len_scaling"]),
            "inference": lambda: sections.inference(
                cases, settings["inference"], results["features"], options.glue_dir
            ),
            "quality": lambda: sections.quality(
                cases,
                settings["quality"],
                options.glue_dir,
                results["features"],
                options.reuse_quality,
                options.quality_methods,
                tmp,
            ),
        }
        output_dir = Path(options.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        for name in options.sections:
            results[name] = run_section(name, runners[name])
            partial = output_dir / f"{options.suite}-{machine.machine_slug(results['machine'])}.partial.json"
            partial.write_text(json.dumps(results, indent=1, default=str))  # a run cut short keeps what it measured
        results["wall_seconds"] = time.perf_counter() - start
    results["machine"]["load_average_end"] = machine._load_average()
    partial.unlink()
    stem = output_dir / f"{options.suite}-{machine.machine_slug(results['machine'])}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    report.write(results, stem)
    print(f"wrote {stem}.json, {stem}.md and {stem}-*.png", file=sys.stderr)
    failed = [name for name in options.sections if "error" in results[name]]
    if failed:
        raise SystemExit(f"sections failed: {failed}")
    return results


if __name__ == "__main__":
    main()
