"""The FastBERT speed table: FLOP counts by hand, the table's rows against the exit rule, the PNG, bad input."""

import pytest
import torch
from transformers import DataCollatorWithPadding

from hf_distill.methods.fastbert.fastbert_report import (
    example_flops,
    format_report,
    full_flops,
    layer_flops,
    plot_speed_curve,
    speed_report,
    write_speed_results,
)
from hf_distill.modeling_fastbert import FastBertForSequenceClassification, exit_rule, normalized_entropy
from tests.tiny import sentiment_dataset, tiny_bert, tokenized


@pytest.fixture
def fastbert(tokenizer):
    model = FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, layers=3)).eval()
    with torch.no_grad():  # random branches are near-uniform; sharpened they exit on some inputs only
        for branch in model.branches:
            branch.out_proj.weight.mul_(300.0)
    return model


def test_layer_and_example_flops_by_hand(fastbert):
    encoder = fastbert.config.encoder_config  # H = 32, I = 64, L = 3, branch d = 128, C = 2
    # 8 s H^2 + 4 s^2 H + 4 s H I with s = 10: 81920 + 12800 + 81920
    assert layer_flops(encoder, 10) == 176640
    layer, branch, head = 176640, 2 * 10 * 32 + 2 * 32 * 128 + 2 * 128 * 2, 2 * 32 * 32 + 2 * 32 * 2
    seq = torch.tensor([10, 10, 10])
    flops = example_flops(fastbert, torch.tensor([1, 2, 3]), seq, speed=0.5)
    assert flops.tolist() == [layer + branch, 2 * (layer + branch), 3 * layer + 2 * branch + head]
    assert example_flops(fastbert, torch.tensor([3]), seq[:1], speed=0.0).tolist() == [3 * layer + head]
    assert full_flops(fastbert, seq[:1]).tolist() == [3 * layer + head]


def test_exit_rule_matches_first_confident_layer():
    layer_logits = torch.tensor(
        [
            [[5.0, 0.0], [0.1, 0.0], [0.0, 0.0]],  # U: .0580, .9982, 1
            [[0.0, 0.0], [4.0, 0.0], [0.2, 0.0]],  # U: 1, .1300, .9928
            [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],  # final classifier
        ]
    )
    # p = softmax([5, 0]) = [.993307, .006693]: sum p ln p = -.006715 - .033487 = -.040202; / ln(1/2) -> .0580
    assert normalized_entropy(layer_logits[0, 0]).item() == pytest.approx(0.0580, abs=1e-4)
    exits, logits = exit_rule(layer_logits, 0.5)
    assert exits.tolist() == [1, 2, 3]
    assert exit_rule(layer_logits, 0.1)[0].tolist() == [1, 3, 3]
    torch.testing.assert_close(logits, torch.tensor([[5.0, 0.0], [4.0, 0.0], [5.0, 6.0]]))
    assert exit_rule(layer_logits, 0.0)[0].tolist() == [3, 3, 3]
    assert exit_rule(layer_logits, 1.0)[0].tolist() == [1, 1, 2]  # U = 1 exactly is not below 1


def test_speed_report_rows_follow_the_rule_and_timed_runs_agree(fastbert, tokenizer):
    data = tokenized(sentiment_dataset(40, seed=11), tokenizer).remove_columns(["sentence"])
    collate = DataCollatorWithPadding(tokenizer)
    speeds = [0.0, 0.3, 0.9]
    rows = speed_report(fastbert, data, collate, speeds, batch_sizes=(1, 8), timing_rows={1: 12}, repeats=1)
    assert [row["speed"] for row in rows] == [None, *speeds]

    batch = collate([{k: v for k, v in row.items() if k != "label"} for row in data])
    with torch.no_grad():
        layer_logits = fastbert(**batch, output_layer_logits=True).layer_logits
        backbone_logits = fastbert.backbone(**batch).logits
    labels = torch.tensor(data["label"])
    assert rows[0]["accuracy"] == pytest.approx((backbone_logits.argmax(-1) == labels).float().mean().item())
    assert rows[0]["avg_layers"] == 3 and rows[0]["relative_flops"] == 1.0
    assert rows[1]["avg_layers"] == 3 and rows[1]["relative_flops"] == pytest.approx(1.0)
    for row in rows[1:]:
        exits, logits = exit_rule(layer_logits, row["speed"])
        assert row["avg_layers"] == pytest.approx(exits.float().mean().item())
        assert row["layer_reduction"] == pytest.approx(3 / exits.float().mean().item())
        assert row["accuracy"] == pytest.approx((logits.argmax(-1) == labels).float().mean().item())
        assert row["exit_agreement_batch1"] == 1.0 and row["exit_agreement_batch8"] == 1.0
        assert row["timed_rows_batch1"] == 12 and row["timed_rows_batch8"] == 40
        assert row["speedup_batch1"] > 0 and row["seconds_batch8"] > 0
    assert rows[3]["avg_layers"] < 3  # the sharpened branches do exit some rows at speed 0.9
    assert rows[3]["relative_flops"] < 1
    assert rows[0]["speedup_batch1"] == 1.0
    text = format_report(rows)
    assert text.splitlines()[1].split()[0] == "full" and len(text.splitlines()) == 5


def test_plot_writes_a_png(fastbert, tokenizer, tmp_path):
    rows = [
        {"speed": None, "accuracy": 0.9, "avg_layers": 3, "layer_reduction": 1, "relative_flops": 1.0,
         "speedup_batch1": 1.0, "speedup_batch32": 1.0},
        {"speed": 0.5, "accuracy": 0.89, "avg_layers": 1.5, "layer_reduction": 2, "relative_flops": 0.5,
         "speedup_batch1": 1.8, "speedup_batch32": 1.5},
    ]  # fmt: skip
    path = plot_speed_curve(rows, str(tmp_path / "curve.png"))
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_write_speed_results_picks_the_best_qualifying_row(fastbert, tokenizer, tmp_path):
    data = tokenized(sentiment_dataset(24, seed=2), tokenizer).remove_columns(["sentence"])
    results = write_speed_results(
        fastbert, data, DataCollatorWithPadding(tokenizer), [0.0, 0.5, 1.0], str(tmp_path), batch_sizes=(8,)
    )
    assert results["speed_curve"] == str(tmp_path / "fastbert_speed_curve.png")
    assert (tmp_path / "fastbert_speed_curve.png").exists()
    rows, best = results["speed_table"], results["best_2x_within_1_point"]
    full = rows[0]["accuracy"]
    qualifying = [r for r in rows[1:] if r["layer_reduction"] >= 2 and r["accuracy"] >= full - 0.01]
    assert best == (max(qualifying, key=lambda r: r["layer_reduction"]) if qualifying else None)
    assert rows[3]["avg_layers"] == 1.0  # speed 1: U < 1 unless a branch is exactly uniform


def test_speed_report_bad_input(fastbert, tokenizer):
    data = tokenized(sentiment_dataset(4), tokenizer).remove_columns(["sentence"])
    collate = DataCollatorWithPadding(tokenizer)
    with pytest.raises(ValueError, match="speed=1.5"):
        speed_report(fastbert, data, collate, [0.2, 1.5])
    with pytest.raises(ValueError, match="at least one speed"):
        speed_report(fastbert, data, collate, [])
    with pytest.raises(ValueError, match="'labels' column"):
        speed_report(fastbert, data, collate, [0.2], label_column="labels")
