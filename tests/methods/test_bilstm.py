import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from hf_distill import DistillationDataCollator, DistillationTrainer
from hf_distill.methods.bilstm.modeling_bilstm import (
    BiLSTMConfig,
    BiLSTMForSequenceClassification,
    init_embeddings_from_teacher,
)
from tests.tiny import quiet_args, sentiment_dataset


def bilstm(tokenizer, seed=0, **overrides):
    torch.manual_seed(seed)
    values = dict(
        vocab_size=len(tokenizer),
        embedding_size=12,
        hidden_size=8,
        classifier_hidden_size=16,
        dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=2,
    )
    values.update(overrides)
    return BiLSTMForSequenceClassification(BiLSTMConfig(**values)).eval()


def lstm_final_state(model, ids):
    """Both directions' final states of the model's LSTM over one unpadded sequence, without packing."""
    embedded = model.embeddings(torch.tensor([ids]))
    _, (final, _) = model.encoder(embedded)
    return torch.cat([final[-2], final[-1]], dim=-1)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"hidden_size": 0}, "hidden_size=0"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"pair_features": ["h1", "sum"]}, "pair_features"),
        ({"pair_features": []}, "pair_features"),
    ],
)
def test_bad_config_values_raise(overrides, message):
    with pytest.raises(ValueError, match=message):
        BiLSTMConfig(**overrides)


def test_shapes_and_padding_never_reaches_the_lstm(tokenizer):
    model = bilstm(tokenizer, num_layers=2, num_labels=3)
    sentences = ["good movie", "the plot was dull and the actor was bad", "fun"]
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    logits = model(**batch).logits
    assert logits.shape == (3, 3)
    for row, sentence in enumerate(sentences):
        alone = model(**tokenizer([sentence], return_tensors="pt")).logits
        torch.testing.assert_close(logits[row : row + 1], alone)
        # The same, computed by hand: the LSTM over the unpadded ids, then the head.
        h = lstm_final_state(model, tokenizer(sentence)["input_ids"])
        torch.testing.assert_close(alone, model.classifier(h))
    assert model.config.head_input_size == 16


def test_pair_combination_by_hand(tokenizer):
    model = bilstm(tokenizer, sentence_pairs=True)
    firsts, seconds = ["good movie", "a dull plot and a bad actor"], ["the story was boring", "nice"]
    batch = tokenizer(firsts, seconds, padding=True, return_tensors="pt")
    logits = model(**batch).logits
    for row, (first, second) in enumerate(zip(firsts, seconds)):
        h1 = lstm_final_state(model, tokenizer(first)["input_ids"])  # [CLS] first [SEP]: segment 0
        h2 = lstm_final_state(  # second [SEP]: segment 1
            model, tokenizer(second, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
        )
        features = torch.cat([h1, h2, h1 * h2, (h1 - h2).abs()], dim=-1)
        assert features.shape == (1, 4 * 16)
        torch.testing.assert_close(logits[row : row + 1], model.classifier(features))
    # A subset of the features, in the configured order.
    subset = bilstm(tokenizer, sentence_pairs=True, pair_features=["abs_difference", "h1"])
    h1, h2 = torch.randn(2, 16), torch.randn(2, 16)
    torch.testing.assert_close(subset.combine(h1, h2), torch.cat([(h1 - h2).abs(), h1], dim=-1))
    with pytest.raises(ValueError, match="token_type_ids"):
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])


def test_save_and_load_with_the_auto_classes(tmp_path, tokenizer):
    model = bilstm(tokenizer, sentence_pairs=True, num_labels=3)
    model.save_pretrained(tmp_path / "student")
    assert isinstance(AutoConfig.from_pretrained(tmp_path / "student"), BiLSTMConfig)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student").eval()
    assert isinstance(loaded, BiLSTMForSequenceClassification)
    batch = tokenizer(["good movie"], ["bad plot"], return_tensors="pt")
    torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)

    # Without hf_distill: the checkpoint carries its code (auto_map + modeling_bilstm.py) for trust_remote_code.
    script = (
        "import sys, torch\n"
        "from transformers import AutoModelForSequenceClassification as Auto\n"
        f"m = Auto.from_pretrained({str(tmp_path / 'student')!r}, trust_remote_code=True).eval()\n"
        "assert 'hf_distill' not in sys.modules, 'hf_distill must not be needed'\n"
        f"ids = torch.tensor([{batch['input_ids'][0].tolist()}])\n"
        f"types = torch.tensor([{batch['token_type_ids'][0].tolist()}])\n"
        "print(m(input_ids=ids, token_type_ids=types).logits.tolist())\n"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    remote_logits = torch.tensor(eval(result.stdout.strip().splitlines()[-1]))
    torch.testing.assert_close(remote_logits, model(**batch).logits, rtol=1e-5, atol=1e-6)


def test_embeddings_from_the_teacher(tokenizer):
    torch.manual_seed(0)
    teacher_matrix = torch.randn(len(tokenizer), 20) @ torch.diag(torch.linspace(3.0, 0.1, 20))
    same = bilstm(tokenizer, embedding_size=20)
    assert init_embeddings_from_teacher(same, teacher_matrix) == 1.0
    torch.testing.assert_close(same.embeddings.weight, teacher_matrix)

    # Narrower: the top principal components, checked against an eigen-decomposition of the covariance.
    narrow = bilstm(tokenizer, embedding_size=5)
    kept = init_embeddings_from_teacher(narrow, teacher_matrix)
    centred = teacher_matrix - teacher_matrix.mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred)
    top = eigenvectors[:, eigenvalues.argsort(descending=True)[:5]]
    expected = centred @ top
    signs = torch.sign((narrow.embeddings.weight * expected).sum(0))  # a principal direction's sign is arbitrary
    torch.testing.assert_close(narrow.embeddings.weight, expected * signs, rtol=1e-3, atol=1e-4)
    assert kept == pytest.approx((eigenvalues.sort(descending=True).values[:5].sum() / eigenvalues.sum()).item())

    wide = bilstm(tokenizer, embedding_size=24)
    assert init_embeddings_from_teacher(wide, teacher_matrix) == 1.0
    torch.testing.assert_close(wide.embeddings.weight[:, :20], teacher_matrix)
    with pytest.raises(ValueError, match="vocab_size=7"):
        init_embeddings_from_teacher(wide, torch.randn(7, 20))


def test_distilling_with_logit_mse_brings_the_student_to_the_teacher(tmp_path, tokenizer, trained_teacher):
    student = bilstm(tokenizer, seed=3, embedding_size=32, hidden_size=32, classifier_hidden_size=32)
    init_embeddings_from_teacher(student, trained_teacher)
    rows = sentiment_dataset(192, seed=4).remove_columns("label")  # unlabeled: the teacher's logits are the target
    trainer = DistillationTrainer(
        model=student,
        teacher_model=trained_teacher,
        args=quiet_args(tmp_path, kd_loss_type="mse", alpha=1.0, num_train_epochs=4, learning_rate=5e-3),
        train_dataset=rows,
        eval_dataset=sentiment_dataset(64, seed=5),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
    )
    before = trainer.evaluate()["eval_kd_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_kd_loss"]
    assert after < 0.3 * before, (before, after)
