import datasets
import pytest

from hf_distill.methods.general.corpus import load_text_corpus, pack_blocks


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def ids(tokenizer, words):
    return tokenizer.convert_tokens_to_ids(words.split())


def test_text_file_packs_into_full_blocks_with_separators(tmp_path, tokenizer):
    corpus = load_text_corpus([write(tmp_path / "c.txt", "good movie\n\nbad plot was dull\nfun\nthe film\n")])
    assert corpus.column_names == ["text"]
    assert corpus["text"] == ["good movie", "bad plot was dull", "fun", "the film"]  # empty line dropped
    blocks = pack_blocks(corpus, tokenizer, block_size=6)
    # stream: good movie S bad plot was dull S fun S the film S  (13 tokens) -> chunks of 4, tail of 1 dropped
    expected = [
        "[CLS] good movie [SEP] bad [SEP]",
        "[CLS] plot was dull [SEP] [SEP]",
        "[CLS] fun [SEP] the film [SEP]",
    ]
    assert blocks["input_ids"] == [ids(tokenizer, block) for block in expected]
    assert blocks["attention_mask"] == [[1] * 6] * 3
    assert blocks["special_tokens_mask"] == [[1, 0, 0, 1, 0, 1], [1, 0, 0, 0, 1, 1], [1, 0, 1, 0, 0, 1]]
    assert "offset_mapping" not in blocks.column_names


def test_offsets_are_per_document_characters(tmp_path, tokenizer):
    corpus = load_text_corpus([write(tmp_path / "c.txt", "good movie\nbad plot\n")])
    blocks = pack_blocks(corpus, tokenizer, block_size=5, with_offsets=True)
    # good movie S bad plot S -> [good movie S] [bad plot S]
    assert blocks["offset_mapping"] == [
        [[0, 0], [0, 4], [5, 10], [0, 0], [0, 0]],
        [[0, 0], [0, 3], [4, 8], [0, 0], [0, 0]],
    ]


def test_glue_tsv_columns_quotes_and_bom(tmp_path, tokenizer):
    rows = '\ufeffindex\tsentence1\tsentence2\tlabel\n0\t"good" movie\tthe plot\t1\n1\tbad film\t\t0\n'
    corpus = load_text_corpus([write(tmp_path / "rte.tsv", rows)], text_columns=["sentence", "sentence1", "sentence2"])
    assert corpus["text"] == ['"good" movie', "the plot", "bad film"]
    sst = write(tmp_path / "sst.tsv", "sentence\tlabel\nfun story\t1\n")
    both = load_text_corpus([sst, str(tmp_path / "rte.tsv")], text_columns=["sentence", "sentence1", "sentence2"])
    assert both["text"] == ["fun story", '"good" movie', "the plot", "bad film"]


def test_streaming_gives_the_same_blocks_as_memory_mapped(tmp_path, tokenizer):
    lines = [" ".join(["good", "movie", "the", "plot", "was", "dull"][: 1 + i % 6]) for i in range(300)]
    path = write(tmp_path / "c.txt", "\n".join(lines))
    mapped = pack_blocks(load_text_corpus([path], cache_dir=str(tmp_path / "cache")), tokenizer, 16, True, 64)
    streamed = pack_blocks(load_text_corpus([path], streaming=True), tokenizer, 16, True, 64)
    assert isinstance(streamed, datasets.IterableDataset)
    assert list(streamed) == list(mapped)
    assert len(mapped) > 50
    # The map-style path lives in Arrow files on disk (memory-mapped), not in RAM.
    assert mapped.cache_files and all(f["filename"].startswith(str(tmp_path / "cache")) for f in mapped.cache_files)


def test_bad_sources_are_refused(tmp_path, tokenizer):
    path = write(tmp_path / "c.txt", "good\n")
    with pytest.raises(ValueError, match="exactly one corpus source"):
        load_text_corpus()
    with pytest.raises(ValueError, match="exactly one corpus source"):
        load_text_corpus([path], dataset_name="wikitext")
    with pytest.raises(ValueError, match="does not exist"):
        load_text_corpus([str(tmp_path / "missing.txt")])
    with pytest.raises(ValueError, match="unsupported suffix"):
        load_text_corpus([write(tmp_path / "c.doc", "x")])
    with pytest.raises(ValueError, match="none of the text columns"):
        load_text_corpus([write(tmp_path / "t.tsv", "a\tb\nx\ty\n")], text_columns=["sentence"])
    with pytest.raises(ValueError, match="leaves no room"):
        pack_blocks(load_text_corpus([path]), tokenizer, block_size=2)
