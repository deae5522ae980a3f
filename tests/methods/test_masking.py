import random

import datasets
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast, Trainer

from hf_distill.methods.general.corpus import pack_blocks
from hf_distill.methods.general.masking import DynamicMaskingCollator, MaskingEpochCallback, epoch_index
from tests.tiny import SPECIALS, WORDS, quiet_args

SUBWORD_VOCAB = SPECIALS + WORDS + ["play", "##ing", "##ed", "act", "##or", "##s"]


def subword_tokenizer():
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(SUBWORD_VOCAB)}, do_lower_case=True)


def corpus_blocks(tokenizer, n=40, block_size=24, with_offsets=False):
    words = ["good", "playing", "actors", "the", "movie", "played", "dull", "acts", "fun", "story"]
    rng = random.Random(0)
    lines = [" ".join(rng.choices(words, k=rng.randint(3, 8))) for _ in range(n)]
    return pack_blocks(datasets.Dataset.from_dict({"text": lines}), tokenizer, block_size, with_offsets)


def rows(blocks, indices):
    return [blocks[i] for i in indices]


def test_same_seed_same_masks_whatever_the_batch(tokenizer):
    blocks = corpus_blocks(tokenizer)
    a = DynamicMaskingCollator(tokenizer, seed=3)(rows(blocks, [0, 1, 2, 3]))
    b = DynamicMaskingCollator(tokenizer, seed=3)(rows(blocks, [2, 5, 0]))
    assert torch.equal(a["input_ids"][0], b["input_ids"][2]) and torch.equal(a["labels"][0], b["labels"][2])
    assert torch.equal(a["input_ids"][2], b["input_ids"][0]) and torch.equal(a["labels"][2], b["labels"][0])
    c = DynamicMaskingCollator(tokenizer, seed=4)(rows(blocks, [0, 1, 2, 3]))
    assert not torch.equal(a["labels"], c["labels"])


def test_masks_change_with_the_epoch_and_come_back_with_it(tokenizer):
    blocks = rows(corpus_blocks(tokenizer), range(8))
    collator = DynamicMaskingCollator(tokenizer, seed=0)
    epoch0 = collator(blocks)
    collator.set_epoch(1)
    epoch1 = collator(blocks)
    collator.set_epoch(0)
    again = collator(blocks)
    assert not torch.equal(epoch0["labels"], epoch1["labels"])
    assert torch.equal(epoch0["labels"], again["labels"]) and torch.equal(epoch0["input_ids"], again["input_ids"])


def test_masking_statistics_and_labels(tokenizer):
    blocks = corpus_blocks(tokenizer, n=400, block_size=32)
    original = torch.tensor(blocks["input_ids"])
    special = torch.tensor(blocks["special_tokens_mask"]).bool()
    batch = DynamicMaskingCollator(tokenizer, seed=0)(list(blocks))
    chosen = batch["labels"].ne(-100)
    assert not (chosen & special).any()  # [CLS]/[SEP] never masked
    assert torch.equal(batch["labels"][chosen], original[chosen])
    assert torch.equal(batch["input_ids"][~chosen], original[~chosen])
    rate = chosen.sum() / (~special).sum()
    assert 0.13 < rate < 0.17
    as_mask = batch["input_ids"][chosen].eq(tokenizer.mask_token_id).float().mean()
    kept = batch["input_ids"][chosen].eq(original[chosen]).float().mean()
    assert 0.75 < as_mask < 0.85 and 0.06 < kept < 0.16


def test_whole_word_masking_masks_every_piece_of_a_word():
    tokenizer = subword_tokenizer()
    blocks = corpus_blocks(tokenizer, n=200, block_size=32, with_offsets=True)
    with pytest.warns(UserWarning, match="Random token replacement"):
        collator = DynamicMaskingCollator(tokenizer, whole_word_mask=True, mlm_probability=0.3, seed=0)
    batch = collator(list(blocks))
    pieces = 0
    for row, block in enumerate(blocks):
        tokens = tokenizer.convert_ids_to_tokens(block["input_ids"])
        masked = batch["labels"][row].ne(-100).tolist()
        for i, token in enumerate(tokens):
            # A continuation is masked exactly when the previous piece is (unless a block boundary split the word).
            if token.startswith("##") and tokens[i - 1] != "[CLS]":
                pieces += 1
                assert masked[i] == masked[i - 1], (tokens, masked)
    assert pieces > 100 and batch["labels"].ne(-100).any()
    # Without whole-word masking, pieces of one word are masked independently.
    split = DynamicMaskingCollator(tokenizer, mlm_probability=0.3, seed=0)(list(blocks))
    disagree = 0
    for row, block in enumerate(blocks):
        tokens = tokenizer.convert_ids_to_tokens(block["input_ids"])
        masked = split["labels"][row].ne(-100).tolist()
        disagree += sum(masked[i] != masked[i - 1] for i, t in enumerate(tokens) if t.startswith("##"))
    assert disagree > 0


def test_whole_word_masking_needs_offsets(tokenizer):
    blocks = corpus_blocks(tokenizer)
    with pytest.warns(UserWarning):
        collator = DynamicMaskingCollator(tokenizer, whole_word_mask=True, seed=0)
    with pytest.raises(ValueError, match="with_offsets=True"):
        collator(rows(blocks, [0, 1]))


def test_trainer_sees_new_masks_each_epoch_and_the_same_on_rerun(tmp_path, tokenizer):
    blocks = corpus_blocks(tokenizer, n=40)

    def run(tag):
        config = BertConfig(
            vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, max_position_embeddings=64,
        )  # fmt: skip
        torch.manual_seed(0)
        model = BertForMaskedLM(config)
        seen = []
        model.register_forward_pre_hook(
            lambda _, args, kwargs: seen.append(kwargs["labels"].clone()), with_kwargs=True
        )
        collator = DynamicMaskingCollator(tokenizer, seed=0)
        args = quiet_args(
            tmp_path / tag, num_train_epochs=2, per_device_train_batch_size=len(blocks), remove_unused_columns=False
        )
        trainer = Trainer(model=model, args=args, train_dataset=blocks, data_collator=collator)
        trainer.add_callback(MaskingEpochCallback(collator))
        trainer.train()
        return seen

    first, second = run("a"), run("b")
    assert len(first) == 2
    assert not torch.equal(first[0], first[1])  # epoch 2 re-masks the same blocks differently
    assert all(torch.equal(x, y) for x, y in zip(first, second))


def test_epoch_index():
    assert [epoch_index(e) for e in (None, 0.0, 0.5, 1.0, 1.9999, 2.0000000001)] == [0, 0, 0, 1, 1, 2]
