"""Time and peak memory of one MetaDistil step vs one plain logit-KD step, side by side (CPU, real models).

    flock /tmp/hf_distill_heavy.lock env PYTHONPATH=$PWD python benchmarks/metadistil_cost.py \
        [--teacher /work/artifacts/teachers/minilm-sst2] [--steps 6] [--batch 32]

Protocol models: teacher minilm-sst2 (6 layers, 384 wide), student = minilm-l6 keeping layers [0, 2, 4]; SST-2
train rows, max_length 64, batch 32. Each mode runs in its own subprocess (so one mode's freed memory does not
hide the other's): ``DistillationTrainer`` (KL, T=2, alpha=0.5) and ``MetaDistilTrainer`` (same, plus the pilot
update and the teacher's second-order meta-update on a quiz batch of the same size, AdamW on the teacher).
Step time: median over the steps after the first, both wall-clock and the process's CPU time (the fairer figure
on a shared machine, where other jobs stretch wall time); torch runs on ``--threads`` (1) threads. Peak memory:
the rise of the process's peak resident set (VmHWM, reset just before the first step) over its resident set at
that point, i.e. what the steps add on top of the loaded models and data: activations, graphs, gradients and
optimizer states.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from sst2_common import TEACHER_DIR, shuffled_train, three_layer_student
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

from hf_distill import (
    DistillationDataCollator,
    DistillationTrainer,
    DistillationTrainingArguments,
    MetaDistilTrainer,
    MetaDistilTrainingArguments,
)


def _status(field: str) -> float:
    """A ``/proc/self/status`` memory field in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


class StepMeter(TrainerCallback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self.base_rss = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == 0:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            self.base_rss = _status("VmRSS")
        self._start, self._cpu_start = time.perf_counter(), time.process_time()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self._start)
        self.cpu_times.append(time.process_time() - self._cpu_start)


def measure(mode: str, teacher_path: str, steps: int, batch: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(teacher_path)
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_path)
    student = three_layer_student(teacher)
    rows = shuffled_train(0, batch * (steps + 1))
    common = dict(
        output_dir="/tmp/hf_distill_metadistil_cost",
        max_steps=steps,
        per_device_train_batch_size=batch,
        learning_rate=5e-5,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        seed=0,
        temperature=2.0,
        alpha=0.5,
    )
    collator = DistillationDataCollator(tokenizer, text_fields=["sentence"], max_length=64)
    meter = StepMeter()
    if mode == "kd":
        trainer = DistillationTrainer(
            model=student,
            teacher_model=teacher,
            args=DistillationTrainingArguments(**common),
            train_dataset=rows,
            data_collator=collator,
            callbacks=[meter],
        )
    else:
        trainer = MetaDistilTrainer(
            model=student,
            teacher_model=teacher,
            args=MetaDistilTrainingArguments(**common, teacher_learning_rate=1e-5, save_teacher=False),
            train_dataset=rows,
            quiz_dataset=shuffled_train(2000, 2000 + batch * steps),
            data_collator=collator,
            callbacks=[meter],
        )
    trainer.train()
    return {
        "mode": mode,
        "step_seconds": statistics.median(meter.times[1:]),
        "step_cpu_seconds": statistics.median(meter.cpu_times[1:]),
        "first_step_seconds": meter.times[0],
        "step_peak_mib": _status("VmHWM") - meter.base_rss,
        "peak_rss_mib": _status("VmHWM"),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default=TEACHER_DIR)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mode", choices=["kd", "metadistil"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # one measurement, in this subprocess
        print(json.dumps(measure(args.mode, args.teacher, args.steps, args.batch, args.threads)))
        return
    results = {}
    for mode in ("kd", "metadistil"):
        command = [sys.executable, __file__, "--mode", mode, "--teacher", args.teacher]
        command += ["--steps", str(args.steps), "--batch", str(args.batch), "--threads", str(args.threads)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(output.strip().splitlines()[-1])
    kd, meta = results["kd"], results["metadistil"]
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {kd['threads']} threads")
    print(f"batch {args.batch}, max_length 64, {args.steps} steps (median of steps 2..{args.steps})")
    print(f"{'':24}{'plain KD':>12}{'MetaDistil':>12}{'ratio':>8}")
    rows = [
        ("step_cpu_seconds", "step CPU time (s)"),
        ("step_seconds", "step wall time (s)"),
        ("step_peak_mib", "step peak memory (MiB)"),
    ]
    for key, label in rows:
        print(f"{label:24}{kd[key]:>12.3f}{meta[key]:>12.3f}{meta[key] / kd[key]:>8.2f}")
    print(f"{'process peak RSS (MiB)':24}{kd['peak_rss_mib']:>12.1f}{meta['peak_rss_mib']:>12.1f}")


if __name__ == "__main__":
    main()
