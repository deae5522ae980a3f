import pytest
import torch

from hf_distill import DistillationDataCollator
from hf_distill.data import split_teacher_inputs


def test_raw_text_is_tokenized_for_student_and_teacher(tokenizer, shifted_tokenizer):
    collator = DistillationDataCollator(tokenizer, shifted_tokenizer, text_fields="sentence")
    batch = collator([{"sentence": "good movie", "label": 1}, {"sentence": "the plot was very dull", "label": 0}])
    assert batch["labels"].tolist() == [1, 0]
    assert batch["input_ids"].shape == batch["teacher_input_ids"].shape == (2, 7)
    # Same words, ids shifted by 4 everywhere except padding (pad id 0 vs 4).
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(batch["teacher_input_ids"][real], batch["input_ids"][real] + 4)
    assert batch["input_ids"][0, -1].item() == tokenizer.pad_token_id == 0
    assert batch["teacher_input_ids"][0, -1].item() == shifted_tokenizer.pad_token_id == 4
    assert "sentence" not in batch


def test_one_tokenizer_gives_no_teacher_keys_and_pairs_work(tokenizer):
    collator = DistillationDataCollator(tokenizer, text_fields=("sentence1", "sentence2"), max_length=6)
    batch = collator([{"sentence1": "good film", "sentence2": "the plot", "label": 1}])
    assert not any(key.startswith("teacher_") for key in batch)
    # 7 tokens truncated to 6, longest-first (the first text on a tie): [CLS] good [SEP] the plot [SEP]
    assert tokenizer.convert_ids_to_tokens(batch["input_ids"][0]) == ["[CLS]", "good", "[SEP]", "the", "plot", "[SEP]"]
    assert batch["token_type_ids"][0].tolist() == [0, 0, 0, 1, 1, 1]


def test_pretokenized_sides_are_padded_with_their_own_pad_id(tokenizer, shifted_tokenizer):
    features = []
    for text in ("good", "bad film was dull"):
        student, teacher = tokenizer(text), shifted_tokenizer(text)
        features.append(
            {
                "input_ids": student["input_ids"],
                "attention_mask": student["attention_mask"],
                "teacher_input_ids": teacher["input_ids"],
                "teacher_attention_mask": teacher["attention_mask"],
                "teacher_logits": [0.5, -0.5],
                "label": 0,
                "idx": 3,
            }
        )
    batch = DistillationDataCollator(tokenizer, shifted_tokenizer)(features)
    assert batch["input_ids"][0].tolist() == [2, tokenizer.convert_tokens_to_ids("good"), 3, 0, 0, 0]
    assert batch["teacher_input_ids"][0, 3:].tolist() == [4, 4, 4]
    assert batch["teacher_logits"].shape == (2, 2)
    assert batch["idx"].tolist() == [3, 3]


def test_labels_none_means_unlabeled(tokenizer):
    collator = DistillationDataCollator(tokenizer, text_fields="sentence")
    assert "labels" not in collator([{"sentence": "good"}, {"sentence": "bad", "label": None}])
    mixed = collator([{"sentence": "good", "label": 1}, {"sentence": "bad", "label": None}])
    assert mixed["labels"].tolist() == [1, -100]
    regression = collator([{"sentence": "good", "label": 4.5}, {"sentence": "bad", "label": 0.25}])
    assert regression["labels"].dtype == torch.float32
    with pytest.raises(ValueError, match="regression label and some have None"):
        collator([{"sentence": "good", "label": 4.5}, {"sentence": "bad", "label": None}])


def test_clear_errors(tokenizer):
    with pytest.raises(ValueError, match="must name one text column"):
        DistillationDataCollator(tokenizer, text_fields=("a", "b", "c"))
    with pytest.raises(ValueError, match="have no input_ids"):
        DistillationDataCollator(tokenizer)([{"sentence": "good", "label": 1}])


def test_split_teacher_inputs():
    student, teacher = split_teacher_inputs({"input_ids": 1, "teacher_input_ids": 2, "teacher_logits": 3, "labels": 4})
    assert student == {"input_ids": 1, "labels": 4}
    assert teacher == {"input_ids": 2, "logits": 3}
