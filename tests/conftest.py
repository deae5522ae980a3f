import os

import pytest

from tests.hub_server import TOKEN, LocalHub, free_port, hub_environment

# huggingface_hub reads HF_ENDPOINT and HF_HUB_DISABLE_XET when it is imported: point it at the local test hub
# before anything imports it (tiny imports transformers). No test can reach the real Hub.
HUB_PORT = free_port()
os.environ.update(hub_environment(HUB_PORT))
# so the fixtures below import tests.tiny (and transformers) inside their bodies, after this


@pytest.fixture(scope="session")
def tokenizer():
    from tests.tiny import make_tokenizer

    return make_tokenizer()


@pytest.fixture(scope="session")
def shifted_tokenizer():
    """A tokenizer whose ids are `tokenizer`'s + 4 (the MPNet-vs-BERT situation)."""
    from tests.tiny import make_tokenizer

    return make_tokenizer(shifted=True)


@pytest.fixture(scope="session")
def trained_teacher_state(tokenizer, tmp_path_factory):
    """State dict of a tiny 4-layer teacher fine-tuned (plain Trainer) on the synthetic sentiment task."""
    from transformers import Trainer

    from hf_distill import DistillationDataCollator
    from tests.tiny import quiet_args, sentiment_dataset, tiny_bert

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
    from tests.tiny import tiny_bert

    teacher = tiny_bert(tokenizer, seed=123, layers=4)
    teacher.load_state_dict(trained_teacher_state)
    return teacher


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    """A local Hub-compatible server (tests/hub_server.py) on 127.0.0.1, with HF_TOKEN set to its dummy token."""
    from huggingface_hub import constants

    server = LocalHub(HUB_PORT)
    if constants.ENDPOINT != server.url:
        pytest.fail(
            f"huggingface_hub was imported before tests/conftest.py set HF_ENDPOINT (its endpoint is "
            f"{constants.ENDPOINT}); run the tests with pytest from the repository root."
        )
    cache = str(tmp_path_factory.mktemp("hf_hub_cache"))
    patch = pytest.MonkeyPatch()
    patch.setenv("HF_TOKEN", TOKEN)
    patch.setenv("HF_HUB_CACHE", cache)  # for subprocesses
    patch.setattr(constants, "HF_HUB_CACHE", cache)
    patch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    server.start()
    yield server
    server.stop()
    patch.undo()
