"""Data augmentation for task distillation (Distilled BiLSTM, Tang et al. 2019; TinyBERT, Jiao et al. 2020).

Each augmented copy of a text is made word by word (words = whitespace-separated), then as a whole (Tang et al.,
arXiv:1903.12136, section 3.2; Jiao et al., arXiv:1909.10351, section 3.3):

- with probability ``mask_prob`` a word becomes the mask token (``[MASK]``);
- else with probability ``replace_prob`` it is replaced by a candidate word: one of the ``top_k`` predictions of
  a masked LM for that position when ``mlm`` is given and the word is one word piece (TinyBERT), otherwise one of
  the ``top_k`` nearest whole-word tokens to the word in the teacher's input-embedding space (cosine similarity;
  the word's pieces averaged). Words without any candidate (punctuation, numbers) are kept;
- finally, with probability ``ngram_prob`` only a random n-gram of the copy is kept, ``n`` uniform in
  ``1..ngram_max``.

Copies have no gold label: the teacher labels them (its logits are the targets; see `label_with_teacher`).
Everything is deterministic under ``seed``: every random draw comes from a generator seeded with
``(seed, row, copy, column)``, and the draws do not depend on which candidates exist.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from ..cache import add_teacher_logits
from ..papers import cites
from ..terms import TINYBERT


@dataclass
class AugmentationConfig:
    """Settings of [`Augmenter`] (defaults: Distilled BiLSTM's; TinyBERT uses replace_prob=0.4, mask_prob=0)."""

    num_copies: int = 20
    mask_prob: float = 0.1
    replace_prob: float = 0.1
    ngram_prob: float = 0.25
    ngram_max: int = 5
    top_k: int = 15
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_copies < 1:
            raise ValueError(f"num_copies={self.num_copies} must be >= 1 (augmented copies per example).")
        for name in ("mask_prob", "replace_prob", "ngram_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)} must be a probability in [0, 1].")
        if self.mask_prob + self.replace_prob > 1.0:
            raise ValueError(
                f"mask_prob + replace_prob = {self.mask_prob + self.replace_prob} > 1: each word is masked, "
                "replaced or kept, so the two probabilities must sum to at most 1."
            )
        if self.ngram_max < 1 or self.top_k < 1:
            raise ValueError(f"ngram_max={self.ngram_max} and top_k={self.top_k} must be >= 1.")


def whole_word_vocabulary(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """``{word: token id}``, in id order, for the alphabetic vocabulary entries that are a whole word on their own.

    A token qualifies when its text is alphabetic and tokenizing that text alone gives back exactly that token
    (so ``##ing`` or a BPE continuation piece does not).
    """
    special = set(tokenizer.all_special_ids)
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])  # get_vocab's order varies per call
    tokens = [(token, index) for token, index in vocab if index not in special]
    words = [tokenizer.convert_tokens_to_string([token]).strip() for token, _ in tokens]
    kept = [(word, index) for word, (_, index) in zip(words, tokens) if word.isalpha()]
    if not kept:
        return {}
    encoded = tokenizer([word for word, _ in kept], add_special_tokens=False)["input_ids"]
    return {word: index for (word, index), ids in zip(kept, encoded) if ids == [index]}


@cites(TINYBERT)
class Augmenter:
    """Makes augmented copies of texts (see the module docstring for the operations).

    Args:
        config: the probabilities, copy count, ``top_k`` and seed.
        tokenizer: the teacher's tokenizer; its mask token is used for masking and its vocabulary for neighbours.
        embeddings: the teacher's input-embedding matrix ``[vocab, width]`` (``teacher.get_input_embeddings()
            .weight``), for neighbour replacement. ``None`` leaves multi-piece words unreplaced without ``mlm``.
        mlm: an optional masked LM (e.g. ``bert-base-uncased`` as `AutoModelForMaskedLM`) for candidates of
            single-piece words; ``mlm_tokenizer`` is its tokenizer (default ``tokenizer``).
    """

    def __init__(
        self,
        config: AugmentationConfig,
        tokenizer: PreTrainedTokenizerBase,
        embeddings: torch.Tensor | None = None,
        mlm: nn.Module | None = None,
        mlm_tokenizer: PreTrainedTokenizerBase | None = None,
        mlm_batch_size: int = 64,
    ) -> None:
        self.config = config
        self.tokenizer = tokenizer
        if config.mask_prob > 0 and tokenizer.mask_token is None:
            raise ValueError(f"mask_prob={config.mask_prob} needs a tokenizer with a mask token; this one has none.")
        if config.replace_prob > 0 and embeddings is None and mlm is None:
            raise ValueError(
                f"replace_prob={config.replace_prob} needs candidates: pass the teacher's input embeddings "
                "(embeddings=teacher.get_input_embeddings().weight) and/or a masked LM (mlm=...)."
            )
        self.mlm = mlm.eval() if mlm is not None else None
        self.mlm_tokenizer = mlm_tokenizer or tokenizer
        self.mlm_batch_size = mlm_batch_size
        self._neighbours: dict[str, list[str]] = {}
        self._vocabulary_ids: torch.Tensor | None = None
        if embeddings is not None and config.replace_prob > 0:
            vocabulary = whole_word_vocabulary(tokenizer)
            self._vocabulary_words = list(vocabulary)
            self._vocabulary_ids = torch.tensor(list(vocabulary.values()), dtype=torch.long)
            self._embeddings = embeddings.detach().float().cpu()
            self._unit_vocabulary = nn.functional.normalize(self._embeddings[self._vocabulary_ids], dim=-1)
        if self.mlm is not None:
            mlm_vocabulary = whole_word_vocabulary(self.mlm_tokenizer)
            self._mlm_words = {index: word for word, index in mlm_vocabulary.items()}
            allowed = torch.zeros(len(self.mlm_tokenizer), dtype=torch.bool)
            allowed[list(self._mlm_words)] = True
            self._mlm_allowed = allowed

    # ---- Candidates ----

    def neighbours(self, word: str) -> list[str]:
        """The ``top_k`` whole words nearest to ``word`` in the embedding space (cosine), ``word`` excluded."""
        key = word.lower()
        if key in self._neighbours:
            return self._neighbours[key]
        found: list[str] = []
        if self._vocabulary_ids is not None and word.isalpha():
            pieces = self.tokenizer(word, add_special_tokens=False)["input_ids"]
            if pieces:
                query = nn.functional.normalize(self._embeddings[pieces].mean(0), dim=-1)
                scores = self._unit_vocabulary @ query
                order = scores.sort(descending=True, stable=True).indices[: self.config.top_k + 1].tolist()
                found = [self._vocabulary_words[i] for i in order if self._vocabulary_words[i].lower() != key]
                found = found[: self.config.top_k]
        self._neighbours[key] = found
        return found

    def _mlm_single_piece(self, word: str) -> bool:
        return word.isalpha() and len(self.mlm_tokenizer(word, add_special_tokens=False)["input_ids"]) == 1

    @torch.inference_mode()
    def mlm_candidates(self, words: Sequence[str], positions: Sequence[int]) -> dict[int, list[str]]:
        """For each position: the masked LM's ``top_k`` whole-word predictions with that word masked (itself out)."""
        result: dict[int, list[str]] = {}
        positions = [p for p in positions if self._mlm_single_piece(words[p])]
        device = next(self.mlm.parameters()).device
        mask = self.mlm_tokenizer.mask_token
        for start in range(0, len(positions), self.mlm_batch_size):
            chunk = positions[start : start + self.mlm_batch_size]
            texts = [" ".join([*words[:p], mask, *words[p + 1 :]]) for p in chunk]
            batch = self.mlm_tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(device)
            logits = self.mlm(**batch).logits.float().cpu()
            is_mask = batch["input_ids"].cpu() == self.mlm_tokenizer.mask_token_id
            for row, position in enumerate(chunk):
                where = is_mask[row].nonzero()
                if len(where) == 0:  # truncated away
                    result[position] = []
                    continue
                scores = logits[row, where[0, 0]].masked_fill(~self._mlm_allowed, float("-inf"))
                order = scores.sort(descending=True, stable=True).indices[: self.config.top_k + 1].tolist()
                found = [self._mlm_words[i] for i in order if self._mlm_words[i].lower() != words[position].lower()]
                result[position] = found[: self.config.top_k]
        return result

    # ---- Copies ----

    def augment(self, text: str, key: str = "") -> list[str]:
        """``num_copies`` augmented versions of ``text``; ``key`` (e.g. the row index) seeds their draws."""
        config = self.config
        words = text.split()
        plans = []
        for copy in range(config.num_copies):
            rng = random.Random(f"{config.seed}/{key}/{copy}")
            draws = [(rng.random(), rng.random()) for _ in words]
            ngram = (rng.random() < config.ngram_prob, rng.randint(1, config.ngram_max), rng.random())
            plans.append((draws, ngram))
        to_replace = sorted(
            {i for draws, _ in plans for i, (r, _) in enumerate(draws) if config.mask_prob <= r < self._replace_end}
        )
        mlm = self.mlm_candidates(words, to_replace) if self.mlm is not None and to_replace else {}
        copies = []
        for draws, (use_ngram, n, u) in plans:
            out = []
            for i, (word, (r, choice)) in enumerate(zip(words, draws)):
                if r < config.mask_prob:
                    out.append(self.tokenizer.mask_token)
                elif r < self._replace_end:
                    candidates = mlm.get(i) or self.neighbours(word)
                    out.append(candidates[int(choice * len(candidates))] if candidates else word)
                else:
                    out.append(word)
            if use_ngram and n < len(out):
                start = int(u * (len(out) - n + 1))
                out = out[start : start + n]
            copies.append(" ".join(out))
        return copies

    @property
    def _replace_end(self) -> float:
        return self.config.mask_prob + self.config.replace_prob

    def augment_dataset(
        self, dataset: datasets.Dataset, text_fields: Sequence[str], show_progress: bool = True
    ) -> datasets.Dataset:
        """``num_copies`` augmented rows per row of ``dataset``, same columns, no ``label`` (``None``).

        Each text column is augmented independently. Rows come copy-major within each source row: row ``i``'s
        copies are rows ``i * num_copies ... (i + 1) * num_copies - 1``; ``augmented_from`` holds ``i``.
        """
        columns: dict[str, list[Any]] = {name: [] for name in text_fields}
        sources: list[int] = []
        for index in tqdm(range(len(dataset)), desc="Augmenting", disable=not show_progress):
            row = dataset[index]
            for name in text_fields:
                columns[name].extend(self.augment(row[name], key=f"{index}/{name}"))
            sources.extend([index] * self.config.num_copies)
        features = {name: dataset.features[name] for name in text_fields}
        if "label" in dataset.column_names:
            columns["label"] = [None] * len(sources)
            features["label"] = dataset.features["label"]
        columns["augmented_from"] = sources
        features["augmented_from"] = datasets.Value("int64")
        return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def label_with_teacher(dataset: datasets.Dataset, logits: torch.Tensor, hard_labels: bool = False) -> datasets.Dataset:
    """Attach the teacher's ``logits`` ``[rows, C]`` as ``teacher_logits``; with ``hard_labels``, also give every row
    without a gold label the teacher's prediction as ``label`` (argmax; the raw score when ``C == 1``), so the
    hard-label term trains on it too (Distilled BiLSTM's ``onehot(argmax z_t)``)."""
    dataset = add_teacher_logits(dataset, logits)
    if hard_labels and "label" in dataset.column_names:
        predicted = logits[:, 0].tolist() if logits.shape[1] == 1 else logits.argmax(-1).tolist()
        labels = [gold if gold is not None else guess for gold, guess in zip(dataset["label"], predicted)]
        dataset = dataset.remove_columns("label").add_column("label", labels, feature=dataset.features["label"])
    return dataset
