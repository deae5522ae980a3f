import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from hf_distill.methods.augmentation import AugmentationConfig, Augmenter, label_with_teacher, whole_word_vocabulary
from tests.tiny import NEUTRAL, WORDS, make_tokenizer, sentiment_dataset

TEXT = "the movie was very good and fun"


def embeddings_with_known_neighbours(tokenizer) -> torch.Tensor:
    """Every word on its own axis, except that good/great/fine share one direction and bad/awful another."""
    vocab = tokenizer.get_vocab()
    weights = torch.eye(len(tokenizer))
    for group in (("good", "great", "fine"), ("bad", "awful")):
        for word in group:
            weights[vocab[word]] = weights[vocab[group[0]]] * (1 + 0.1 * group.index(word))
    return weights


def test_config_validation():
    with pytest.raises(ValueError, match="num_copies=0 must be >= 1"):
        AugmentationConfig(num_copies=0)
    with pytest.raises(ValueError, match="mask_prob=1.5 must be a probability"):
        AugmentationConfig(mask_prob=1.5)
    with pytest.raises(ValueError, match="mask_prob \\+ replace_prob = 1.2 > 1"):
        AugmentationConfig(mask_prob=0.6, replace_prob=0.6)
    with pytest.raises(ValueError, match="needs candidates"):
        Augmenter(AugmentationConfig(replace_prob=0.5), make_tokenizer())


def test_whole_word_vocabulary_skips_specials_and_pieces():
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "##ing", "good", "42", "!"]
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)})
    assert whole_word_vocabulary(tokenizer) == {"play": 5, "good": 7}


def test_masking_and_ngram_sampling_at_the_extremes():
    tokenizer = make_tokenizer()
    masked = Augmenter(AugmentationConfig(num_copies=3, mask_prob=1.0, replace_prob=0.0, ngram_prob=0.0), tokenizer)
    assert masked.augment(TEXT) == [" ".join(["[MASK]"] * 7)] * 3

    ngrams = Augmenter(
        AugmentationConfig(num_copies=20, mask_prob=0.0, replace_prob=0.0, ngram_prob=1.0, ngram_max=3), tokenizer
    )
    copies = ngrams.augment(TEXT)
    assert all(1 <= len(copy.split()) <= 3 and copy in TEXT for copy in copies)
    assert {len(copy.split()) for copy in copies} == {1, 2, 3}

    kept = Augmenter(AugmentationConfig(num_copies=2, mask_prob=0.0, replace_prob=0.0, ngram_prob=0.0), tokenizer)
    assert kept.augment(TEXT) == [TEXT, TEXT]


def test_neighbours_come_from_the_embedding_space():
    tokenizer = make_tokenizer()
    config = AugmentationConfig(num_copies=30, mask_prob=0.0, replace_prob=1.0, ngram_prob=0.0, top_k=2)
    augmenter = Augmenter(config, tokenizer, embeddings=embeddings_with_known_neighbours(tokenizer))
    assert set(augmenter.neighbours("good")) == {"great", "fine"}
    awful = augmenter.neighbours("Awful")
    assert awful[0] == "bad" and len(awful) == 2  # then the first of the words at cosine 0, by id
    assert augmenter.neighbours("42") == []  # not a word: kept as it is
    copies = augmenter.augment("good awful 42")
    assert {copy.split()[0] for copy in copies} == {"great", "fine"}
    assert {copy.split()[1] for copy in copies} == set(awful) and {copy.split()[2] for copy in copies} == {"42"}


def test_masked_lm_candidates_for_single_piece_words():
    tokenizer = make_tokenizer()
    torch.manual_seed(0)
    mlm = BertForMaskedLM(
        BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                   intermediate_size=32, max_position_embeddings=32)
    )  # fmt: skip
    vocab = tokenizer.get_vocab()
    with torch.no_grad():  # the LM prefers "superb", then "lovely", then "story", whatever the context
        mlm.cls.predictions.decoder.weight.zero_()
        mlm.cls.predictions.bias.zero_()
        for word, score in (("superb", 30.0), ("lovely", 20.0), ("story", 10.0)):
            mlm.cls.predictions.bias[vocab[word]] = score
    config = AugmentationConfig(num_copies=20, mask_prob=0.0, replace_prob=1.0, ngram_prob=0.0, top_k=2)
    augmenter = Augmenter(config, tokenizer, mlm=mlm)
    assert augmenter.mlm_candidates(["superb", "movie"], [0, 1]) == {0: ["lovely", "story"], 1: ["superb", "lovely"]}
    copies = augmenter.augment("superb movie")
    assert {copy.split()[0] for copy in copies} == {"lovely", "story"}
    assert {copy.split()[1] for copy in copies} == {"superb", "lovely"}


def test_copies_are_deterministic_under_the_seed():
    tokenizer = make_tokenizer()
    embeddings = embeddings_with_known_neighbours(tokenizer)

    def copies(seed):
        augmenter = Augmenter(AugmentationConfig(num_copies=5, seed=seed), tokenizer, embeddings=embeddings)
        return augmenter.augment_dataset(sentiment_dataset(6, seed=3), ["sentence"], show_progress=False)

    first = copies(0)
    assert first[:] == copies(0)[:]
    assert first["sentence"][:] != copies(1)["sentence"][:]
    assert len(first) == 30 and first["augmented_from"][:] == [i for i in range(6) for _ in range(5)]
    assert first["label"][:] == [None] * 30
    for copy in first["sentence"]:
        assert all(word in WORDS + NEUTRAL + ["[MASK]"] for word in copy.split()), copy


def test_teacher_labels_for_the_copies():
    dataset = sentiment_dataset(3).map(lambda row, i: {"label": None if i else row["label"]}, with_indices=True)
    gold = dataset[0]["label"]
    logits = torch.tensor([[0.0, 1.0], [2.0, -1.0], [-1.0, 3.0]])
    soft = label_with_teacher(dataset, logits)
    assert soft["teacher_logits"][:] == logits.tolist() and soft["label"][:] == [gold, None, None]
    hard = label_with_teacher(dataset, logits, hard_labels=True)
    assert hard["label"][:] == [gold, 0, 1]  # the gold label is kept; the others get the teacher's argmax
