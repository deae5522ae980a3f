"""SST-2 dev accuracy of every intermediate-layer preset next to student-alone and logit KD (CPU, standard protocol).

    flock /tmp/hf_distill_heavy.lock env PYTHONPATH=$PWD python benchmarks/sst2_presets.py \\
        --teacher /work/artifacts/teachers/minilm-sst2 [--student shallow|narrow] [--methods alone,logit,tinybert] \\
        [--results benchmarks/results/sst2_presets.json]

Standard protocol: teacher = the fine-tuned model at ``--teacher``; train rows = the first 2000 of SST-2 train after
``random.Random(0).shuffle``, max_length 64, batch 32, 2 epochs, seed 0; accuracy on the full dev set (872 rows).

Students (``--student``):

- ``shallow``: pretrained all-MiniLM-L6-v2 keeping layers [0, 2, 4] (+ embeddings, fresh classifier) through
  `hf_distill.shallow_student`; the same 384 width as the MiniLM teacher; lr 5e-5.
- ``narrow``: a fresh TinyBERT-4-shaped BERT (4 layers, 312 wide, FFN 1200, 12 heads) from `narrow_student`, so
  width-sized terms go through learned 312 -> 384 projections; lr 2e-4 (a randomly initialised student barely
  moves at 5e-5 in 126 steps), the same for every method.

Methods (``--methods``, comma-separated, default all): ``alone`` (plain `transformers.Trainer`), ``logit``
(`DistillationTrainer`, KL, T=2, alpha=0.5) and each preset of `hf_distill.PRESETS` (the same trainer and logit
term, plus the preset's intermediate terms; ``tinybert-joint`` trains the TinyBERT terms and the logit objective
together instead of in two phases). Every method trains the same student from the same initial weights.
A run of all methods takes longer than one heavy-lock slot (~6 min), so each invocation runs the methods given and
merges its rows into the ``--results`` JSON; the table printed at the end covers everything in that file.
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
import numpy as np
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

from hf_distill import (
    PRESETS,
    DistillationDataCollator,
    DistillationTrainer,
    DistillationTrainingArguments,
    narrow_student,
    shallow_student,
)

MODELS = Path(os.environ.get("HF_DISTILL_MODELS", Path.home() / ".cache" / "hf-distill-models"))
GLUE = Path(os.environ.get("HF_DISTILL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"))
# tinybert-joint: the TinyBERT terms trained together with the logit objective, without its two phases.
METHODS = ["alone", "logit", *PRESETS, "tinybert-joint"]
LEARNING_RATES = {"shallow": 5e-5, "narrow": 2e-4}


def read_sst2(split: str) -> list[dict]:
    with open(GLUE / "SST-2" / f"{split}.tsv", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [{"sentence": row["sentence"], "label": int(row["label"])} for row in reader]


def datasets_for(tokenizer, train_rows: int, dev_rows: int | None) -> tuple[datasets.Dataset, datasets.Dataset]:
    train = read_sst2("train")
    random.Random(0).shuffle(train)

    def encode(rows: list[dict]) -> datasets.Dataset:
        dataset = datasets.Dataset.from_list(rows)
        return dataset.map(
            lambda batch: tokenizer(batch["sentence"], truncation=True, max_length=64),
            batched=True,
            remove_columns=["sentence"],
        )

    return encode(train[:train_rows]), encode(read_sst2("dev")[:dev_rows])


def make_student(kind: str, teacher: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    labels = dict(id2label=teacher.config.id2label, label2id=teacher.config.label2id)
    if kind == "shallow":
        pretrained = AutoModelForSequenceClassification.from_pretrained(
            MODELS / "minilm-l6", num_labels=teacher.config.num_labels, **labels
        )
        return shallow_student(pretrained, [0, 2, 4])
    student = narrow_student(teacher.config, num_layers=4, hidden_size=312, intermediate_size=1200, num_heads=12)
    student.config.update(labels)
    return student


def run(method: str, kind: str, teacher_path: str, train, dev, tokenizer, epochs: float) -> dict:
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_path).eval()
    student = make_student(kind, teacher)
    common = dict(
        output_dir=f"/tmp/hf_distill_sst2_presets/{kind}-{method}", per_device_train_batch_size=32,
        per_device_eval_batch_size=128, num_train_epochs=epochs, learning_rate=LEARNING_RATES[kind], seed=0,
        save_strategy="no", logging_steps=20, report_to="none", disable_tqdm=True, use_cpu=True,
    )  # fmt: skip
    if method == "alone":
        trainer = Trainer(
            model=student,
            args=TrainingArguments(**common),
            train_dataset=train,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
    else:
        preset = {"logit": None, "tinybert-joint": "tinybert"}.get(method, method)
        phases = "joint" if method == "tinybert-joint" else None
        args = DistillationTrainingArguments(
            **common, temperature=2.0, alpha=0.5, distill_preset=preset, distill_phases=phases
        )
        trainer = DistillationTrainer(
            model=student,
            teacher_model=teacher,
            args=args,
            train_dataset=train,
            data_collator=DistillationDataCollator(tokenizer),
        )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    student.eval()
    prediction = Trainer(
        model=student,
        args=TrainingArguments(**{**common, "output_dir": common["output_dir"] + "-eval"}),
        data_collator=DataCollatorWithPadding(tokenizer),
    ).predict(dev)
    accuracy = float((np.argmax(prediction.predictions, -1) == prediction.label_ids).mean())
    logs = [log for log in trainer.state.log_history if "loss" in log]
    return {
        "accuracy": accuracy,
        "train_seconds": round(seconds, 1),
        "steps": trainer.state.global_step,
        "learning_rate": LEARNING_RATES[kind],
        "terms": getattr(trainer.args, "intermediate_terms", None),
        "projections": sorted(getattr(student, "distill_projections", None) or []),
        "last_log": logs[-1] if logs else None,
        "teacher": teacher_path,
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}",
    }


def print_table(results: dict, teacher_accuracy: float | None) -> None:
    print(f"\nSST-2 dev accuracy (872 rows); teacher: {teacher_accuracy}")
    print("| student | method | dev accuracy | vs alone | vs logit KD | train s |")
    print("|---|---|---|---|---|---|")
    for kind in ("shallow", "narrow"):
        rows = {key.split("/", 1)[1]: value for key, value in results.items() if key.startswith(kind + "/")}
        alone, logit = rows.get("alone", {}).get("accuracy"), rows.get("logit", {}).get("accuracy")
        for method in METHODS:
            if method not in rows:
                continue
            acc = rows[method]["accuracy"]
            vs_alone = f"{100 * (acc - alone):+.1f}" if alone is not None else "-"
            vs_logit = f"{100 * (acc - logit):+.1f}" if logit is not None else "-"
            print(
                f"| {kind} | {method} | {100 * acc:.1f} | {vs_alone} | {vs_logit} | {rows[method]['train_seconds']} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True, help="fine-tuned SST-2 teacher folder (e.g. minilm-sst2)")
    parser.add_argument("--student", choices=["shallow", "narrow"], default="shallow")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument("--results", default="benchmarks/results/sst2_presets.json")
    parser.add_argument("--train_rows", type=int, default=2000)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--dev_rows", type=int, default=None, help="first N dev rows only (smoke tests)")
    options = parser.parse_args()
    methods = [m.strip() for m in options.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {METHODS}")

    tokenizer = AutoTokenizer.from_pretrained(options.teacher)
    train, dev = datasets_for(tokenizer, options.train_rows, options.dev_rows)
    results_path = Path(options.results)
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for method in methods:
        result = run(method, options.student, options.teacher, train, dev, tokenizer, options.epochs)
        results[f"{options.student}/{method}"] = result
        print(
            f"{options.student}/{method}: accuracy {result['accuracy']:.4f} in {result['train_seconds']} s", flush=True
        )
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=1))
    info = Path(options.teacher) / "teacher_info.json"
    teacher_accuracy = json.loads(info.read_text()).get("dev_accuracy") if info.exists() else None
    print_table(results, teacher_accuracy)


if __name__ == "__main__":
    main()
