"""Step time of distillation from the teacher output cache vs with the teacher running vs plain fine-tuning.

    python benchmarks/teacher_cache.py [--teacher /work/artifacts/teachers/minilm-sst2] [--steps 30] [--repeats 3]

Real models on SST-2 (the standard CPU protocol's shapes): the teacher is a fine-tuned SST-2 checkpoint (argument),
the student the first 3 layers of the pre-trained MiniLM-L6 (``HF_DISTILL_MODELS``; for step time the choice of
layers does not matter, only their number and width), rows = SST-2 train shuffled with ``random.Random(0)``,
``max_length`` 64, batch 32, dynamic padding. Three runs of ``--steps`` optimizer steps each, alternating, median
per-step wall time over ``--repeats`` (the first 3 steps of a run are warm-up and not counted):

- plain: `transformers.Trainer` on the student alone;
- teacher: `DistillationTrainer` with the teacher forward at every step (KL, T=2, alpha=0.5);
- cache: `DistillationTrainer` without a teacher, from a ``teacher_logits`` column computed once beforehand
  (`hf_distill.cache.compute_teacher_logits`; its one-time cost is printed too).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import statistics
import time
from pathlib import Path

import datasets
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainerCallback

from hf_distill import DistillationDataCollator, DistillationTrainer, DistillationTrainingArguments
from hf_distill.cache import add_teacher_logits, compute_teacher_logits

MODELS = Path(os.environ.get("HF_DISTILL_MODELS", Path.home() / ".cache" / "hf-distill-models"))
GLUE = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"
WARMUP = 3


class StepTimer(TrainerCallback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step > WARMUP:
            self.times.append(time.perf_counter() - self._start)


def sst2_rows(rows: int) -> list[dict]:
    with open(GLUE / "SST-2" / "train.tsv", newline="") as handle:
        data = [
            {"sentence": r["sentence"], "label": int(r["label"])}
            for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]
    random.Random(0).shuffle(data)
    return data[:rows]


def run(mode: str, steps: int, data: datasets.Dataset, teacher, tokenizer) -> float:
    student = AutoModelForSequenceClassification.from_pretrained(
        MODELS / "minilm-l6", num_hidden_layers=3, num_labels=2
    )
    args = DistillationTrainingArguments(
        output_dir="/tmp/hf_distill_cache_bench",
        max_steps=steps + WARMUP,
        per_device_train_batch_size=32,
        learning_rate=5e-5,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        seed=0,
        temperature=2.0,
        alpha=0.5,
        train_sampling_strategy="sequential",
    )
    timer = StepTimer()
    collator = DistillationDataCollator(tokenizer)
    if mode == "plain":
        trainer = Trainer(
            model=student,
            args=args,
            train_dataset=data.remove_columns("teacher_logits"),
            data_collator=collator,
            callbacks=[timer],
        )
    elif mode == "teacher":
        trainer = DistillationTrainer(
            model=student,
            teacher_model=teacher,
            args=args,
            callbacks=[timer],
            train_dataset=data.remove_columns("teacher_logits"),
            data_collator=collator,
        )
    else:
        trainer = DistillationTrainer(
            model=student, teacher_model=None, args=args, train_dataset=data, data_collator=collator, callbacks=[timer]
        )
    trainer.train()
    return statistics.median(timer.times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", default="/work/artifacts/teachers/minilm-sst2")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(MODELS / "minilm-l6")
    teacher = AutoModelForSequenceClassification.from_pretrained(options.teacher).eval()
    if AutoTokenizer.from_pretrained(options.teacher).get_vocab() != tokenizer.get_vocab():
        raise SystemExit("This benchmark needs a teacher with MiniLM's tokenizer (e.g. a fine-tuned MiniLM).")
    rows = 32 * (options.steps + WARMUP)
    data = datasets.Dataset.from_list(sst2_rows(rows))
    data = data.map(lambda b: tokenizer(b["sentence"], truncation=True, max_length=64), batched=True)
    data = data.remove_columns("sentence")
    start = time.perf_counter()
    logits = compute_teacher_logits(teacher, data, tokenizer, batch_size=128, show_progress=False)
    cache_seconds = time.perf_counter() - start
    data = add_teacher_logits(data, logits)

    times: dict[str, list[float]] = {"plain": [], "teacher": [], "cache": []}
    for _ in range(options.repeats):
        for mode in times:
            times[mode].append(run(mode, options.steps, data, teacher, tokenizer))
    step = {mode: statistics.median(values) for mode, values in times.items()}

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"teacher {options.teacher} ({sum(p.numel() for p in teacher.parameters()) / 1e6:.1f}M), student "
        f"MiniLM-L6 first 3 layers; batch 32, max_length 64, {options.steps} timed steps x {options.repeats}"
    )
    print()
    print("| run | step time | vs plain | vs teacher forward |")
    print("|---|---|---|---|")
    for mode, label in (
        ("plain", "plain fine-tuning"),
        ("teacher", "KD, teacher forward each step"),
        ("cache", "KD from the teacher cache"),
    ):
        print(
            f"| {label} | {step[mode] * 1000:.0f} ms | {step[mode] / step['plain']:.2f} | "
            f"{step[mode] / step['teacher']:.2f} |"
        )
    print()
    saved = step["teacher"] - step["cache"]
    per_row = cache_seconds / rows
    print(
        f"cache: {cache_seconds:.1f} s once for {rows} rows ({per_row * 1000:.1f} ms/row, batch 128, no grad); "
        f"saves {saved * 1000:.0f} ms per step of 32 rows ({saved / 32 * 1000:.1f} ms/row), so it pays back "
        f"within the first epoch when {per_row * 1000:.1f} < {saved / 32 * 1000:.1f}"
    )
    print("raw step times (s):", {mode: [round(v, 4) for v in values] for mode, values in times.items()})


if __name__ == "__main__":
    main()
