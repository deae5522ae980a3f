"""Run by tests/test_distributed.py: once in-process, once under `accelerate launch --multi_gpu --num_processes 2`.

The launch runs on the CPU (gloo backend); `--cpu --num_processes 2` would start only one process in accelerate 1.15.

Two optimizer steps of distillation over 16 rows in order, 8 rows a step: with two processes each holds 4 of them.
Writes the student's final weights and the log history to OUTPUT_DIR/result.pt (main process). An optional third
argument names a distill_preset (e.g. ebbt: a second, perturbed forward and a double backward through DDP).
"""

import os
import sys
from pathlib import Path

import torch

from hf_distill import DistillationDataCollator, DistillationTrainer
from tests.tiny import EXACT_SGD_STEPS, make_tokenizer, quiet_args, sentiment_dataset, tiny_bert


def run(output_dir: str, per_device_batch_size: int, distill_preset: str | None = None) -> dict:
    tokenizer = make_tokenizer()
    teacher = tiny_bert(tokenizer, seed=11)
    with torch.no_grad():
        teacher.classifier.weight.mul_(30)  # confident targets, so the KD term matters
    rows = sentiment_dataset(16, seed=5).to_list()
    rows[3]["label"] = rows[6]["label"] = None  # unlabeled rows, both in the first process's first batch
    trainer = DistillationTrainer(
        model=tiny_bert(tokenizer, seed=12),
        teacher_model=teacher,
        args=quiet_args(
            output_dir,
            per_device_train_batch_size=per_device_batch_size,
            max_steps=2,
            **EXACT_SGD_STEPS,
            distill_preset=distill_preset,
        ),
        train_dataset=rows,
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
    )
    trainer.train()
    result = {
        "num_processes": trainer.accelerator.num_processes,
        "state_dict": {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()},
        "logs": [log for log in trainer.state.log_history if "loss" in log],
        "teacher_wrapped": type(trainer.teacher).__name__,
        "model_wrapped": type(trainer.model_wrapped).__name__,
    }
    if trainer.is_world_process_zero():
        torch.save(result, Path(output_dir) / "result.pt")
    return result


if __name__ == "__main__":
    run(sys.argv[1], per_device_batch_size=int(sys.argv[2]), distill_preset=(sys.argv[3:] or [None])[0])
    # Skip interpreter teardown: torch's gloo process group can deadlock or abort there (its destructor joins a
    # worker thread that waits for the GIL the destructor holds; seen on torch 2.13 about 1 run in 10), which
    # would fail the launch after a correct, already saved run.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
