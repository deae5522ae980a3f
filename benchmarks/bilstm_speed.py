"""Inference time of a Distilled BiLSTM student against its transformer teacher, side by side, on real sentences.

    python recipes/run_glue_distill.py --config recipes/configs/sst2_bilstm.yaml --output_dir OUT/student ...
    python benchmarks/bilstm_speed.py --student OUT/student --teacher TEACHER [--threads 2] [--out speed.json]

Both models run the same SST-2 dev sentences (tokenized by the teacher's tokenizer, which the BiLSTM shares;
max_length 64, padded per batch) on the CPU under ``torch.inference_mode``: 200 batches of 1 and 12 batches of 32.
Each time is the median over 3 passes of the mean forward time per batch, after 3 warm-up batches, teacher then
BiLSTM for each batch size. The speedup is teacher time / BiLSTM time.
(The training side, BiLSTM dev accuracy next to the other methods, is `benchmarks/run.py`'s quality section:
``recipe:bilstm`` and ``recipe:bilstm@alone``.)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from sst2_common import TEACHER_DIR, dev_set
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import hf_distill  # noqa: F401  (registers the BiLSTM for the Auto classes)

MAX_LENGTH = 64
BATCHES = ((1, 200), (32, 12))  # (batch size, batches timed)


@torch.inference_mode()
def seconds_per_batch(model: torch.nn.Module, inputs: list[dict]) -> float:
    """Median over 3 passes of the mean forward time per batch of ``inputs``, after 3 warm-up batches."""
    for batch in inputs[:3]:
        model(**batch)
    repeats = []
    for _ in range(3):
        start = time.perf_counter()
        for batch in inputs:
            model(**batch)
        repeats.append((time.perf_counter() - start) / len(inputs))
    return statistics.median(repeats)


def measure(student_dir: str, teacher_dir: str, threads: int) -> dict:
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    models = {
        "teacher": AutoModelForSequenceClassification.from_pretrained(teacher_dir).eval(),
        "bilstm": AutoModelForSequenceClassification.from_pretrained(student_dir).eval(),
    }
    sentences = list(dev_set()["sentence"])
    results = {"threads": threads, "cpu": platform.processor() or platform.machine(), "student": student_dir}
    for batch_size, batches in BATCHES:
        inputs = [
            tokenizer(
                sentences[i * batch_size : (i + 1) * batch_size],
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            for i in range(batches)
        ]
        timings = {name: seconds_per_batch(model, inputs) for name, model in models.items()}
        results[f"batch_{batch_size}"] = {
            "teacher_ms": round(1000 * timings["teacher"], 2),
            "bilstm_ms": round(1000 * timings["bilstm"], 2),
            "speedup": round(timings["teacher"] / timings["bilstm"], 2),
        }
    for name, model in models.items():
        results[f"{name}_parameters"] = sum(p.numel() for p in model.parameters())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", required=True, help="a saved BiLSTM student (the recipe's output_dir)")
    parser.add_argument("--teacher", default=TEACHER_DIR, help="the fine-tuned teacher it was distilled from")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    results = measure(args.student, args.teacher, args.threads)
    print("| batch | teacher (ms) | BiLSTM (ms) | speedup |\n| --- | --- | --- | --- |")
    for batch_size, _ in BATCHES:
        entry = results[f"batch_{batch_size}"]
        print(f"| {batch_size} | {entry['teacher_ms']} | {entry['bilstm_ms']} | {entry['speedup']}x |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
