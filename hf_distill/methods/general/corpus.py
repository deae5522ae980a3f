"""Raw-text corpora for task-agnostic (pre-training) distillation: loading, tokenizing, packing into blocks.

A corpus is local text files (``.txt`` one document per line; ``.tsv``/``.csv``/``.json``/``.jsonl``/``.parquet``
with named text columns) or a Hub dataset. Either way it goes through `datasets`, so it never has to fit in memory:

- map-style (default): `datasets` writes Arrow files to its cache and memory-maps them; tokenizing and packing are
  `Dataset.map` passes that write more memory-mapped Arrow files, one batch of documents at a time;
- ``streaming=True``: an `IterableDataset` read lazily from the files (or the Hub), tokenized and packed on the fly.

Packing (RoBERTa's FULL-SENTENCES): documents are tokenized without special tokens, concatenated with the
tokenizer's separator between documents, cut into chunks of ``block_size - k`` tokens (``k`` special tokens the
tokenizer adds to one sequence, 2 for BERT) and wrapped with the tokenizer's special tokens (``[CLS] ... [SEP]``),
so every block has exactly ``block_size`` tokens and no padding. The tail of each packing batch that does not fill
a block is dropped (less than one block per ``pack_batch_size`` documents).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

TEXT_COLUMN = "text"
_TABLE_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
_TEXT_SUFFIXES = (".txt", ".text", ".raw")


def load_text_corpus(
    text_files: Sequence[str] | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    split: str = "train",
    text_columns: Sequence[str] = ("text",),
    streaming: bool = False,
    cache_dir: str | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """A dataset with one string column ``"text"``, one document per row, from local files or a Hub dataset.

    Local ``.txt`` files give one document per non-empty line. Table files (``.tsv`` read as GLUE-style TSV with no
    quoting, ``.csv``, ``.json(l)``, ``.parquet``) give one document per non-empty value of each of their
    ``text_columns`` that they have (e.g. ``sentence``, ``sentence1``, ``sentence2``, ``#1 String``). A Hub dataset
    (``dataset_name``) reads ``text_columns`` the same way. Exactly one of ``text_files`` / ``dataset_name``.
    """
    if bool(text_files) == bool(dataset_name):
        raise ValueError(
            f"Give exactly one corpus source: text_files={list(text_files or [])!r}, dataset_name={dataset_name!r}. "
            "Use --text_files a.txt b.tsv for local files or --dataset_name <hub id> for a Hub dataset."
        )
    if isinstance(text_columns, str):
        text_columns = (text_columns,)
    if dataset_name:
        corpus = datasets.load_dataset(
            dataset_name, dataset_config_name, split=split, streaming=streaming, cache_dir=cache_dir
        )
        return _to_text_column(corpus, text_columns, source=dataset_name)
    parts = []
    for path in text_files:
        if not os.path.isfile(path):
            raise ValueError(f"Corpus file {path!r} does not exist.")
        suffix = os.path.splitext(path)[1].lower()
        if suffix in _TEXT_SUFFIXES:
            part = datasets.load_dataset(
                "text", data_files=[path], split="train", streaming=streaming, cache_dir=cache_dir
            )
        elif suffix in _TABLE_BUILDERS:
            options: dict[str, Any] = {}
            if suffix in (".tsv", ".csv"):
                # GLUE TSVs: tab-separated, quotes are ordinary characters, some files start with a BOM.
                options = {"sep": "\t" if suffix == ".tsv" else ",", "quoting": 3 if suffix == ".tsv" else 0}
                options["encoding"] = "utf-8-sig"
            part = datasets.load_dataset(
                _TABLE_BUILDERS[suffix],
                data_files=[path],
                split="train",
                streaming=streaming,
                cache_dir=cache_dir,
                **options,
            )
        else:
            raise ValueError(
                f"Corpus file {path!r} has an unsupported suffix {suffix!r}: use one of "
                f"{', '.join(_TEXT_SUFFIXES + tuple(_TABLE_BUILDERS))}."
            )
        parts.append(_to_text_column(part, text_columns if suffix not in _TEXT_SUFFIXES else ("text",), path))
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def _to_text_column(
    corpus: datasets.Dataset | datasets.IterableDataset, text_columns: Sequence[str], source: str
) -> datasets.Dataset | datasets.IterableDataset:
    names = corpus.column_names
    if names is None:  # a streaming dataset whose features are unknown until read
        names = list(next(iter(corpus)).keys())
    columns = [name for name in text_columns if name in names]
    if not columns:
        raise ValueError(
            f"{source!r} has none of the text columns {list(text_columns)} (its columns: {names}). "
            "Name the right ones with --text_columns."
        )

    def flatten(batch: dict[str, list]) -> dict[str, list[str]]:
        texts = []
        for row in range(len(batch[columns[0]])):
            texts += [batch[name][row] for name in columns if isinstance(batch[name][row], str)]
        return {TEXT_COLUMN: [text.strip() for text in texts if text and text.strip()]}

    return corpus.map(flatten, batched=True, remove_columns=names)


def pack_blocks(
    corpus: datasets.Dataset | datasets.IterableDataset,
    tokenizer: PreTrainedTokenizerBase,
    block_size: int = 128,
    with_offsets: bool = False,
    pack_batch_size: int = 1000,
    num_proc: int | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """Tokenize the ``"text"`` column and pack it into blocks of exactly ``block_size`` tokens.

    Every output row has ``input_ids``, ``attention_mask`` (all ones) and ``special_tokens_mask`` (1 on the tokens
    packing added: the block's own special tokens and the separators between documents), each of length
    ``block_size``; with ``with_offsets`` (needed for whole-word masking) also ``offset_mapping`` ``[block_size, 2]``:
    character offsets of each token in its own document, ``(0, 0)`` on special tokens.
    """
    if not tokenizer.is_fast and with_offsets:
        raise ValueError(
            f"Whole-word masking needs token offsets, which only fast tokenizers give; {type(tokenizer).__name__} is "
            "slow. Load the tokenizer with AutoTokenizer.from_pretrained(..., use_fast=True)."
        )
    separator = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if separator is None:
        raise ValueError(
            f"{type(tokenizer).__name__} has neither a sep nor an eos token to separate packed documents."
        )
    before, after = _special_tokens_around(tokenizer)
    n_special = len(before) + len(after)
    chunk = block_size - n_special
    if chunk < 1:
        raise ValueError(f"block_size={block_size} leaves no room for text next to {n_special} special tokens.")
    max_positions = getattr(tokenizer, "model_max_length", None)
    if max_positions is not None and max_positions < 1e8 and block_size > max_positions:
        raise ValueError(f"block_size={block_size} is longer than the tokenizer's model_max_length={max_positions}.")
    # Where the special tokens go around a chunk, from the tokenizer itself ([CLS] x [SEP], <s> x </s>, ...).
    before, after = _special_tokens_around(tokenizer)

    def pack(batch: dict[str, list[str]]) -> dict[str, list]:
        encoded = tokenizer(
            batch[TEXT_COLUMN],
            add_special_tokens=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            return_offsets_mapping=with_offsets,
        )
        ids: list[int] = []
        offsets: list[list[int]] = []
        special: list[int] = []
        for row, document in enumerate(encoded["input_ids"]):
            if not document:
                continue
            ids += [*document, separator]
            special += [0] * len(document) + [1]
            if with_offsets:
                offsets += [list(pair) for pair in encoded["offset_mapping"][row]] + [[0, 0]]
        blocks: dict[str, list] = {"input_ids": [], "attention_mask": [], "special_tokens_mask": []}
        if with_offsets:
            blocks["offset_mapping"] = []
        for start in range(0, len(ids) - chunk + 1, chunk):
            blocks["input_ids"].append(before + ids[start : start + chunk] + after)
            blocks["attention_mask"].append([1] * block_size)
            blocks["special_tokens_mask"].append([1] * len(before) + special[start : start + chunk] + [1] * len(after))
            if with_offsets:
                edges = [[0, 0]]
                blocks["offset_mapping"].append(
                    edges * len(before) + offsets[start : start + chunk] + edges * len(after)
                )
        return blocks

    columns = corpus.column_names or [TEXT_COLUMN]  # a streaming dataset may not know its columns
    options: dict[str, Any] = {"batched": True, "batch_size": pack_batch_size, "remove_columns": columns}
    if isinstance(corpus, datasets.Dataset):
        options.update(num_proc=num_proc, desc=f"Tokenizing and packing into blocks of {block_size}")
    return corpus.map(pack, **options)


def _special_tokens_around(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one sequence (``[CLS]`` / ``[SEP]`` for BERT)."""
    probe = "a"
    plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    raise ValueError(f"Cannot tell which special tokens {type(tokenizer).__name__} adds around a sequence.")
