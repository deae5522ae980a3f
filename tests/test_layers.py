"""Layer access per architecture, layer mappings, and hook capture checked against the models' own attention."""

import pytest
import torch

from hf_distill.layers import (
    AttentionCapture,
    WordEmbeddingProbe,
    encoder_layers,
    encoder_layers_prefix,
    map_layers,
    parse_layer_mapping,
    word_embeddings,
)
from tests.tiny import ARCHITECTURES, tiny_encoder


def batch(vocab_size=40):
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab_size, (2, 7), generator=generator)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0
    return ids, mask


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_encoder_layers_per_architecture(arch):
    model = tiny_encoder(arch, layers=3)
    layers = encoder_layers(model)
    assert isinstance(layers, torch.nn.ModuleList) and len(layers) == 3
    prefix = encoder_layers_prefix(model)
    assert any(key.startswith(prefix + ".2.") for key in model.state_dict())


def test_unsupported_architecture_is_named():
    from transformers import AlbertConfig, AlbertForSequenceClassification

    albert = AlbertForSequenceClassification(AlbertConfig(vocab_size=40, hidden_size=32, num_attention_heads=4))
    with pytest.raises(ValueError, match=r"AlbertForSequenceClassification \(model_type='albert'\) is not supported"):
        encoder_layers(albert)


def test_layer_mapping_strategies():
    assert map_layers("uniform", 3, 6) == [(1, 2), (2, 4), (3, 6)]
    assert map_layers("uniform", 4, 12) == [(1, 3), (2, 6), (3, 9), (4, 12)]
    assert map_layers("skip", 6, 12) == [(1, 2), (2, 4), (3, 6), (4, 8), (5, 10)]  # PKD-Skip (Sun et al., 2019)
    assert map_layers("last", 6, 12) == [(1, 7), (2, 8), (3, 9), (4, 10), (5, 11)]  # PKD-Last
    assert map_layers("1:2,3:-1", 3, 6) == [(1, 2), (3, 6)]
    assert map_layers("2, 4, 6", 3, 6) == [(1, 2), (2, 4), (3, 6)]
    assert map_layers([[0, 0], [2, 5]], 3, 6) == [(0, 0), (2, 5)]
    assert map_layers([1, 3], 3, 6) == [(1, 1), (2, 3)]
    assert parse_layer_mapping("skip") == "skip"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("1:7", r"teacher layer 7 is out of range: the teacher has 6 layers"),
        ("4:2", r"student layer 4 is out of range: the student has 3 layers"),
        ("diagonal", r"layer_mapping='diagonal' is not one of uniform, skip, last"),
        ([[1, 2, 3]], r"neither a teacher layer"),
    ],
)
def test_bad_layer_mappings(mapping, message):
    with pytest.raises(ValueError, match=message):
        map_layers(mapping, 3, 6)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_captured_scores_are_the_pre_softmax_attention(arch):
    """softmax(captured Q K^T / sqrt(d) [+ MPNet position bias] + mask) must be the model's own attention map."""
    model = tiny_encoder(arch).eval()
    model.set_attn_implementation("eager")
    ids, mask = batch()
    with AttentionCapture(model, {"query": [1, 4], "key": [1, 4], "value": [2]}) as capture:
        outputs = model(input_ids=ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    for layer in (1, 4):
        scores = capture.scores(layer)
        assert scores.shape == (2, 4, 7, 7)
        probabilities = scores.masked_fill(mask[:, None, None, :] == 0, float("-inf")).softmax(-1)
        torch.testing.assert_close(probabilities, outputs.attentions[layer - 1], atol=1e-6, rtol=1e-5)
    assert capture.states("value", 2).shape == (2, 7, 32)
    with pytest.raises(ValueError, match="No value recorded for layer 3"):
        capture.states("value", 3)


def test_capture_does_not_need_eager_attention_and_hooks_are_removed():
    model = tiny_encoder("bert").eval()
    assert model.config._attn_implementation == "sdpa"
    ids, mask = batch()
    with AttentionCapture(model, {"query": [2], "key": [2]}) as capture:
        model(input_ids=ids, attention_mask=mask)
    sdpa_scores = capture.scores(2)
    model.set_attn_implementation("eager")
    attentions = model(input_ids=ids, attention_mask=mask, output_attentions=True).attentions
    probabilities = sdpa_scores.masked_fill(mask[:, None, None, :] == 0, float("-inf")).softmax(-1)
    torch.testing.assert_close(probabilities, attentions[1], atol=1e-6, rtol=1e-5)
    capture.records.clear()
    model(input_ids=ids, attention_mask=mask)
    assert not capture.records  # hooks gone after the with block
    assert all(not layer.attention.self.query._forward_hooks for layer in encoder_layers(model))


def test_captured_states_carry_gradients():
    model = tiny_encoder("distilbert")
    ids, mask = batch()
    with AttentionCapture(model, {"value": [1]}) as capture:
        model(input_ids=ids, attention_mask=mask)
    capture.states("value", 1).pow(2).sum().backward()
    assert encoder_layers(model)[0].attention.v_lin.weight.grad is not None
    with pytest.raises(ValueError, match="captured layer 5 is out of range"):
        with AttentionCapture(model, {"key": [5]}):
            pass


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_word_embedding_probe_perturbs_the_lookup_before_positions_are_added(arch):
    """The probe's tensor is the word-embedding lookup (+ the perturbation): feeding it as inputs_embeds, to which
    each model adds its own position (and type) embeddings, gives the same logits."""
    model = tiny_encoder(arch, layers=2).eval().requires_grad_(False)
    ids = torch.randint(5, 40, (2, 6), generator=torch.Generator().manual_seed(1))
    noise = torch.randn(2, 6, 32, generator=torch.Generator().manual_seed(2))
    with WordEmbeddingProbe(model, perturb=lambda e: e + noise) as probe:
        logits = model(input_ids=ids).logits
    torch.testing.assert_close(probe.embeddings, model.get_input_embeddings()(ids) + noise)
    torch.testing.assert_close(logits, model(inputs_embeds=model.get_input_embeddings()(ids) + noise).logits)
    assert probe.embeddings.requires_grad  # a frozen model: a leaf made to require grad
    (gradient,) = torch.autograd.grad(logits[:, 0].sum(), probe.embeddings)
    assert gradient.shape == (2, 6, 32) and gradient.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())
    model(input_ids=ids)  # the hook is gone: a second forward neither perturbs nor complains
    assert not model.get_input_embeddings()._forward_hooks


def test_a_model_without_reachable_word_embeddings_is_named():
    class Opaque(torch.nn.Module):
        def get_input_embeddings(self):
            raise NotImplementedError

    with pytest.raises(ValueError, match=r"Opaque has no word-embedding lookup reachable through get_input_emb"):
        word_embeddings(Opaque())
    with pytest.raises(ValueError, match=r"Linear has no word-embedding lookup"):
        WordEmbeddingProbe(torch.nn.Linear(2, 2))
