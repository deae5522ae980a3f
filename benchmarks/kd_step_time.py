"""Step time of logit distillation over plain fine-tuning, measured side by side in one run (CPU, tiny models).

    python benchmarks/kd_step_time.py [--steps 60] [--repeats 5]

Student and teacher are random BERTs built from configs (student 2 layers, teacher 4 layers, hidden 128), trained
on synthetic sentences of 32 tokens, batch 32. Plain fine-tuning is `transformers.Trainer`; distillation is
`DistillationTrainer` (KL, T=2, alpha=0.5). Runs alternate and each figure is the median over ``--repeats``. The
FLOP-based ideal ratio is ``1 + teacher_forward / (3 * student_forward)`` (a backward pass costs two forwards).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import datasets
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

from hf_distill import DistillationTrainer, DistillationTrainingArguments

SEQ_LEN, BATCH, VOCAB, HIDDEN = 32, 32, 1000, 128


def model(layers: int, seed: int) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=4 * HIDDEN, max_position_embeddings=SEQ_LEN, num_labels=2,
    )  # fmt: skip
    return BertForSequenceClassification(config)


def data(rows: int) -> datasets.Dataset:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, VOCAB, (rows, SEQ_LEN), generator=generator)
    labels = torch.randint(0, 2, (rows,), generator=generator)
    return datasets.Dataset.from_dict({"input_ids": ids.tolist(), "labels": labels.tolist()})


class StepTimer(TrainerCallback):
    """Wall time of each optimizer step after the first few (warm-up excluded)."""

    def __init__(self, warmup: int = 5):
        self.warmup, self.times, self._start = warmup, [], 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step > self.warmup:
            self.times.append(time.perf_counter() - self._start)


def time_run(distil: bool, steps: int, dataset: datasets.Dataset) -> float:
    common = dict(
        output_dir="/tmp/hf_distill_bench", max_steps=steps, per_device_train_batch_size=BATCH, report_to="none",
        disable_tqdm=True, save_strategy="no", logging_strategy="no", use_cpu=True, dataloader_num_workers=0,
    )  # fmt: skip
    timer = StepTimer()
    if distil:
        args = DistillationTrainingArguments(**common, temperature=2.0, alpha=0.5)
        trainer = DistillationTrainer(
            model=model(2, 0), teacher_model=model(4, 1), args=args, train_dataset=dataset, callbacks=[timer]
        )
    else:
        args = TrainingArguments(**common)
        trainer = Trainer(model=model(2, 0), args=args, train_dataset=dataset, callbacks=[timer])
    trainer.train()
    return statistics.median(timer.times)


def forward_flops(layers: int) -> float:
    """Multiply-adds x2 of a BERT forward on one sequence (matmuls only: QKV/out, attention, FFN)."""
    per_layer = 2 * SEQ_LEN * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * 4 * HIDDEN) + 2 * 2 * SEQ_LEN * SEQ_LEN * HIDDEN
    return layers * per_layer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    dataset = data(options.steps * BATCH)
    plain, distil = [], []
    for _ in range(options.repeats):
        plain.append(time_run(False, options.steps, dataset))
        distil.append(time_run(True, options.steps, dataset))
    plain_step, distil_step = statistics.median(plain), statistics.median(distil)
    ideal = 1 + forward_flops(4) / (3 * forward_flops(2))
    print(f"machine: {platform.machine()} {platform.processor() or ''} torch threads={torch.get_num_threads()}")
    print(f"plain fine-tuning step:  {plain_step * 1000:8.2f} ms (median of {options.repeats} runs)")
    print(f"logit distillation step: {distil_step * 1000:8.2f} ms")
    print(f"ratio distillation / plain: {distil_step / plain_step:.3f}  (FLOP ideal {ideal:.3f})")


if __name__ == "__main__":
    main()
