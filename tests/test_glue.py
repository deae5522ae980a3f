import math
import os
from pathlib import Path

import datasets
import numpy as np
import pytest

from hf_distill import glue
from hf_distill.glue import GLUE_TASKS, get_task, glue_metrics, load_glue

GLUE_DIR = Path(os.environ.get("HF_DISTILL_GLUE_DIR", Path(__file__).resolve().parents[2] / "shared/data/glue"))
needs_glue = pytest.mark.skipif(not (GLUE_DIR / "SST-2").is_dir(), reason=f"no GLUE TSVs in {GLUE_DIR}")


def test_task_table_covers_the_nine_tasks_with_their_metrics():
    assert sorted(GLUE_TASKS) == sorted(["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"])
    assert get_task("SST-2") is get_task("sst2") is get_task("Sst_2")
    assert get_task("STS-B").is_regression and get_task("stsb").num_labels == 1
    assert get_task("mnli").num_labels == 3 and get_task("mnli").main_eval_split == "validation_matched"
    assert get_task("cola").main_metric == "matthews_correlation"
    assert get_task("mrpc").main_metric == "combined_score"
    with pytest.raises(ValueError, match="task_name='sst3' is not a GLUE task; use one of cola, sst2"):
        get_task("sst3")


# ---- Metrics, against values worked out by hand ----

PREDICTIONS = np.array([1, 1, 0, 0, 1, 0, 1, 1])
LABELS = np.array([1, 0, 0, 1, 1, 0, 1, 0])
# TP = 3 (rows 0, 4, 6), FP = 2 (rows 1, 7), TN = 2 (rows 2, 5), FN = 1 (row 3).


def test_classification_metrics_by_hand():
    assert glue.accuracy(PREDICTIONS, LABELS) == 5 / 8
    assert glue.f1_score(PREDICTIONS, LABELS) == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    mcc = (3 * 2 - 2 * 1) / math.sqrt((3 + 2) * (3 + 1) * (2 + 2) * (2 + 1))
    assert glue.matthews_correlation(PREDICTIONS, LABELS) == pytest.approx(mcc)
    assert glue.matthews_correlation(np.ones(4), np.array([1, 0, 1, 0])) == 0.0  # undefined: one predicted class


def test_correlations_by_hand_including_ties():
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 4.0, 3.0])
    # Pearson: deviations x (-1.5, -.5, .5, 1.5), y (-.5, -1.5, 1.5, .5): sum xy = 4 * .75 = 3, sum x^2 = sum y^2 = 5
    assert glue.pearson(x, y) == pytest.approx(3 / 5)
    # Ties share the mean rank: [10, 20, 20, 30] -> ranks [1, 2.5, 2.5, 4]
    np.testing.assert_allclose(glue._ranks(np.array([10, 20, 20, 30])), [1, 2.5, 2.5, 4])
    # Spearman of y against [5, 7, 7, 9]: ranks (2, 1, 4, 3) vs (1, 2.5, 2.5, 4); deviations (-.5, -1.5, 1.5, .5)
    # and (-1.5, 0, 0, 1.5): sum = 1.5, norms sqrt(5) and sqrt(4.5)
    expected = 1.5 / math.sqrt(5 * 4.5)
    assert glue.spearman(y, np.array([5, 7, 7, 9])) == pytest.approx(expected)


def test_glue_metrics_take_logits_or_scores():
    logits = np.stack([1 - PREDICTIONS, PREDICTIONS], axis=1).astype(float)
    mrpc = glue_metrics("mrpc", logits, LABELS)
    assert mrpc["accuracy"] == 5 / 8 and mrpc["f1"] == pytest.approx(6 / 9)
    assert mrpc["combined_score"] == pytest.approx((5 / 8 + 6 / 9) / 2)
    assert set(glue_metrics("cola", logits, LABELS)) == {"matthews_correlation"}
    stsb = glue_metrics("stsb", np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([2.0, 1.0, 4.0, 3.0]))
    assert stsb["pearson"] == pytest.approx(0.6) and stsb["spearmanr"] == pytest.approx(0.6)


# ---- Loading local TSV folders ----


@needs_glue
def test_real_sst2_mrpc_rte_tsvs():
    sst2 = load_glue("sst2", GLUE_DIR)
    assert (len(sst2["train"]), len(sst2["validation"])) == (67349, 872)
    assert sst2["validation"][0] == {"sentence": "it 's a charming and often affecting journey . ", "label": 1}
    assert sst2["train"].features["label"].names == ["negative", "positive"]

    mrpc = load_glue("mrpc", GLUE_DIR, splits=["validation"])  # the file starts with a byte-order mark
    assert len(mrpc["validation"]) == 408 and mrpc["validation"].column_names == ["sentence1", "sentence2", "label"]
    assert mrpc["validation"][0]["label"] == 1 and mrpc["validation"][0]["sentence2"].startswith('"The foodservice')

    rte = load_glue("rte", GLUE_DIR, splits=["validation"])
    assert len(rte["validation"]) == 277
    assert rte["validation"][0]["label"] == 1  # "not_entailment" is id 1 on the Hub too


def write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def test_every_layout_of_the_glue_download(tmp_path):
    write(tmp_path / "CoLA/train.tsv", ["gj04\t1\t\tThe sailors rode the breeze .", "gj04\t0\t*\tThe more we ."])
    write(tmp_path / "CoLA/dev.tsv", ["gj04\t1\t\tHe left ."])
    head = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    write(tmp_path / "STS-B/train.tsv", [head, "0\tmain\tf\t2012\t1\tnone\tnone\tA plane.\tAn air plane.\t5.000"])
    write(tmp_path / "STS-B/dev.tsv", [head, "0\tmain\tf\t2012\t1\tnone\tnone\tA man.\tA dog.\t0.600"])
    head = "index\tpromptID\tpairID\tgenre\ts1bp\ts2bp\ts1p\ts2p\tsentence1\tsentence2\tlabel1\tgold_label"
    row = "0\t1\t1n\tgov\t-\t-\t-\t-\tA premise.\tA hypothesis.\t{0}\t{0}"
    write(tmp_path / "MNLI/train.tsv", [head, row.format("neutral"), row.format("contradiction")])
    write(tmp_path / "MNLI/dev_matched.tsv", [head, row.format("entailment")])
    write(tmp_path / "MNLI/dev_mismatched.tsv", [head, row.format("contradiction")])
    head = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"
    write(tmp_path / "QQP/train.tsv", [head, "0\t1\t2\tWhy?\tHow?\t0", "1\t3\t4\tbroken line", "2\t5\t6\tA?\tB?\t1"])
    write(tmp_path / "QQP/dev.tsv", [head, "0\t1\t2\tWhy?\tHow?\t1"])
    write(tmp_path / "QNLI/train.tsv", ["index\tquestion\tsentence\tlabel", "0\tWho?\tHim.\tnot_entailment"])
    write(tmp_path / "QNLI/dev.tsv", ["index\tquestion\tsentence\tlabel", "0\tWho?\tHim.\tentailment"])
    write(tmp_path / "WNLI/train.tsv", ["index\tsentence1\tsentence2\tlabel", "0\tA.\tB.\t1"])
    write(tmp_path / "WNLI/dev.tsv", ["index\tsentence1\tsentence2\tlabel", "0\tA.\tB.\t0"])

    cola = load_glue("cola", tmp_path)
    assert cola["train"][:] == {"sentence": ["The sailors rode the breeze .", "The more we ."], "label": [1, 0]}
    stsb = load_glue("stsb", tmp_path)
    assert stsb["train"][0]["label"] == pytest.approx(5.0) and stsb["validation"][0]["label"] == pytest.approx(0.6)
    assert isinstance(stsb["train"].features["label"], datasets.Value)
    mnli = load_glue("mnli", tmp_path)
    assert list(mnli) == ["train", "validation_matched", "validation_mismatched"]
    assert mnli["train"]["label"][:] == [1, 2] and mnli["validation_mismatched"][0]["label"] == 2
    assert mnli["train"].column_names == ["premise", "hypothesis", "label"]
    qqp = load_glue("qqp", tmp_path)
    assert qqp["train"]["question1"][:] == ["Why?", "A?"]  # the broken line is skipped, as the reference loaders do
    assert load_glue("qnli", tmp_path)["train"][0]["label"] == 1
    assert load_glue("wnli", tmp_path)["train"][0]["label"] == 1  # 1 = entailment in the TSVs and on the Hub


def test_missing_folders_files_and_bad_labels_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"GLUE folder .*SST-2 does not exist"):
        load_glue("sst2", tmp_path)
    write(tmp_path / "SST-2/train.tsv", ["sentence\tlabel", "good .\t1"])
    with pytest.raises(FileNotFoundError, match=r"GLUE file .*SST-2/dev.tsv does not exist"):
        load_glue("sst2", tmp_path)
    write(tmp_path / "SST-2/dev.tsv", ["sentence\tlabel", "good .\tpositive-ish"])
    with pytest.raises(ValueError, match=r"dev.tsv line 2: label 'positive-ish' is not one of negative, positive"):
        load_glue("sst2", tmp_path)
    write(tmp_path / "SST-2/dev.tsv", ["text\tlabel", "good .\t1"])
    with pytest.raises(ValueError, match="has no column sentence"):
        load_glue("sst2", tmp_path)
    with pytest.raises(ValueError, match="sst2 has no split 'test'"):
        load_glue("sst2", tmp_path, splits=["test"])


def test_hub_loading_keeps_the_task_columns(monkeypatch):
    calls = []

    def fake_load_dataset(name, config):
        calls.append((name, config))
        split = datasets.Dataset.from_dict({"premise": ["p"], "hypothesis": ["h"], "label": [2], "idx": [0]})
        return datasets.DatasetDict({"train": split, "validation_matched": split, "validation_mismatched": split})

    monkeypatch.setattr(glue.datasets, "load_dataset", fake_load_dataset)
    loaded = load_glue("MNLI")
    assert calls == [("nyu-mll/glue", "mnli")]
    assert list(loaded) == ["train", "validation_matched", "validation_mismatched"]
    assert loaded["train"].column_names == ["premise", "hypothesis", "label"]


def test_compute_metrics_fn_for_the_trainer():
    from transformers import EvalPrediction

    logits = np.stack([1 - PREDICTIONS, PREDICTIONS], axis=1).astype(float)
    metrics = glue.compute_metrics_fn("cola")(EvalPrediction(predictions=(logits,), label_ids=LABELS))
    assert metrics == {"matthews_correlation": pytest.approx(glue.matthews_correlation(PREDICTIONS, LABELS))}


@pytest.mark.parametrize("split", ["train", "dev"])
def test_an_empty_tsv_is_named(tmp_path, split):
    write(tmp_path / "SST-2/train.tsv", ["sentence\tlabel", "good .\t1"])
    write(tmp_path / "SST-2/dev.tsv", ["sentence\tlabel", "bad .\t0"])
    (tmp_path / f"SST-2/{split}.tsv").write_bytes(b"")
    with pytest.raises(ValueError, match=rf"GLUE file {tmp_path}/SST-2/{split}.tsv is empty: download it again"):
        load_glue("sst2", tmp_path)
    write(tmp_path / f"SST-2/{split}.tsv", ["sentence\tlabel"])
    with pytest.raises(ValueError, match=rf"GLUE file {tmp_path}/SST-2/{split}.tsv has no rows: download it again"):
        load_glue("sst2", tmp_path)
