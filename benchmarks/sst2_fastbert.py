"""FastBERT on SST-2 (CPU): self-distil the branches of a fine-tuned classifier, then the speed/accuracy curve.

    flock /tmp/hf_distill_heavy.lock env PYTHONPATH=$PWD python benchmarks/sst2_fastbert.py \
        --teacher /work/artifacts/teachers/minilm-sst2 --output_dir /tmp/fastbert_sst2

Stage 1 (task fine-tuning of backbone + final classifier) is the given ``--teacher``, an already fine-tuned
``*ForSequenceClassification`` (minilm-sst2: all-MiniLM-L6-v2 fine-tuned on 4000 shuffled SST-2 train rows). Stage 2
(`FastBertStageCallback(backbone_epochs=0)`) trains only the branch classifiers on the TEXT of
``--unlabeled_rows`` shuffled SST-2 train rows (labels dropped), ``sum_i KL(p_i || p_teacher)``, at a higher
learning rate than the protocol's 5e-5 since the branches start from scratch and nothing else moves.

Then, on the full SST-2 dev set (872 rows), for each ``--speeds`` value: accuracy, average layers, FLOPs relative
to the full model, and wall-clock speedup over the exported backbone at batch 1 and batch 32, timed side by side in
this process (``--threads`` torch threads, minimum over ``--repeats`` rounds). Writes ``results.json`` and
``fastbert_speed_curve.png`` to ``--output_dir`` and prints the table.
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
from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments

from hf_distill.methods.fastbert import FastBertForSequenceClassification, FastBertStageCallback
from hf_distill.methods.fastbert.fastbert_report import format_report, write_speed_results

GLUE = Path(os.environ.get("HF_DISTILL_GLUE", "/work/shared/data/glue"))


def read_tsv(split: str) -> list[dict[str, str]]:
    with open(GLUE / "SST-2" / f"{split}.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="/work/artifacts/teachers/minilm-sst2")
    parser.add_argument("--output_dir", default="/tmp/fastbert_sst2")
    parser.add_argument("--unlabeled_rows", type=int, default=8000)
    parser.add_argument("--stage2_epochs", type=float, default=1.0)
    parser.add_argument("--stage2_lr", type=float, default=1e-3)
    parser.add_argument("--branch_pooling", default="mean", choices=["mean", "cls"])
    parser.add_argument("--speeds", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--timing_rows", type=int, nargs="+", default=[96, 192], help="timed dev rows per batch size")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--steps",
        choices=["all", "train", "report"],
        default="all",
        help="train saves the model to OUTPUT_DIR/fastbert; report loads it from there (two heavy runs of < 6 min)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max_length", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    train_rows = read_tsv("train")
    random.Random(0).shuffle(train_rows)
    dev_rows = read_tsv("dev")
    tokenizer = AutoTokenizer.from_pretrained(args.teacher)

    def encode(rows: list[dict[str, str]], with_labels: bool) -> datasets.Dataset:
        encoded = tokenizer([row["sentence"] for row in rows], truncation=True, max_length=args.max_length)
        columns = dict(encoded)
        if with_labels:
            columns["labels"] = [int(row["label"]) for row in rows]
        return datasets.Dataset.from_dict(columns)

    collator = DataCollatorWithPadding(tokenizer)
    model_dir = output_dir / "fastbert"
    results_path = output_dir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() and args.steps == "report" else {}
    if args.steps in ("all", "train"):
        model = FastBertForSequenceClassification.from_backbone(args.teacher, branch_pooling=args.branch_pooling)
        unlabeled = encode(train_rows[: args.unlabeled_rows], with_labels=False)
        training_args = TrainingArguments(
            output_dir=str(output_dir / "trainer"), per_device_train_batch_size=32,
            num_train_epochs=args.stage2_epochs, learning_rate=args.stage2_lr, warmup_steps=0.06, weight_decay=0.01,
            seed=0, report_to="none", save_strategy="no", logging_steps=50, use_cpu=True, disable_tqdm=True,
            dataloader_num_workers=0, train_sampling_strategy="group_by_length",  # less padding: CPU time
        )  # fmt: skip
        trainer = Trainer(
            model=model, args=training_args, train_dataset=unlabeled, data_collator=collator,
            callbacks=[FastBertStageCallback(backbone_epochs=0)],
        )  # fmt: skip
        train_start = time.perf_counter()
        trainer.train()
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        results["stage2"] = {
            "unlabeled_rows": len(unlabeled), "epochs": args.stage2_epochs, "lr": args.stage2_lr,
            "branch_pooling": args.branch_pooling, "seconds": time.perf_counter() - train_start,
            "losses_every_50_steps": losses,
        }  # fmt: skip
        results_path.write_text(json.dumps(results, indent=2))
        print(json.dumps(results["stage2"], indent=2))
    if args.steps == "train":
        return
    model = FastBertForSequenceClassification.from_pretrained(model_dir)
    dev = encode(dev_rows, with_labels=True)
    speed = write_speed_results(
        model, dev, collator, args.speeds, str(output_dir), batch_sizes=args.batch_sizes,
        timing_rows=dict(zip(args.batch_sizes, args.timing_rows)), repeats=args.repeats, label_column="labels",
        title="FastBERT on SST-2 dev (MiniLM-L6 teacher)",
    )  # fmt: skip
    print(format_report(speed["speed_table"]))
    results.update(
        teacher=args.teacher, eval={"dataset": "SST-2 dev", "rows": len(dev)}, **speed,
        machine={"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": args.threads},
        report_seconds=time.perf_counter() - started,
    )  # fmt: skip
    results_path.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: results[k] for k in ("best_2x_within_1_point", "report_seconds")}, indent=2))


if __name__ == "__main__":
    main()
