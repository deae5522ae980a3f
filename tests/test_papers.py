"""Every method carries its paper (``_paper``), and the model card of a run cites the paper of the method that ran."""

import pytest

import hf_distill
from hf_distill import PRESETS, render_model_card
from hf_distill.papers import PAPERS, Paper
from hf_distill.recipes.methods import METHODS
from tests.hub.test_model_card import RESULTS

METHOD_CLASSES = [
    "DistillationTrainer", "ReplacementScheduler", "TheseusArguments", "FastBertStageCallback", "FastBertArguments",
    "MetaDistilTrainer", "MetaDistilTrainingArguments", "BiLSTMArguments", "ProgressiveTransferCallback", "Augmenter",
]  # fmt: skip


@pytest.mark.parametrize("name", METHOD_CLASSES)
def test_each_method_class_names_its_paper(name):
    paper = getattr(hf_distill, name)._paper
    assert isinstance(paper, Paper) and paper.url.startswith("https://arxiv.org/abs/") and paper.year >= 2015


def test_every_recipe_method_and_preset_has_a_paper():
    assert set(METHODS) <= set(PAPERS) and set(PRESETS) <= set(PAPERS)
    assert all(preset.paper is PAPERS[name] for name, preset in PRESETS.items())
    assert PAPERS["theseus"] is hf_distill.ReplacementScheduler._paper is hf_distill.TheseusArguments._paper


def test_the_card_cites_the_paper_of_the_method_that_ran():
    card = render_model_card({**RESULTS, "distill_method": "metadistil"}).text
    assert (
        "Method: MetaDistil (Zhou et al., 2022): the teacher learns from the student's feedback. Paper: Zhou et al., "
        '"BERT Learns to Teach: Knowledge Distillation with Meta Learning", ACL 2022, https://arxiv.org/abs/2106.04570.'
    ) in card
    assert "Method: the `homemade` method." in render_model_card({**RESULTS, "distill_method": "homemade"}).text
