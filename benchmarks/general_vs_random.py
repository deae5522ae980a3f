"""Does general (task-agnostic) distillation help? A general-distilled student vs the same student left random.

    # 1. general distillation over unlabeled GLUE sentences (resumable: rerun to continue from the last checkpoint)
    python benchmarks/general_vs_random.py general --block_size 64 --max_steps 400 --time_budget 1300
    # 2. task distillation on SST-2, side by side for both students (rows can be run separately)
    python benchmarks/general_vs_random.py task --rows general_kd,random_kd --task_lr 2e-4 --train_rows 2000 \
        --task_epochs 3
    python benchmarks/general_vs_random.py table

(The last run's numbers, 2-core CPU: README "Results".)

General stage: ``recipes/run_general_distill.py`` (``--general_preset``, default tinybert) from the pre-trained
MiniLM-L6 checkpoint (6 layers, 384 wide, no task head) into a randomly initialised 4-layer student (384 wide, 12
heads, FFN 1536), on the sentences of SST-2, MRPC and RTE ``train.tsv`` without labels, packed into blocks of 128.
The initial random student is saved first (``random_student``), so the baseline is exactly the general-distilled
student before its general distillation. ``--student_init 0,2,3,5`` starts the general stage from copied teacher
layers instead (DistilBERT's initialisation; these four line up with TinyBERT's uniform 4 -> 6 layer map), saved
first as ``copied_student``: the ``copied_kd`` row task-distils that copy without the general stage, which separates
what the general stage adds from what the copied weights bring.

Task stage (the standard CPU protocol of the project): teacher ``minilm-sst2`` (fine-tuned MiniLM-L6); the first
2000 SST-2 train rows after ``random.Random(0).shuffle`` (``--train_rows``), max_length 64, batch 32, 2 epochs
(``--task_epochs``), seed 0 (``--task_seed``; the general stage always uses seed 0); logit KD with
`DistillationTrainer` (T=2, alpha=0.5) and "student alone" (plain fine-tuning, `transformers.Trainer`); accuracy on
the full SST-2 dev set (872 rows). The learning rate is a flag (``--task_lr``, default 5e-5 as in the protocol).
Each row's result goes to ``WORK_DIR/results.json``; ``table`` prints them side by side.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import random
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from hf_distill import DistillationDataCollator, DistillationTrainer, DistillationTrainingArguments
from hf_distill.hub.push import load_results
from hf_distill.methods.general.general_trainer import build_general_student

MODELS = os.environ.get("HF_DISTILL_MODELS", "/root/.cache/hf-distill-models")
GLUE = "/work/shared/data/glue"
ROWS = {
    "general_kd": ("general", "kd"),
    "random_kd": ("random", "kd"),
    "copied_kd": ("copied", "kd"),
    "general_alone": ("general", "alone"),
    "random_alone": ("random", "alone"),
}
# Where each init's task-stage student comes from, under WORK_DIR.
SOURCES = {"general": "general", "random": "random_student", "copied": "copied_student"}


def read_tsv(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


class TimeBudget(TrainerCallback):
    """Stop (after saving a checkpoint) once ``seconds`` of training have passed, so a rerun can resume."""

    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self.start > self.seconds:
            control.should_save = True
            control.should_training_stop = True


def general_recipe() -> types.ModuleType:
    """recipes/run_general_distill.py, loaded from its file (a script, not an installed module)."""
    path = Path(__file__).resolve().parents[1] / "recipes" / "run_general_distill.py"
    spec = importlib.util.spec_from_file_location("run_general_distill", path)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look it up there
    spec.loader.exec_module(module)
    return module


def general_stage(opts: argparse.Namespace) -> None:
    work = Path(opts.work_dir)
    teacher_path = opts.general_teacher
    teacher = AutoModel.from_pretrained(teacher_path)
    start_dir = work / SOURCES["random"]
    if not (start_dir / "config.json").exists():
        set_seed(0)
        student = build_general_student(teacher, "random", opts.layers, opts.hidden, opts.heads, opts.ffn)
        student.save_pretrained(start_dir)
        AutoTokenizer.from_pretrained(teacher_path).save_pretrained(start_dir)
    if opts.student_init != "random":
        # DistilBERT's initialisation: the general stage starts from copied teacher layers (same shape as the random
        # student), and the copy itself, before any general step, is the `copied` row's start.
        start_dir = work / SOURCES["copied"]
        if not (start_dir / "config.json").exists():
            student = build_general_student(teacher, opts.student_init, opts.layers, opts.hidden, opts.heads)
            student.save_pretrained(start_dir)
            AutoTokenizer.from_pretrained(teacher_path).save_pretrained(start_dir)
    (work / "general_start.json").write_text(json.dumps({"student_init": opts.student_init}))
    files = [f"{opts.glue_dir}/{task}/train.tsv" for task in ("SST-2", "MRPC", "RTE")]
    argv = [
        "--teacher_model", teacher_path, "--student_model", str(start_dir), "--general_preset", opts.preset,
        "--text_files", *files, "--text_columns", "sentence", "sentence1", "sentence2", "#1 String", "#2 String",
        "--block_size", str(opts.block_size), "--output_dir", str(work / "general"),
        "--corpus_cache_dir", str(work / "corpus_cache"),
        "--per_device_train_batch_size", str(opts.batch), "--learning_rate", str(opts.general_lr),
        "--max_steps", str(opts.max_steps), "--warmup_steps", "0.05", "--weight_decay", "0.01",
        "--save_strategy", "steps", "--save_steps", str(opts.save_steps), "--save_total_limit", "1",
        "--logging_steps", "10", "--report_to", "none", "--disable_tqdm", "true", "--use_cpu", "true",
        "--seed", "0", "--dataloader_num_workers", "0",
    ]  # fmt: skip
    start = time.perf_counter()
    results = general_recipe().main(argv, callbacks=[TimeBudget(opts.time_budget)])
    stage = results["stages"][-1]
    losses = [log for log in stage["log_history"] if "loss" in log]
    print(
        f"general ({opts.preset}): step {stage['global_step']}/{opts.max_steps} (resumed from "
        f"{stage['resumed_from']}), {time.perf_counter() - start:.0f} s this run"
    )
    for log in losses[:2] + losses[-2:]:
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in log.items()})


def accuracy(trainer: Trainer, dataset) -> float:
    predictions = trainer.predict(dataset)
    return float((np.argmax(predictions.predictions, -1) == predictions.label_ids).mean())


def teacher_logits(teacher, tokenizer, sentences: list[str]) -> list[list[float]]:
    """The task teacher's logits for each training sentence, computed once (eval mode, max_length 64)."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(sentences), 64):
            batch = tokenizer(
                sentences[start : start + 64], truncation=True, max_length=64, padding=True, return_tensors="pt"
            )
            rows += teacher(**batch).logits.float().tolist()
    return rows


_CACHE: dict = {}


def task_row(opts: argparse.Namespace, name: str) -> dict:
    init, method = ROWS[name]
    work = Path(opts.work_dir)
    source = work / SOURCES[init]
    if not (source / "config.json").exists():
        raise SystemExit(f"{source} has no model: run the general stage first.")
    import datasets

    train_rows = read_tsv(f"{opts.glue_dir}/SST-2/train.tsv")
    random.Random(0).shuffle(train_rows)
    train_rows = train_rows[: opts.train_rows]
    dev_rows = read_tsv(f"{opts.glue_dir}/SST-2/dev.tsv")
    to_dataset = lambda rows: datasets.Dataset.from_dict(  # noqa: E731
        {"sentence": [r["sentence"] for r in rows], "label": [int(r["label"]) for r in rows]}
    )
    teacher = AutoModelForSequenceClassification.from_pretrained(opts.task_teacher)
    tokenizer = AutoTokenizer.from_pretrained(opts.task_teacher)
    set_seed(opts.task_seed)
    student = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=2, id2label=teacher.config.id2label, label2id=teacher.config.label2id
    )
    common = dict(
        output_dir=str(work / "task" / name), per_device_train_batch_size=32, per_device_eval_batch_size=64,
        num_train_epochs=opts.task_epochs, learning_rate=opts.task_lr, seed=opts.task_seed, report_to="none",
        disable_tqdm=True, save_strategy="no", logging_steps=20, use_cpu=True, remove_unused_columns=False,
    )  # fmt: skip
    collator = DistillationDataCollator(tokenizer, text_fields=["sentence"], max_length=64)
    train, dev = to_dataset(train_rows), to_dataset(dev_rows)
    if method == "kd" and opts.cache_teacher_logits:
        # The teacher is deterministic in eval mode: its logits are computed once and read from a teacher_logits
        # column (DistillationTrainer's teacher-output cache path) instead of a teacher forward per step.
        if "logits" not in _CACHE:
            _CACHE["logits"] = teacher_logits(teacher, tokenizer, [r["sentence"] for r in train_rows])
        train = train.add_column("teacher_logits", _CACHE["logits"])
    start = time.perf_counter()
    if method == "kd":
        args = DistillationTrainingArguments(**common, temperature=2.0, alpha=0.5)
        trainer = DistillationTrainer(
            model=student, teacher_model=teacher, args=args, train_dataset=train, data_collator=collator
        )
    else:
        trainer = Trainer(model=student, args=TrainingArguments(**common), train_dataset=train, data_collator=collator)
    trainer.train()
    seconds = time.perf_counter() - start
    result = {
        "row": name, "init": init, "method": method, "dev_accuracy": accuracy(trainer, dev),
        "cached_teacher_logits": bool(method == "kd" and opts.cache_teacher_logits),
        "train_seconds": round(seconds, 1), "task_lr": opts.task_lr, "train_rows": len(train_rows),
        "task_epochs": opts.task_epochs, "task_seed": opts.task_seed,
        "student_parameters": sum(p.numel() for p in student.parameters()),
    }  # fmt: skip
    if init == "general":
        info = json.loads((work / "general" / "general_distill_results.json").read_text())
        result["general_steps"] = info["stages"][-1]["global_step"]
        result["general_preset"] = info["general_preset"]
    if init != "random":
        start = work / "general_start.json"
        result["student_init"] = json.loads(start.read_text())["student_init"] if start.exists() else "random"
    return result


def save_result(work: Path, result: dict) -> None:
    path = work / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    key = f"{result['row']}@lr{result['task_lr']}@rows{result['train_rows']}x{result.get('task_epochs', 2)}"
    key += f"@seed{result['task_seed']}" if result.get("task_seed", 0) else ""
    results[key] = result
    path.write_text(json.dumps(results, indent=1))


def table(work: Path, teacher_path: str) -> None:
    results = json.loads((work / "results.json").read_text())
    teacher_results = load_results(teacher_path)  # the recipe's teacher stage writes results.json
    teacher_acc = teacher_results["teacher"]["metrics"]["accuracy"] if teacher_results else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    print(f"teacher minilm-sst2 (6L/384) dev accuracy: {teacher_acc:.4f}")
    print(
        f"{'student init':<52} {'task training':<22} {'lr':>7} {'rows x epochs':>14} {'SST-2 dev acc':>14} "
        f"{'seed':>4} {'train s':>8}"
    )
    order = lambda r: (  # noqa: E731
        r["train_rows"], r.get("task_epochs", 2), r["task_lr"], r["method"], r["init"], r.get("task_seed", 0)
    )  # fmt: skip
    for result in sorted(results.values(), key=order):
        start = result.get("student_init", "random")
        start = "random" if start == "random" else f"teacher layers {start}"
        init = {
            "general": f"{start} + general ({result.get('general_preset')}, {result.get('general_steps')} st)",
            "copied": f"{start}, no general KD",
            "random": "random, no general KD",
        }[result["init"]]
        method = "logit KD (T=2, a=0.5)" if result["method"] == "kd" else "student alone"
        size = f"{result['train_rows']} x {result.get('task_epochs', 2)}"
        print(
            f"{init:<52} {method:<22} {result['task_lr']:>7.0e} {size:>14} {result['dev_accuracy']:>14.4f} "
            f"{result.get('task_seed', 0):>4} {result['train_seconds']:>8.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["general", "task", "table"])
    parser.add_argument("--work_dir", default="/work/artifacts/runs/general-vs-random")
    parser.add_argument("--glue_dir", default=GLUE)
    parser.add_argument("--general_teacher", default=f"{MODELS}/minilm-l6")
    parser.add_argument("--task_teacher", default="/work/artifacts/teachers/minilm-sst2")
    parser.add_argument("--preset", default="tinybert")
    parser.add_argument(
        "--student_init",
        default="random",
        help="start of the general stage: 'random', or teacher layers to copy (e.g. '0,2,3,5', DistilBERT's init)",
    )
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--ffn", type=int, default=1536)
    parser.add_argument("--block_size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--general_lr", type=float, default=5e-4)
    parser.add_argument("--max_steps", type=int, default=200)
    parser.add_argument("--save_steps", type=int, default=25)
    parser.add_argument("--time_budget", type=float, default=330.0, help="seconds of general training per run")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--task_lr", type=float, default=5e-5)
    parser.add_argument(
        "--cache_teacher_logits", type=int, default=1, help="1: precompute the task teacher's logits once"
    )
    parser.add_argument("--train_rows", type=int, default=2000)
    parser.add_argument("--task_epochs", type=float, default=2.0)
    parser.add_argument("--task_seed", type=int, default=0, help="seed of the task stage (student head, data order)")
    opts = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    work = Path(opts.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    if opts.stage == "general":
        general_stage(opts)
    elif opts.stage == "task":
        for name in opts.rows.split(","):
            result = task_row(opts, name)
            save_result(work, result)
            print(json.dumps(result))
    table(work, opts.task_teacher) if opts.stage != "general" else None


if __name__ == "__main__":
    main()
