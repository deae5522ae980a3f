import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny import make_tokenizer, quiet_args, sentiment_dataset, tiny_bert  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="session")
def shifted_tokenizer():
    """A tokenizer whose ids are `tokenizer`'s + 4 (the MPNet-vs-BERT situation)."""
    return make_tokenizer(shifted=True)


@pytest.fixture(scope="session")
def trained_teacher_state(tokenizer, tmp_path_factory):
    """State dict of a tiny 4-layer teacher fine-tuned (plain Trainer) on the synthetic sentiment task."""
    from transformers import Trainer

    from hf_distill import DistillationDataCollator

    teacher = tiny_bert(tokenizer, seed=123, layers=4)
    args = quiet_args(
        tmp_path_factory.mktemp("teacher"), num_train_epochs=3, learning_rate=3e-3, remove_unused_columns=False
    )
    collator = DistillationDataCollator(tokenizer, text_fields=["sentence"])
    trainer = Trainer(model=teacher, args=args, train_dataset=sentiment_dataset(256, seed=7), data_collator=collator)
    trainer.train()
    return {k: v.clone() for k, v in teacher.state_dict().items()}


@pytest.fixture
def trained_teacher(tokenizer, trained_teacher_state):
    teacher = tiny_bert(tokenizer, seed=123, layers=4)
    teacher.load_state_dict(trained_teacher_state)
    return teacher
