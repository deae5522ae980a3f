#!/usr/bin/env python
"""Fine-tune a sequence classifier on a text-classification task given as CSV files.

A short script in the shape of transformers' examples/pytorch/text-classification/run_glue.py (three argument
dataclasses parsed by `HfArgumentParser`, data loaded and tokenized, a `Trainer`, train, evaluate), written for
the test of the two-edit swap to `DistillationTrainer` (tests/test_cli_swap.py). Nothing here knows about
distillation.
"""

import sys
from dataclasses import dataclass, field

import numpy as np
from datasets import load_dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EvalPrediction,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    set_seed,
)


@dataclass
class ModelArguments:
    model_name_or_path: str = field(metadata={"help": "Path or Hub id of the model to fine-tune."})


@dataclass
class DataTrainingArguments:
    train_file: str = field(metadata={"help": "CSV file of training rows (a text column and an integer label)."})
    validation_file: str = field(metadata={"help": "CSV file of evaluation rows."})
    text_column: str = field(default="sentence", metadata={"help": "Name of the text column."})
    max_seq_length: int = field(default=128, metadata={"help": "Truncate inputs to this many tokens."})


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(argv)
    set_seed(training_args.seed)

    raw_datasets = load_dataset(
        "csv", data_files={"train": data_args.train_file, "validation": data_args.validation_file}
    )
    num_labels = len(raw_datasets["train"].unique("label"))
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_args.model_name_or_path, num_labels=num_labels)

    def preprocess(examples):
        return tokenizer(examples[data_args.text_column], truncation=True, max_length=data_args.max_seq_length)

    with training_args.main_process_first(desc="tokenizing"):
        tokenized = raw_datasets.map(preprocess, batched=True, remove_columns=[data_args.text_column])

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return {"accuracy": float((np.argmax(logits, axis=1) == prediction.label_ids).mean())}

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"] if training_args.do_train else None,
        eval_dataset=tokenized["validation"] if training_args.do_eval else None,
        compute_metrics=compute_metrics,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
    )

    metrics: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train()
        trainer.save_model()
        trainer.save_metrics("train", train_result.metrics)
        trainer.save_state()
    if training_args.do_eval:
        metrics = trainer.evaluate()
        trainer.save_metrics("eval", metrics)
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
