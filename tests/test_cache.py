import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from hf_distill import DistillationDataCollator, DistillationTrainer
from hf_distill.cache import (
    TeacherCacheCorruptError,
    TeacherCacheMismatchError,
    add_teacher_logits,
    cache_key,
    cached_teacher_logits,
    compute_teacher_logits,
    save_teacher_cache,
    teacher_fingerprint,
)
from tests.tiny import quiet_args, sentiment_dataset, tiny_bert, tokenized


def train_rows(tokenizer, rows=24, seed=1, max_length=32):
    dataset = sentiment_dataset(rows, seed=seed)

    def encode(batch):
        return tokenizer(batch["sentence"], truncation=True, max_length=max_length)

    return dataset.map(encode, batched=True)


def test_teacher_logits_are_the_teachers_forward_in_order(tokenizer, trained_teacher):
    dataset = train_rows(tokenizer)
    logits = compute_teacher_logits(trained_teacher, dataset, tokenizer, batch_size=5, show_progress=False)
    batch = tokenizer(dataset["sentence"][:], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = trained_teacher(**batch).logits
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_teacher_columns_are_used_when_the_teacher_has_its_own_tokenizer(tokenizer, shifted_tokenizer):
    teacher = tiny_bert(shifted_tokenizer, seed=4)
    dataset = tokenized(tokenized(sentiment_dataset(6), tokenizer), shifted_tokenizer, prefix="teacher_")
    logits = compute_teacher_logits(teacher, dataset, shifted_tokenizer, show_progress=False)
    with torch.no_grad():
        expected = teacher(**shifted_tokenizer(dataset["sentence"][:], padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_fingerprint_follows_every_weight(tokenizer):
    first, same = tiny_bert(tokenizer, seed=3), tiny_bert(tokenizer, seed=3)
    assert teacher_fingerprint(first) == teacher_fingerprint(same)
    with torch.no_grad():
        same.classifier.bias[0] += 1e-6
    assert teacher_fingerprint(first) != teacher_fingerprint(same)
    assert teacher_fingerprint(first) != teacher_fingerprint(tiny_bert(tokenizer, seed=3).to(torch.bfloat16))


def test_cache_is_computed_once_then_loaded_and_refused_on_any_mismatch(tmp_path, tokenizer, trained_teacher):
    path, data = tmp_path / "cache" / "train.safetensors", train_rows(tokenizer)
    columns = ["sentence", "label"]
    logits, info = cached_teacher_logits(path, trained_teacher, data, tokenizer, columns, show_progress=False)
    assert not info["hit"] and path.is_file()
    again, info = cached_teacher_logits(path, trained_teacher, data, tokenizer, columns, show_progress=False)
    assert info["hit"]
    torch.testing.assert_close(again, logits)

    other_teacher = tiny_bert(tokenizer, seed=99, layers=4)
    with pytest.raises(TeacherCacheMismatchError, match="computed for other teacher weights than this run's"):
        cached_teacher_logits(path, other_teacher, data, tokenizer, columns)
    relabelled = data.map(lambda row, i: {"label": 1 - row["label"] if i == 0 else row["label"]}, with_indices=True)
    with pytest.raises(TeacherCacheMismatchError, match="computed for other training data"):
        cached_teacher_logits(path, trained_teacher, relabelled, tokenizer, columns)
    with pytest.raises(TeacherCacheMismatchError, match="computed for other tokenization"):
        cached_teacher_logits(path, trained_teacher, train_rows(tokenizer, max_length=3), tokenizer, columns)
    with pytest.raises(TeacherCacheMismatchError, match="on 24 rows, now .* on 23 rows"):
        cached_teacher_logits(path, trained_teacher, data.select(range(23)), tokenizer, columns)

    fresh, info = cached_teacher_logits(path, other_teacher, data, tokenizer, columns, overwrite=True)
    assert not info["hit"]
    assert not torch.allclose(fresh, logits)
    _, info = cached_teacher_logits(path, other_teacher, data, tokenizer, columns)
    assert info["hit"]


def test_training_from_the_cache_runs_no_teacher_and_matches_training_with_it(tmp_path, tokenizer, trained_teacher):
    data = train_rows(tokenizer, rows=32)
    common = dict(max_steps=3, train_sampling_strategy="sequential", logging_steps=1, alpha=0.7, temperature=3.0)
    collator = DistillationDataCollator(tokenizer)
    with_teacher = DistillationTrainer(
        model=tiny_bert(tokenizer, seed=2),
        teacher_model=trained_teacher,
        args=quiet_args(tmp_path / "teacher", **common),
        train_dataset=data,
        data_collator=collator,
    )
    with_teacher.train()

    logits = compute_teacher_logits(trained_teacher, data, tokenizer, show_progress=False)
    from_cache = DistillationTrainer(
        model=tiny_bert(tokenizer, seed=2),
        teacher_model=None,
        args=quiet_args(tmp_path / "cache", **common),
        train_dataset=add_teacher_logits(data, logits),
        data_collator=collator,
    )
    assert from_cache.teacher is None
    from_cache.train()

    for name, value in with_teacher.model.state_dict().items():
        torch.testing.assert_close(from_cache.model.state_dict()[name], value, rtol=1e-4, atol=1e-6, msg=name)
    for cached_log, teacher_log in zip(from_cache.state.log_history[:3], with_teacher.state.log_history[:3]):
        assert cached_log["kd_loss"] == pytest.approx(teacher_log["kd_loss"], rel=1e-4)


def test_a_trainer_without_teacher_needs_logits_in_every_dataset(tmp_path, tokenizer):
    data = train_rows(tokenizer, rows=8)
    with pytest.raises(ValueError, match="needs a teacher"):
        DistillationTrainer(model=tiny_bert(tokenizer), args=quiet_args(tmp_path), train_dataset=data)
    trainer = DistillationTrainer(
        model=tiny_bert(tokenizer),
        args=quiet_args(tmp_path),
        train_dataset=add_teacher_logits(data, torch.zeros(8, 2)),
        eval_dataset=data,  # no teacher_logits column
        data_collator=DistillationDataCollator(tokenizer),
    )
    with pytest.raises(ValueError, match="has no teacher .* but this batch has no teacher_logits"):
        trainer.evaluate()


def test_add_teacher_logits_checks_the_row_count(tokenizer):
    data = train_rows(tokenizer, rows=4)
    with_logits = add_teacher_logits(add_teacher_logits(data, torch.ones(4, 2)), torch.zeros(4, 2))
    assert with_logits["teacher_logits"][:] == [[0.0, 0.0]] * 4
    with pytest.raises(ValueError, match="3 rows of teacher logits for a dataset of 4 rows"):
        add_teacher_logits(data, torch.zeros(3, 2))


def test_intermediate_terms_need_the_teacher_itself(tmp_path, tokenizer):
    data = add_teacher_logits(train_rows(tokenizer, rows=8), torch.zeros(8, 2))
    with pytest.raises(ValueError, match="Intermediate terms .* need the teacher's hidden states"):
        DistillationTrainer(
            model=tiny_bert(tokenizer), args=quiet_args(tmp_path, distill_preset="pkd-skip"), train_dataset=data
        )


def cache_file(tmp_path, tokenizer, teacher):
    path, data = tmp_path / "cache" / "train.safetensors", train_rows(tokenizer)
    logits, _ = cached_teacher_logits(path, teacher, data, tokenizer, ["sentence", "label"], show_progress=False)
    return path, data, logits


def test_a_damaged_cache_is_refused_naming_the_file_and_the_fix(tmp_path, tokenizer, trained_teacher):
    path, data, logits = cache_file(tmp_path, tokenizer, trained_teacher)
    columns, intact = ["sentence", "label"], path.read_bytes()
    path.write_bytes(intact[:-8] + b"\xff" * 8)  # the header is intact: only the last logits are NaN now
    with pytest.raises(TeacherCacheCorruptError, match=f"Teacher cache {path} is damaged: .*sha256.*overwrite_teac"):
        cached_teacher_logits(path, trained_teacher, data, tokenizer, columns)
    path.write_bytes(intact[:-8])  # truncated
    with pytest.raises(TeacherCacheCorruptError, match=f"Teacher cache {path} is damaged .*--overwrite_teacher_cache"):
        cached_teacher_logits(path, trained_teacher, data, tokenizer, columns)
    path.write_bytes(b"")
    with pytest.raises(TeacherCacheCorruptError, match="is damaged"):
        cached_teacher_logits(path, trained_teacher, data, tokenizer, columns)
    fresh, info = cached_teacher_logits(path, trained_teacher, data, tokenizer, columns, overwrite=True)
    assert not info["hit"] and torch.equal(fresh, logits)
    again, info = cached_teacher_logits(path, trained_teacher, data, tokenizer, columns)
    assert info["hit"] and torch.equal(again, logits)


def test_a_cache_without_a_checksum_is_refused(tmp_path, tokenizer, trained_teacher):
    path, data, logits = cache_file(tmp_path, tokenizer, trained_teacher)
    with safe_open(str(path), framework="pt") as handle:
        old = {k: v for k, v in handle.metadata().items() if k != "logits_sha256"}
    save_file({"logits": logits}, str(path), metadata={**old, "format": "hf_distill.teacher_cache.v1"})
    with pytest.raises(TeacherCacheMismatchError, match="no checksum .*--overwrite_teacher_cache"):
        cached_teacher_logits(path, trained_teacher, data, tokenizer, ["sentence", "label"])


def test_non_finite_teacher_logits_are_never_cached(tmp_path, tokenizer, trained_teacher):
    path, data = tmp_path / "train.safetensors", train_rows(tokenizer, rows=4)
    key = cache_key(trained_teacher, data, ["sentence", "label"])
    with pytest.raises(ValueError, match="not finite on 1 of 4 rows, so .* was not written.*teacher_dtype='float32'"):
        save_teacher_cache(path, torch.tensor([[0.0, 1.0], [float("inf"), 0.0], [1.0, 2.0], [0.5, 0.5]]), key)
    assert not path.exists()
