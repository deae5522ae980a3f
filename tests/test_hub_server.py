"""The local test Hub refuses README metadata the Hub refuses, so that the tests catch a bad card."""

import base64
import copy
import json
import urllib.error
import urllib.request
import uuid

import pytest
from huggingface_hub import HfApi, ModelCard

from hf_distill import render_model_card
from tests.hub.test_model_card import RESULTS
from tests.hub_server import TOKEN, USER

MODEL_INDEX = """model-index:
- name: student
  results:
  - task: {type: text-classification}
    dataset: {name: GLUE SST-2, type: nyu-mll/glue}
    metrics:
    - {type: accuracy, value: VALUE}
"""
BAD_METADATA = {  # the README's front matter -> what the Hub answers
    "not YAML": ("license: [apache-2.0\ntags: x", "Invalid YAML"),
    "made-up license": ("license: my-own-license", '"license" must be one of [apache-2.0, mit,'),
    "made-up license in a list": ("license: [mit, my-own-license]", '"license[1]" must be one of'),
    "invalid pipeline_tag": ("pipeline_tag: text-classifier", '"pipeline_tag" must be one of [biology,'),
    "text metric value": (MODEL_INDEX.replace("VALUE", "high"), '"model-index[0].results[0].metrics[0].value" must'),
    "model-index not a list": ("model-index: not correct", '"model-index" must be an array'),
    "results not a list": ("model-index:\n- name: x\n  results: 3", '"model-index[0].results" must be an array'),
    "metric not a mapping": (
        MODEL_INDEX.replace("- {type: accuracy, value: VALUE}", "- 0.9"),
        '"model-index[0].results[0].metrics[0]" must be of type object',
    ),
    "dataset without type": (MODEL_INDEX.replace(", type: nyu-mll/glue", ""), 'dataset.type" is required'),
    "key with a dot": ("tags: [x]\nmy.key: 1", 'You can\'t have a key with a "." or "$" character'),
}


def readme(metadata: str) -> str:
    return f"---\n{metadata}\n---\n\n# A model\n"


@pytest.fixture
def repo_id(hub):
    return HfApi().create_repo(f"{USER}/card-{uuid.uuid4().hex[:8]}").repo_id


def raw_commit(hub, repo_id: str, content: str) -> tuple[int, dict]:
    """A commit of README.md straight to the server, without the client's own validate-yaml call first."""
    encoded = base64.b64encode(content.encode()).decode()
    lines = [
        {"key": "header", "value": {"summary": "add card", "description": ""}},
        {"key": "file", "value": {"path": "README.md", "encoding": "base64", "content": encoded}},
    ]
    request = urllib.request.Request(
        f"{hub.url}/api/models/{repo_id}/commit/main",
        data="\n".join(json.dumps(line) for line in lines).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("case", list(BAD_METADATA))
def test_the_hub_refuses_bad_metadata(hub, repo_id, case):
    metadata, message = BAD_METADATA[case]
    status, answer = raw_commit(hub, repo_id, readme(metadata))
    assert status == 400 and answer["httpStatusCode"] == 400 and answer["warnings"] == []
    assert any(message in error["message"] and error["type"] == "error" for error in answer["errors"]), answer
    assert "README.md" not in hub.repo(repo_id).commit("main").files  # nothing was committed
    with pytest.raises(ValueError, match="Invalid metadata in README.md") as refused:  # what the client raises
        HfApi().upload_file(path_or_fileobj=readme(metadata).encode(), path_in_repo="README.md", repo_id=repo_id)
    assert message in str(refused.value)


def test_good_metadata_is_committed(hub, repo_id):
    metadata = "license: [mit, apache-2.0]\npipeline_tag: text-classification\n" + MODEL_INDEX.replace("VALUE", "0.9")
    assert raw_commit(hub, repo_id, readme(metadata))[0] == 200
    assert HfApi().model_info(repo_id).card_data.license == ["mit", "apache-2.0"]


def variants() -> dict[str, dict]:
    mnli = copy.deepcopy(RESULTS)
    mnli.update(task="mnli", eval_split="validation_matched")
    mnli["student"]["metrics_by_split"] = {"validation_matched": {"accuracy": 0.7}, "validation_mismatched": {"f1": 1}}
    regression = copy.deepcopy(RESULTS)
    regression.update(task="stsb", main_metric="pearson", license="cc-by-sa-4.0")
    regression["student"]["metrics"] = {"pearson": 0.81, "spearmanr": 0.8}
    del regression["student"]["metrics_by_split"]
    return {
        "pkd on sst2": RESULTS,
        "mnli, two splits": mnli,
        "stsb regression": regression,
        "without dataset": {"student": {"architecture": "BertForSequenceClassification", "metrics": {"f1": 0.5}}},
        "bare": {"student": {"parameters": 10}},
    }


@pytest.mark.parametrize("name", list(variants()))
def test_our_cards_pass_the_hub(hub, repo_id, name):
    card = render_model_card(variants()[name], repo_id=repo_id)
    card.validate()
    HfApi().upload_file(path_or_fileobj=str(card).encode(), path_in_repo="README.md", repo_id=repo_id)
    assert ModelCard.load(repo_id).data.to_dict() == card.data.to_dict()
