"""model_cards/: the copyable card template is the packaged one, and every committed reference card is exactly what
model_cards/render.py renders from its results.json (re-rendered here, compared byte for byte)."""

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

import hf_distill
from tests.recipes.test_recipe import GLUE_DIR, common_flags, models, recipe_main  # noqa: F401 - the recipe's fixture

ROOT = Path(__file__).resolve().parents[2]
CARDS = ROOT / "model_cards"
spec = importlib.util.spec_from_file_location("render_cards", CARDS / "render.py")
render_cards = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_cards)


def test_copyable_template_is_the_packaged_default():
    [packaged] = Path(hf_distill.__file__).parent.rglob("distilled_student.md")
    assert (CARDS / "distilled_student.md").read_bytes() == packaged.read_bytes()


def test_committed_cards_are_their_results_rendered():
    pairs = render_cards.cards()
    for results_path, card_path in pairs.items():
        assert card_path.read_bytes() == render_cards.render(results_path).encode(), card_path
    cards = {path for path in CARDS.glob("*.md") if path.name not in render_cards.NOT_CARDS}
    assert cards == set(pairs.values())  # no card without its results.json
    assert render_cards.main(["--check"]) == 0


@pytest.fixture(scope="module")
def recipe_results(models, tmp_path_factory):  # noqa: F811
    """The results.json of a real (tiny) run of the recipe, with the license stated, as a reference card needs."""
    out = tmp_path_factory.mktemp("run") / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"]]
    assert recipe_main([*flags, "--student_model_name_or_path", models["pretrained_student"]]) == 0
    return {**json.loads((out / "results.json").read_text()), "license": "apache-2.0"}


def cards_folder(tmp_path: Path, results: dict, config: str = "sst2_logit_minilm") -> Path:
    (tmp_path / config).mkdir(parents=True)
    (tmp_path / config / "results.json").write_text(json.dumps(results))
    return tmp_path


def test_render_writes_then_checks_a_card_from_recipe_results(recipe_results, tmp_path, capsys):
    folder = cards_folder(tmp_path / "cards", recipe_results)
    assert render_cards.main(["--folder", str(folder)]) == 0
    card = (folder / "sst2_logit_minilm.md").read_text()
    accuracy = recipe_results["student"]["metrics"]["accuracy"]
    assert f"| accuracy (GLUE SST-2, validation) | {recipe_results['teacher']['metrics']['accuracy']:.4g} |" in card
    assert f"    - type: accuracy\n      value: {accuracy}\n" in card and "\nlicense: apache-2.0\n" in card
    assert str(tmp_path) not in card and "~/" not in card  # absolute paths shortened alike on every machine
    assert render_cards.main(["--folder", str(folder), "--check"]) == 0

    (folder / "sst2_logit_minilm.md").write_text(card.replace("apache-2.0", "mit"))
    (folder / "sst2_bilstm.md").write_text("a card without its results")
    assert render_cards.main(["--folder", str(folder), "--check"]) == 1
    error = capsys.readouterr().err
    assert "out of date" in error and "sst2_logit_minilm.md" in error and "sst2_bilstm.md (no sst2_bilstm/" in error


def test_render_is_the_same_from_any_working_and_home_folder(recipe_results, tmp_path, monkeypatch):
    # A relative checkpoint path names a local folder only where that folder exists: rendered elsewhere, the card
    # would differ. The renderer reads no local folder, wherever it runs.
    teacher = {**recipe_results["teacher"], "name_or_path": "outputs/teacher"}
    folder = cards_folder(tmp_path / "cards", {**recipe_results, "teacher": teacher})
    first = render_cards.render(folder / "sst2_logit_minilm" / "results.json")
    (tmp_path / "outputs" / "teacher").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert render_cards.render(folder / "sst2_logit_minilm" / "results.json") == first
    assert os.getcwd() == str(tmp_path) and os.environ["HOME"] == str(tmp_path)  # restored after rendering


def test_render_refuses_results_without_license_or_config(recipe_results, tmp_path, capsys):
    no_license = {key: value for key, value in recipe_results.items() if key != "license"}
    folder = cards_folder(tmp_path / "a", no_license)
    assert render_cards.main(["--folder", str(folder)]) == 1
    assert "states no license" in capsys.readouterr().err
    folder = cards_folder(tmp_path / "b", recipe_results, config="not_a_config")
    assert render_cards.main(["--folder", str(folder)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "'not_a_config' is not a recipe config" in error
    assert not list(folder.glob("*.md"))


def test_render_uses_a_copied_template(recipe_results, tmp_path):
    template = tmp_path / "ours.md"
    shutil.copy(CARDS / "distilled_student.md", template)
    template.write_text(template.read_text().replace("## How to use", "## Using it"))
    folder = cards_folder(tmp_path / "cards", recipe_results)
    card = render_cards.render(folder / "sst2_logit_minilm" / "results.json", template)
    assert "## Using it" in card and "## How to use" not in card
