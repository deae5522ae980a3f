"""Where the real checkpoints and GLUE data live, and the skip markers for the ``slow`` tests that need them.

Checkpoints come from ``../shared/tools/get-models`` (directory in ``HF_DISTILL_MODELS``, default
``~/.cache/hf-distill-models``); the GLUE TSVs from ``../shared/data/glue``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

MODELS = Path(os.environ.get("HF_DISTILL_MODELS", Path.home() / ".cache" / "hf-distill-models"))
SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue" / "SST-2"


def needs_checkpoints(*names: str) -> pytest.MarkDecorator:
    """Skip unless every checkpoint in ``names`` (e.g. ``"minilm-l6"``, ``"mpnet-base"``) is in MODELS."""
    missing = [name for name in names if not (MODELS / name / "config.json").exists()]
    return pytest.mark.skipif(
        bool(missing), reason=f"real checkpoints {missing} missing: run ../shared/tools/get-models {MODELS}"
    )


def needs_sst2(split: str) -> pytest.MarkDecorator:
    """Skip unless ``SST-2/{split}.tsv`` is there."""
    return pytest.mark.skipif(not (SST2 / f"{split}.tsv").exists(), reason=f"GLUE data missing at {SST2}")


def sst2_rows(n: int, split: str) -> list[dict]:
    """The first ``n`` rows of ``SST-2/{split}.tsv`` as ``{"sentence": str, "label": int}``."""
    with open(SST2 / f"{split}.tsv", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [{"sentence": row["sentence"], "label": int(row["label"])} for _, row in zip(range(n), reader)]
