"""FastBERT speeds: the teacher with self-distilled exit branches, timed at several ``speed`` values.

The teacher is the backbone (`FastBertForSequenceClassification.from_backbone`); its branches learn from its
final classifier on unlabeled SST-2 training rows (stage 2 only: backbone frozen), then
`hf_distill.methods.fastbert.fastbert_report.speed_report` gives, per speed, dev accuracy, average layers, FLOPs
relative to the full model and the measured wall-clock speedup at batch 1 and batch 64 (real adaptive runs, exited
rows dropped).
``efficiency`` = measured speedup / FLOP speedup (``1 / relative_flops``).
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import torch
from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments

from . import glue_data


def measure_case(case: dict[str, Any], sizes: dict[str, Any], glue_dir: str) -> dict[str, Any]:
    from hf_distill.methods.fastbert import FastBertForSequenceClassification, FastBertStageCallback
    from hf_distill.methods.fastbert.fastbert_report import speed_report

    tokenizer = AutoTokenizer.from_pretrained(case["teacher"])
    train_rows = glue_data.subset(glue_data.read_rows(glue_dir, "SST-2", "train"), sizes["train_rows"], 0)
    dev_rows = glue_data.subset(glue_data.read_rows(glue_dir, "SST-2", "dev"), sizes["dev_rows"], None)
    unlabeled = [
        {key: value for key, value in row.items() if key != "labels"}
        for row in glue_data.tokenized(train_rows, tokenizer, sizes["max_length"])
    ]
    dev = glue_data.tokenized(dev_rows, tokenizer, sizes["max_length"])
    torch.manual_seed(0)
    model = FastBertForSequenceClassification.from_backbone(case["teacher"])
    collator = DataCollatorWithPadding(tokenizer)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as output_dir:
        args = TrainingArguments(
            output_dir=output_dir, per_device_train_batch_size=32, num_train_epochs=sizes["epochs"],
            learning_rate=sizes["lr"], seed=0, report_to="none", disable_tqdm=True, save_strategy="no",
            logging_strategy="no", use_cpu=not torch.cuda.is_available(),
        )  # fmt: skip
        trainer = Trainer(
            model=model, args=args, train_dataset=unlabeled, data_collator=collator,
            callbacks=[FastBertStageCallback(backbone_epochs=0)],
        )  # fmt: skip
        trainer.train()
    train_seconds = time.perf_counter() - start
    model.eval()
    rows = speed_report(
        model, dev, collator, sizes["speeds"], batch_sizes=(1, 64), timing_rows={1: sizes["timing_rows_batch1"]},
        repeats=sizes["repeats"], label_column="labels",
    )  # fmt: skip
    for row in rows:
        flop_speedup = 1.0 / row["relative_flops"] if row["relative_flops"] else None
        row["flop_speedup"] = flop_speedup
        for batch in (1, 64):
            measured = row.get(f"speedup_batch{batch}")
            row[f"efficiency_batch{batch}"] = measured / flop_speedup if measured and flop_speedup else None
    return {
        "case": case["name"],
        "train_rows": len(train_rows),
        "dev_rows": len(dev_rows),
        "branch_train_seconds": train_seconds,
        "sizes": sizes,
        "speeds": rows,
    }
