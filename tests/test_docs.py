"""docs/: every ```python snippet runs on tiny models, every page a link points to exists, every method page has
its paper, snippet and recipe config, and the argument reference lists every distillation argument."""

import dataclasses
import re
from pathlib import Path

import pytest
from transformers import BertConfig, BertForMaskedLM, TrainingArguments

from hf_distill import DistillationTrainingArguments
from tests.tiny import sentiment_dataset, tiny_bert, tokenized

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
METHOD_PAGES = sorted((DOCS / "methods").glob("*.md"))
SNIPPETS = [
    pytest.param(page, index, code, id=f"{page.relative_to(DOCS)}[{index}]")
    for page in PAGES
    for index, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))
]
# Relative links ([text](docs/x.md) in the README, [text](../recipes.md) in docs/methods/), resolved from the page.
LINK = re.compile(r"\]\(((?!https?://|#|mailto:)[^)#\s]+)(?:#[^)]*)?\)")
CORPUS = ["a good fun movie", "the plot was dull and the actor was weak", "a lovely warm story", "a sad cold film"]


@pytest.fixture
def checkpoints(tmp_path, tokenizer, trained_teacher):
    """The checkpoint names the snippets use, as tiny saved models (with the tokenizer)."""
    folders = {
        "fine-tuned-teacher-checkpoint": (trained_teacher, tmp_path / "teacher"),
        "student-checkpoint": (tiny_bert(tokenizer, seed=3), tmp_path / "student"),
        "pretrained-teacher-checkpoint": (pretrained_mlm(tokenizer), tmp_path / "pretrained"),
    }
    for model, folder in folders.values():
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return {name: folder for name, (_, folder) in folders.items()}


def pretrained_mlm(tokenizer) -> BertForMaskedLM:
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64
    )
    return BertForMaskedLM(config)


@pytest.mark.parametrize("page, index, code", SNIPPETS)
def test_snippet_runs_on_tiny_models(page, index, code, checkpoints, tokenizer, tmp_path, monkeypatch):
    for name, folder in checkpoints.items():
        code = code.replace(f'"{name}"', repr(str(folder)))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text("\n".join(CORPUS * 8) + "\n")
    namespace = {
        "train": tokenized(sentiment_dataset(32, seed=1), tokenizer).remove_columns("sentence"),
        "dev": tokenized(sentiment_dataset(16, seed=2), tokenizer).remove_columns("sentence"),
    }
    exec(compile(code, f"{page.relative_to(ROOT)} snippet {index}", "exec"), namespace)
    trainer = namespace.get("trainer")
    if trainer is not None:
        assert trainer.state.global_step > 0


def test_every_method_page_has_a_python_snippet():
    with_snippets = {param.values[0] for param in SNIPPETS}
    for page in METHOD_PAGES:
        assert page in with_snippets, page


@pytest.mark.parametrize("page", METHOD_PAGES, ids=lambda page: page.stem)
def test_method_page_names_its_paper_config_and_result(page):
    text = page.read_text()
    assert re.search(r"\]\(https://(arxiv\.org|aclanthology\.org|proceedings\.)", text), "no link to the paper"
    assert "## Formula" in text and "## Recipe config" in text and "## Cost" in text and "## Measured result" in text


def test_relative_links_point_to_files_of_the_repository():
    for page in [ROOT / "README.md", ROOT / "model_cards" / "README.md", *PAGES]:
        for target in LINK.findall(page.read_text()):
            path = (page.parent / target).resolve()
            assert path.is_relative_to(ROOT), f"{page.relative_to(ROOT)}: {target} leaves the repository"
            assert path.exists(), f"{page.relative_to(ROOT)}: {target} does not exist"


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    missing = [str(page.relative_to(ROOT)) for page in PAGES if f"]({page.relative_to(ROOT)})" not in readme]
    assert not missing, missing


def test_argument_reference_lists_every_distillation_argument():
    inherited = {f.name for f in dataclasses.fields(TrainingArguments)}
    own = [f.name for f in dataclasses.fields(DistillationTrainingArguments) if f.name not in inherited]
    table_rows = set(re.findall(r"^\| `(\w+)` \|", (DOCS / "arguments.md").read_text(), flags=re.M))
    assert own and set(own) <= table_rows, sorted(set(own) - table_rows)
