"""BERT-of-Theseus on SST-2 next to logit KD and student-alone, same 3-layer shape, one run (CPU).

    flock /tmp/hf_distill_heavy.lock env PYTHONPATH=$PWD python benchmarks/sst2_theseus.py \\
        --teacher /work/artifacts/teachers/minilm-sst2 [--methods alone,kd,theseus] [--successor_init group_first] \\
        [--results rows.json]

On a busy machine run one method per invocation with the same ``--results`` file: each run adds its rows and
prints the whole table.

Standard protocol: predecessor/teacher = the fine-tuned 6-layer MiniLM; train rows = the first 2000 of SST-2 train
after ``random.Random(0).shuffle``, max_length 64, batch 32, 2 epochs, lr 5e-5, seed 0; accuracy on the full dev
set (872 rows).

- student alone: pretrained all-MiniLM-L6-v2 keeping layers [0, 2, 4] (+ embeddings, fresh classifier), plain
  fine-tuning with `transformers.Trainer`;
- logit KD: the same student, `DistillationTrainer` (KL, T=2, alpha=0.5) from the teacher;
- Theseus: the teacher's 6 layers in 3 modules of 2, successors copied from teacher layers (``--successor_init``),
  constant p=0.5 for the first half of the steps, then p=1 (successor fine-tuning); only successors train. The
  exported 3-layer model is evaluated (and checked to match the wrapper's eval logits).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import time
from pathlib import Path

import datasets
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

from hf_distill import (
    DistillationDataCollator,
    DistillationTrainer,
    DistillationTrainingArguments,
    ReplacementScheduler,
    export_successor,
    shallow_student,
    theseus_model,
)

MODELS = Path(os.environ.get("HF_DISTILL_MODELS", Path.home() / ".cache" / "hf-distill-models"))
GLUE = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"
KEEP = [0, 2, 4]


def read_sst2(split: str) -> list[dict]:
    with open(GLUE / "SST-2" / f"{split}.tsv", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [{"sentence": row["sentence"], "label": int(row["label"])} for row in reader]


def make_student(seed: int) -> torch.nn.Module:
    """Pretrained MiniLM-L6 with a fresh classifier (drawn with ``seed``), keeping layers KEEP."""
    torch.manual_seed(seed)
    source = AutoModelForSequenceClassification.from_pretrained(MODELS / "minilm-l6", num_labels=2)
    return shallow_student(source, KEEP)


def accuracy(model: torch.nn.Module, tokenizer, rows: list[dict], batch_size: int = 64) -> float:
    model.eval()
    collator = DistillationDataCollator(tokenizer, text_fields=["sentence"], max_length=64)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = collator(rows[start : start + batch_size])
            labels = batch.pop("labels")
            correct += (model(**batch).logits.argmax(-1) == labels).sum().item()
    return correct / len(rows)


def common_args(output_dir: str) -> dict:
    return dict(
        output_dir=output_dir, per_device_train_batch_size=32, num_train_epochs=2, learning_rate=5e-5, seed=0,
        report_to="none", disable_tqdm=True, save_strategy="no", logging_strategy="no", use_cpu=True,
        remove_unused_columns=False, dataloader_num_workers=0,
    )  # fmt: skip


def row(method: str, model: torch.nn.Module, accuracy_value: float, seconds: float | None, steps: int | None) -> dict:
    params = sum(p.numel() for p in model.parameters())
    return {"method": method, "dev_acc": accuracy_value, "train_s": seconds, "steps": steps, "params": params}


def train_timed(trainer: Trainer) -> tuple[float, int]:
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start, trainer.state.global_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", required=True, help="fine-tuned 6-layer SST-2 teacher (predecessor) directory")
    parser.add_argument("--methods", default="alone,kd,theseus", help="comma list of alone, kd, theseus")
    parser.add_argument("--successor_init", default="group_first", help="'first', 'group_first', 'group_last'")
    parser.add_argument("--schedule", default="constant", choices=["constant", "linear"])
    parser.add_argument("--rate", type=float, default=0.5, help="p (constant) or b (linear)")
    parser.add_argument("--slope", type=float, default=None, help="k of the linear curriculum, per step")
    parser.add_argument("--replacing_steps", type=float, default=0.5, help="constant: steps (or fraction) at p")
    parser.add_argument("--theseus_lr", type=float, default=5e-5, help="Theseus learning rate (others: 5e-5)")
    parser.add_argument("--train_rows", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", default=None, help="JSON file: rows from earlier runs are kept and printed")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)

    train_rows = read_sst2("train")
    random.Random(0).shuffle(train_rows)
    train = datasets.Dataset.from_list(train_rows[: options.train_rows])
    dev = read_sst2("dev")
    tokenizer = AutoTokenizer.from_pretrained(options.teacher)
    collator = DistillationDataCollator(tokenizer, text_fields=["sentence"], max_length=64)
    teacher = AutoModelForSequenceClassification.from_pretrained(options.teacher)
    results = {}
    if options.results and Path(options.results).exists():
        results = {r["method"]: r for r in json.loads(Path(options.results).read_text())}
    name = "teacher / predecessor (6 layers)"
    results[name] = row(name, teacher, accuracy(teacher, tokenizer, dev), None, None)
    methods = options.methods.split(",")

    if "alone" in methods:
        student = make_student(seed=0)
        trainer = Trainer(
            model=student, args=TrainingArguments(**common_args("/tmp/hf_distill_sst2_theseus/alone")),
            train_dataset=train, data_collator=collator,
        )  # fmt: skip
        name = "student alone (3 layers)"
        timing = train_timed(trainer)
        results[name] = row(name, student, accuracy(student, tokenizer, dev), *timing)

    if "kd" in methods:
        student = make_student(seed=0)
        args = DistillationTrainingArguments(
            **common_args("/tmp/hf_distill_sst2_theseus/kd"), temperature=2.0, alpha=0.5
        )
        trainer = DistillationTrainer(
            model=student, teacher_model=teacher, args=args, train_dataset=train, data_collator=collator
        )
        name = "logit KD, T=2 alpha=0.5 (3 layers)"
        timing = train_timed(trainer)
        results[name] = row(name, student, accuracy(student, tokenizer, dev), *timing)

    if "theseus" in methods:
        model = theseus_model(teacher, 3, successor_init=options.successor_init)
        at_init = accuracy(export_successor(model), tokenizer, dev)
        replacing_steps = options.replacing_steps if options.schedule == "constant" else None
        if replacing_steps is not None and replacing_steps >= 1:
            replacing_steps = int(replacing_steps)
        scheduler = ReplacementScheduler(options.rate, options.schedule, options.slope, replacing_steps)
        theseus_args = {**common_args("/tmp/hf_distill_sst2_theseus/theseus"), "learning_rate": options.theseus_lr}
        trainer = Trainer(
            model=model, args=TrainingArguments(**theseus_args),
            train_dataset=train, data_collator=collator, callbacks=[scheduler],
        )  # fmt: skip
        timing = train_timed(trainer)
        successor = export_successor(model)
        sample = collator(dev[:16])
        sample.pop("labels")
        with torch.no_grad():
            gap = (model.eval()(**sample).logits - successor(**sample).logits).abs().max().item()
        print(f"exported successor vs wrapper eval logits, max |diff| on 16 dev rows: {gap:.2e}")
        if options.schedule == "constant":
            schedule = f"p={options.rate} for {options.replacing_steps} of steps, then 1"
        else:
            schedule = f"p=min(1, {options.slope}*t+{options.rate})"
        name = f"  successors at init ({options.successor_init}), untrained"
        results[name] = row(name, successor, at_init, None, None)
        name = f"BERT-of-Theseus, init {options.successor_init}, {schedule}, lr {options.theseus_lr:g} (3 layers)"
        results[name] = row(name, successor, accuracy(successor, tokenizer, dev), *timing)

    if options.results:
        Path(options.results).write_text(json.dumps(list(results.values()), indent=1))
    print(f"\nSST-2 dev accuracy (872 rows), {options.train_rows} train rows, 2 epochs, batch 32, lr 5e-5, seed 0")
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} CPUs shared with other jobs, torch threads {options.threads}")
    print(f"| {'method':<70} | dev acc | train s | steps | params |")
    print(f"|{'-' * 72}|---|---|---|---|")
    for r in results.values():
        seconds = f"{r['train_s']:.0f}" if r["train_s"] is not None else ""
        print(f"| {r['method']:<70} | {r['dev_acc']:.4f} | {seconds} | {r['steps'] or ''} | {r['params']:,} |")


if __name__ == "__main__":
    main()
