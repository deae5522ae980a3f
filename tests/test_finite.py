"""A run whose loss or weights become NaN or infinite stops with one clear error, and nothing non-finite is saved."""

import pytest
import torch
from transformers import Trainer

from hf_distill import DistillationDataCollator, DistillationTrainer
from hf_distill.cache import add_teacher_logits
from hf_distill.finite import FiniteModelCallback, NonFiniteTrainingError
from tests.tiny import quiet_args, sentiment_dataset, tiny_bert, tokenized


def test_a_nan_loss_stops_the_distillation_trainer_at_that_step(tmp_path, tokenizer):
    data = tokenized(sentiment_dataset(32), tokenizer)
    logits = torch.zeros(32, 2)
    logits[20] = float("nan")  # row 20 is in the third batch of 8 (sequential order)
    args = quiet_args(tmp_path, max_steps=4, train_sampling_strategy="sequential", save_strategy="steps", save_steps=1)
    trainer = DistillationTrainer(
        model=tiny_bert(tokenizer),
        args=args,
        train_dataset=add_teacher_logits(data, logits),
        data_collator=DistillationDataCollator(tokenizer),
    )
    with pytest.raises(NonFiniteTrainingError, match=r"Training stopped at step 3: the loss is nan, .*learning_rate"):
        trainer.train()
    assert sorted(path.name for path in tmp_path.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())  # step 3 never updated the weights


def test_a_diverging_plain_trainer_is_stopped_before_saving_nan_weights(tmp_path, tokenizer):
    args = quiet_args(
        tmp_path, learning_rate=1e10, max_steps=6, save_strategy="steps", save_steps=1, remove_unused_columns=False
    )
    trainer = Trainer(
        model=tiny_bert(tokenizer),
        args=args,
        train_dataset=sentiment_dataset(64),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
        callbacks=[FiniteModelCallback()],
    )
    with pytest.raises(NonFiniteTrainingError) as error:
        trainer.train()
    message = str(error.value)
    assert "the model's weights are not finite (" in message and "learning_rate (now 1e+10)" in message
    step = trainer.state.global_step
    assert f"Training stopped at step {step}:" in message and f"they were at step {step - 1})" in message
    assert sorted(path.name for path in tmp_path.glob("checkpoint-*")) == [f"checkpoint-{i}" for i in range(1, step)]
    for folder in tmp_path.glob("checkpoint-*"):
        weights = Trainer(model=tiny_bert(tokenizer), args=quiet_args(tmp_path / "x"))
        weights._load_from_checkpoint(str(folder))
        assert all(torch.isfinite(p).all() for p in weights.model.parameters()), folder.name


def test_the_callback_checks_at_the_end_of_training_too(tmp_path, tokenizer):
    model = tiny_bert(tokenizer)
    trainer = Trainer(
        model=model,
        args=quiet_args(tmp_path, max_steps=1, logging_strategy="no", remove_unused_columns=False),
        train_dataset=sentiment_dataset(8),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
        callbacks=[FiniteModelCallback()],
    )
    trainer.train()  # finite: no error
    with torch.no_grad():
        model.classifier.weight[0, 0] = float("inf")
    with pytest.raises(NonFiniteTrainingError, match=r"not finite \(classifier.weight; they were at step 1\)"):
        trainer.callback_handler.on_train_end(trainer.args, trainer.state, trainer.control)
