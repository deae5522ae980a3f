"""Tiny random models, tokenizers and data built in code: no downloads, seconds per test."""

from __future__ import annotations

import random
from pathlib import Path

import datasets
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast, TrainerCallback

from hf_distill import DistillationDataCollator, DistillationTrainer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
POSITIVE = ["good", "great", "fine", "nice", "fun", "superb", "lovely", "warm"]
NEGATIVE = ["bad", "awful", "dull", "poor", "boring", "weak", "sad", "cold"]
NEUTRAL = ["the", "a", "movie", "film", "plot", "actor", "was", "is", "and", "very", "story", "scene"]
WORDS = POSITIVE + NEGATIVE + NEUTRAL
# A second tokenizer whose ids are the first's + 4, like all-mpnet-base-v2 against all-MiniLM-L6-v2.
SHIFTED_PREFIX = ["<s>", "</s>", "<extra1>", "<extra2>"]


def make_tokenizer(shifted: bool = False) -> BertTokenizerFast:
    """A word-level BERT tokenizer over WORDS; ``shifted`` puts 4 extra tokens first (ids + 4)."""
    vocab = (SHIFTED_PREFIX if shifted else []) + SPECIALS + WORDS
    return BertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)}, do_lower_case=True)


def tiny_bert(
    tokenizer: BertTokenizerFast,
    num_labels: int = 2,
    seed: int = 0,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 4,
    dropout: float = 0.0,
    **config_kwargs,
) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=num_labels,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        **config_kwargs,
    )
    return BertForSequenceClassification(config)


def sentiment_rows(n: int, seed: int = 0, pairs: bool = False) -> dict[str, list]:
    """Synthetic sentiment: the label is 1 when positive words outnumber negative ones."""
    rng = random.Random(seed)
    rows: dict[str, list] = {"sentence": [], "label": []}
    if pairs:
        rows = {"sentence1": [], "sentence2": [], "label": []}
    for _ in range(n):
        pos, neg = rng.randint(0, 3), rng.randint(0, 3)
        while pos == neg:
            pos, neg = rng.randint(0, 3), rng.randint(0, 3)
        words = rng.sample(POSITIVE, pos) + rng.sample(NEGATIVE, neg) + rng.sample(NEUTRAL, rng.randint(1, 5))
        rng.shuffle(words)
        text = " ".join(words)
        if pairs:
            rows["sentence1"].append(text)
            rows["sentence2"].append(" ".join(rng.sample(NEUTRAL, 3)))
        else:
            rows["sentence"].append(text)
        rows["label"].append(int(pos > neg))
    return rows


def sentiment_dataset(n: int, seed: int = 0, pairs: bool = False) -> datasets.Dataset:
    return datasets.Dataset.from_dict(sentiment_rows(n, seed, pairs))


def quiet_args(output_dir: Path | str, arguments_class: type | None = None, **overrides):
    """`DistillationTrainingArguments` (or ``arguments_class``, e.g. plain `TrainingArguments`) for tests: CPU, no
    reports, no progress bars, no checkpoints."""
    from hf_distill import DistillationTrainingArguments

    values = dict(
        output_dir=str(output_dir),
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        save_strategy="no",
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        learning_rate=1e-3,
        seed=0,
    )
    values.update(overrides)
    return (arguments_class or DistillationTrainingArguments)(**values)


class StopAfter(TrainerCallback):
    """Stops training once ``step`` optimizer steps are done: a run killed after that step, for resume tests."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


def tokenized(dataset: datasets.Dataset, tokenizer, prefix: str = "", text_field: str = "sentence"):
    """Add ``{prefix}input_ids`` / ``{prefix}attention_mask`` columns (unpadded) tokenized with ``tokenizer``."""

    def encode(batch):
        encoded = tokenizer(batch[text_field], truncation=True, max_length=32)
        return {prefix + key: encoded[key] for key in ("input_ids", "attention_mask")}

    return dataset.map(encode, batched=True)


ARCHITECTURES = ("bert", "roberta", "mpnet", "distilbert")


def tiny_encoder(
    arch: str, vocab_size: int = 40, layers: int = 4, hidden: int = 32, heads: int = 4, num_labels: int = 2, seed=0
):
    """A tiny random ``*ForSequenceClassification`` of architecture ``arch`` (one of ARCHITECTURES)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    torch.manual_seed(seed)
    sizes = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=2 * hidden)
    if arch == "distilbert":
        sizes = dict(dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=2 * hidden)
    config = AutoConfig.for_model(
        arch, vocab_size=vocab_size, max_position_embeddings=64, pad_token_id=1, num_labels=num_labels, **sizes
    )
    return AutoModelForSequenceClassification.from_config(config)


# Plain SGD steps over rows in order, logged every step: a step's effect on the weights is exactly comparable
# between runs that split the same rows differently (batch, accumulation, processes).
EXACT_SGD_STEPS = dict(
    optim="sgd",
    learning_rate=0.5,
    lr_scheduler_type="constant",
    train_sampling_strategy="sequential",
    alpha=0.4,
    logging_steps=1,
)


def one_optimizer_step(tmp_path, tokenizer, teacher, name, batch_size, accumulation, rows, **settings):
    """One SGD step (lr 0.5, alpha 0.4) of a fresh tiny student on ``rows``, in ``batch_size`` x ``accumulation``;
    ``settings`` are further `DistillationTrainingArguments`. Returns the student's weights and the step's log."""
    student = tiny_bert(tokenizer, seed=2)
    trainer = DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=quiet_args(
            tmp_path / name,
            per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation,
            max_steps=1,
            **EXACT_SGD_STEPS,
            **settings,
        ),
        train_dataset=rows,
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
    )
    trainer.train()
    return student.state_dict(), trainer.state.log_history[0]
