"""Training cost: step time, samples/s and peak memory of each training method, same student, batch and length.

Every configuration trains the same student on the same synthetic batches (random token ids of exactly
``seq_len`` tokens, so the length is what the table says) through the real trainer class of that method:

- ``plain``: `transformers.Trainer`, the student fine-tuned on labels (the reference, ratio 1);
- ``logit_kd``: `hf_distill.DistillationTrainer` (KL, T=2, alpha=0.5);
- ``docs_kd``: the `transformers.Trainer` KD subclass of the transformers docs (`baseline.DocsDistillationTrainer`);
- ``cached_kd``: `DistillationTrainer` reading teacher logits precomputed once (no teacher forward per step);
- ``preset:<name>``: `DistillationTrainer` with an intermediate-layer preset.

Memory on CPU is the growth of the process's peak resident set (``ru_maxrss``) from just after the imports to the
end of training, so each configuration runs in a fresh subprocess (``python benchmarks/run.py --worker``); on a
GPU it is ``torch.cuda.max_memory_allocated`` of the run.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from . import methods
from .flops import kd_ideal_ratio
from .machine import REPO_ROOT
from .models import spec_config

BASE_METHODS = ("plain", "logit_kd", "docs_kd", "cached_kd")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux ``/proc/self/clear_refs``, value 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _current_rss_mb() -> float:
    """Resident set size now (Linux ``/proc/self/statm``); the peak when that file does not exist."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return _peak_rss_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def time_training(config: dict[str, Any]) -> dict[str, Any]:
    """Train ``config["method"]`` for ``steps`` steps; the median step time after ``warmup`` steps, and memory.

    ``config``: method, teacher, student (model specs), seq_len, batch, steps, warmup, seed.
    """
    import torch

    from .models import build, synthetic_batch_rows

    cuda = torch.cuda.is_available()
    rss_after_imports = _current_rss_mb()
    student = build(config["student"], seed=config["seed"])
    teacher = build(config["teacher"], seed=config["seed"]) if config["method"] != "plain" else None
    columns = synthetic_batch_rows(
        student.config.vocab_size, config["batch"] * config["steps"], config["seq_len"], seed=config["seed"]
    )
    dataset = [dict(zip(columns, values)) for values in zip(*columns.values())]
    cache = None
    if config["method"] == "cached_kd":
        dataset, teacher, cache = methods.teacher_cache(config, teacher, dataset)
    gc.collect()
    # Peak of the training itself: loading transients (and a cache's teacher pass) are left out for every method.
    peak_reset = _reset_peak_rss()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    timer = StepTimer(config["warmup"], cuda)
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = methods.make_trainer(config, student, teacher, dataset, output_dir, [timer])
        trainer.train()
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = _peak_rss_mb() - rss_after_imports if peak_reset else None
    median = statistics.median(timer.times)
    return {
        "step_time_s": median,
        "samples_per_s": config["batch"] / median,
        "peak_memory_mb": peak,
        "memory_kind": "cuda.max_memory_allocated"
        if cuda
        else "ru_maxrss peak during training minus the RSS after imports",
        "timed_steps": len(timer.times),
        "teacher_cache": cache,
    }


class StepTimer(TrainerCallback):
    """Records the wall time of each optimizer step after the first ``warmup`` steps (GPU synchronised)."""

    def __init__(self, warmup: int, cuda: bool = False):
        self.warmup, self.cuda, self.times, self._start = warmup, cuda, [], 0.0

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kwargs):
        self._sync()
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._sync()
        if state.global_step > self.warmup:
            self.times.append(time.perf_counter() - self._start)


def run_worker(config: dict[str, Any]) -> dict[str, Any]:
    """Run ``time_training`` in a fresh interpreter (clean memory high-water mark) and return its result."""
    with tempfile.TemporaryDirectory() as tmp:
        config_path, result_path = Path(tmp) / "config.json", Path(tmp) / "result.json"
        config_path.write_text(json.dumps(config))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "benchmarks"), env.get("PYTHONPATH", "")])
        command = [sys.executable, str(REPO_ROOT / "benchmarks" / "run.py"), "--worker", str(config_path)]
        completed = subprocess.run([*command, str(result_path)], env=env, capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(f"worker for {config['method']} failed:\n{completed.stderr[-3000:]}")
        return json.loads(result_path.read_text())


def worker_main(config_path: str, result_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    Path(result_path).write_text(json.dumps(time_training(config)))


def measure(
    methods_to_run: list[str],
    teacher: dict,
    student: dict,
    seq_len: int,
    batch: int,
    steps: int,
    warmup: int,
    rounds: int,
    seed: int = 0,
    isolated: bool = True,
) -> dict[str, Any]:
    """Each method once per round, the rounds one after the other (A B C, A B C, ...); medians and ratios.

    A busy spell of the machine hits the runs of one round alike, so each method's ratio to ``plain`` is also taken
    round by round (`round_ratios`): its median and its spread (min, max) say how far a second run could land.
    ``isolated``: each run in a fresh subprocess, so that CPU memory (RSS) counts nothing but that run; otherwise
    in this process, where the CPU figure also holds what earlier runs left allocated (``memory_isolated`` False:
    approximate; used by the tests and the sequence-length section).
    """
    runs: dict[str, list[dict]] = {method: [] for method in methods_to_run}
    failed: dict[str, str] = {}
    for round_index in range(rounds):
        for method in methods_to_run:
            if method in failed:
                continue
            config = dict(
                method=method, teacher=teacher, student=student, seq_len=seq_len, batch=batch, steps=steps,
                warmup=warmup, seed=seed,
            )  # fmt: skip
            start = time.perf_counter()
            try:
                run = run_worker(config) if isolated else time_training(config)
            except Exception as error:  # one method failing must not cost the others' figures; plain is needed
                if method == "plain":
                    raise
                failed[method] = f"{type(error).__name__}: {str(error).strip().splitlines()[-1][-300:]}"
                print(f"  {method} FAILED: {failed[method]}", file=sys.stderr)
                continue
            run["memory_isolated"] = isolated or run["memory_kind"] == "cuda.max_memory_allocated"
            run["round"] = round_index
            runs[method].append(run)
            print(
                f"  {method} @ {seq_len} tokens, round {round_index + 1}/{rounds}: "
                f"{run['step_time_s'] * 1000:.0f} ms/step, peak {run['peak_memory_mb']} MB "
                f"({time.perf_counter() - start:.0f} s)",
                file=sys.stderr,
            )
    ideal = kd_ideal_ratio(spec_config(teacher), spec_config(student), seq_len)
    results = {}
    for method, method_runs in runs.items():
        if method in failed:
            results[method] = {"error": failed[method]}
            continue
        step = statistics.median(run["step_time_s"] for run in method_runs)
        results[method] = {
            "step_time_s": step,
            "samples_per_s": batch / step,
            "peak_memory_mb": _median_or_none([run["peak_memory_mb"] for run in method_runs]),
            "runs": method_runs,
            "ideal_ratio": 1.0 if method in ("plain", "cached_kd") else ideal,
        }
    return add_ratios(results)


def time_evaluation(
    teacher: dict, student: dict, seq_len: int, batch: int, rows: int, rounds: int, seed: int = 0
) -> dict[str, Any]:
    """Wall time of `DistillationTrainer.evaluate` over ``rows`` synthetic rows, running the teacher at every
    evaluation (``eval_teacher_cache_mb=0``) vs the library's reuse of the teacher's eval logits (the default: they
    are stored by the warm-up evaluation and reused by the timed ones); the two alternate, round after round, in this
    process. ``ratio``: reused / teacher, per round, median, min, max."""
    import torch

    from hf_distill import DistillationTrainer, DistillationTrainingArguments

    from .models import build, synthetic_batch_rows

    cuda = torch.cuda.is_available()
    model, teacher_model = build(student, seed=seed), build(teacher, seed=seed)
    columns = synthetic_batch_rows(model.config.vocab_size, rows, seq_len, seed=seed)
    dataset = [dict(zip(columns, values)) for values in zip(*columns.values())]
    budgets = {"teacher": {"eval_teacher_cache_mb": 0}, "cached": {}}
    times: dict[str, list[float]] = {name: [] for name in budgets}
    with tempfile.TemporaryDirectory() as output_dir:
        common = methods.training_arguments(output_dir, {"steps": 1, "batch": batch, "seed": seed})
        trainers = {}
        for name, budget in budgets.items():
            args = DistillationTrainingArguments(
                **common, per_device_eval_batch_size=batch, temperature=2.0, alpha=0.5, **budget
            )
            trainers[name] = DistillationTrainer(model=model, teacher_model=teacher_model, args=args)
            trainers[name].evaluate(eval_dataset=dataset)  # warm-up (and, with reuse, the teacher's one pass)
        for _ in range(rounds):
            for name, trainer in trainers.items():
                start = time.perf_counter()
                trainer.evaluate(eval_dataset=dataset)
                if cuda:
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - start)
    ratios = [cached / teacher for cached, teacher in zip(times["cached"], times["teacher"])]
    return {
        "rows": rows,
        "seconds_with_teacher": statistics.median(times["teacher"]),
        "seconds_with_cached_logits": statistics.median(times["cached"]),
        "ratio": {"per_round": ratios, "median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)},
    }


def round_ratios(numerator: dict[str, Any], denominator: dict[str, Any]) -> dict[str, Any]:
    """Step-time ratio of two methods in each round both ran: ``per_round``, its ``median``, ``min`` and ``max``."""
    by_round = {run["round"]: run["step_time_s"] for run in denominator["runs"] if "round" in run}
    ratios = [run["step_time_s"] / by_round[run["round"]] for run in numerator["runs"] if run.get("round") in by_round]
    if not ratios:
        return {"per_round": [], "median": None, "min": None, "max": None}
    return {"per_round": ratios, "median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def add_ratios(results: dict[str, dict]) -> dict[str, dict]:
    """``cost_ratio`` = step time / plain's, ``memory_ratio`` likewise, ``gap_to_ideal`` = cost_ratio / ideal - 1;
    ``cost_ratio_rounds``: the ratio round by round (`round_ratios`), where the runs carry their round."""
    plain = results["plain"]
    for entry in results.values():
        if "error" in entry:
            continue
        entry["cost_ratio"] = entry["step_time_s"] / plain["step_time_s"]
        if "runs" in entry:
            entry["cost_ratio_rounds"] = round_ratios(entry, plain)
        memory, plain_memory = entry["peak_memory_mb"], plain["peak_memory_mb"]
        entry["memory_ratio"] = memory / plain_memory if memory is not None and plain_memory else None
        entry["gap_to_ideal"] = entry["cost_ratio"] / entry["ideal_ratio"] - 1.0
    return results


def _median_or_none(values: list[float | None]) -> float | None:
    return None if any(value is None for value in values) else statistics.median(values)
