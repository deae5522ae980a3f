"""FastBERT around the real all-MiniLM-L6-v2 (BERT) and all-mpnet-base-v2 (MPNet) checkpoints: the layer-by-layer
run equals the plain model on real padded text, exits really skip rows, and save/load keeps everything.

Needs the checkpoints from ``../shared/tools/get-models`` (``HF_DISTILL_MODELS``, default
``~/.cache/hf-distill-models``); skipped when they are missing.
"""

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hf_distill.modeling_fastbert import FastBertForSequenceClassification, exit_rule
from tests.real import MODELS, needs_checkpoints

SENTENCES = [
    "a gorgeous , witty , seductive movie .",
    "the plot is nothing but boilerplate clichés from start to finish , and the script assumes that not only "
    "would subtlety be lost on the target audience , but that it 's also too stupid to realize that they 've "
    "already seen this exact same movie a hundred times",
    "dull",
    "it 's a charming and often affecting journey .",
]

CHECKPOINTS = ("minilm-l6", "mpnet-base")
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", [pytest.param(name, marks=needs_checkpoints(name)) for name in CHECKPOINTS])
def test_real_backbone_layer_by_layer_and_exits(name, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(MODELS / name)
    torch.manual_seed(0)
    backbone = AutoModelForSequenceClassification.from_pretrained(MODELS / name, num_labels=2).eval()
    model = FastBertForSequenceClassification.from_backbone(backbone).eval()
    with torch.no_grad():
        for branch in model.branches:
            branch.out_proj.weight.mul_(100)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = backbone(**batch).logits
        layer_logits = model(**batch, output_layer_logits=True).layer_logits
    torch.testing.assert_close(layer_logits[-1], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(**batch).logits, expected, atol=1e-5, rtol=1e-5)  # speed 0

    speed = float(torch.special.entr(layer_logits[0].softmax(-1)).sum(-1).median() / torch.log(torch.tensor(2.0)))
    exits, logits = exit_rule(layer_logits, speed + 1e-6)
    output = model(**batch, speed=speed + 1e-6)
    assert output.exit_layers.tolist() == exits.tolist() and 1 in exits.tolist() and exits.max() > 1
    torch.testing.assert_close(output.logits, logits, atol=1e-4, rtol=1e-4)

    model.config.speed = 0.25
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, FastBertForSequenceClassification) and loaded.config.speed == 0.25
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)
