"""Run by tests/methods/test_theseus.py: once in-process, once under `accelerate launch --multi_gpu --num_processes 2`.

BERT-of-Theseus (p = 0.5) for four SGD steps over 32 rows in order, 8 rows a step (4 per process with two). Each
process writes its draws per step, its final weights and its process count to OUTPUT_DIR/result-RANK.pt.
"""

import sys
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from hf_distill import DistillationDataCollator, ReplacementScheduler, theseus_model
from hf_distill.methods.theseus.modeling_theseus import theseus_layers
from tests.tiny import make_tokenizer, sentiment_dataset, tiny_bert


class RecordDraws(TrainerCallback):
    def __init__(self):
        self.draws = []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.draws.append(list(theseus_layers(model).draws))


def run_theseus(output_dir: str, per_device_batch_size: int) -> dict:
    tokenizer = make_tokenizer()
    predecessor = tiny_bert(tokenizer, seed=21, layers=4)
    recorder = RecordDraws()
    args = TrainingArguments(
        output_dir=output_dir, report_to="none", disable_tqdm=True, use_cpu=True, save_strategy="no", seed=0,
        remove_unused_columns=False, per_device_train_batch_size=per_device_batch_size, max_steps=4, optim="sgd",
        learning_rate=0.5, lr_scheduler_type="constant", train_sampling_strategy="sequential",
    )  # fmt: skip
    trainer = Trainer(
        model=theseus_model(predecessor, 2, successor_init="group_last"),
        args=args,
        train_dataset=sentiment_dataset(32, seed=5),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
        callbacks=[ReplacementScheduler(0.5), recorder],
    )
    trainer.train()
    result = {
        "num_processes": trainer.accelerator.num_processes,
        "draws": recorder.draws,
        "state_dict": {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()},
        "model_wrapped": type(trainer.model_wrapped).__name__,
    }
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    torch.save(result, Path(output_dir) / f"result-{trainer.args.process_index}.pt")
    return result


if __name__ == "__main__":
    run_theseus(sys.argv[1], per_device_batch_size=int(sys.argv[2]))
