"""The sizes of each suite. ``tiny`` is for the tests (self-made models, seconds); ``quick`` fits a 2-core CPU
in about 15 minutes; ``full`` is for a GPU (and a machine that can afford full GLUE training sets)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from .glue_data import TASKS
from .models import spec
from .rows import arg_sets

DEFAULT_MODELS_DIR = os.environ.get("HF_DISTILL_MODELS", str(Path.home() / ".cache" / "hf-distill-models"))

# Distilled BiLSTM as Tang et al. train it (recipes/configs/sst2_bilstm.yaml): logit MSE on the rows plus 4
# teacher-labelled augmented copies of each, lr 1e-3, batch 64. Its "student alone" is the same BiLSTM on the
# labelled rows only, cross-entropy (alpha 0), given as many optimizer steps (5 x the epochs on 1/5 of the rows).
_BILSTM_SHAPE = ["--learning_rate", "1e-3", "--per_device_train_batch_size", "64"]
BILSTM_RECIPE_ARGS = {
    "bilstm": [*_BILSTM_SHAPE, "--kd_loss_type", "mse", "--augment_copies", "4", "--augment_hard_labels", "true"],
    "bilstm@alone": [*_BILSTM_SHAPE, "--alpha", "0", "--epochs_scale", "5"],
}

# Recipe settings several suites share are declared once, in benchmarks/suites/common.yaml.
ARG_SETS = arg_sets()

# BERT-of-Theseus as recipes/configs/sst2_theseus_minilm.yaml runs it (common.yaml says why).
THESEUS_RECIPE_ARGS = {"theseus": ARG_SETS["theseus"]}

# DistillationTrainingArguments settings of the intermediate-layer presets (and variants ``preset@label``) beyond
# distill_preset itself. At the quick suite's 126 steps the unit weights swamp the task and KD terms (MobileBERT's
# attention KL starts near 4.6 against 0.7 for the task loss); these weights were chosen on 872 held-out train rows
# (eval_split "heldout", seed 0: student alone 0.812, logit KD 0.826, mobilebert 0.829, minilmv2 0.825, minilm
# 0.823, pkd-skip 0.829), never on dev. On dev they raised mobilebert, minilm and minilmv2 over the unit weights
# and lowered pkd (README "Results").
PRESET_ARGS: dict[str, dict[str, Any]] = {
    "pkd-skip": {"intermediate_weight": 10.0},
    "pkd-last": {"intermediate_weight": 10.0},
    "mobilebert": {"intermediate_weight": 0.1},
    "minilm": {"intermediate_weight": 0.1},
    "minilmv2": {"intermediate_weight": 0.1},
}

# TinyBERT task distillation with its data augmentation (common.yaml's tinybert_augmentation): the preset
# (intermediate terms alone for half the steps, then the prediction loss) on the rows plus 2 teacher-labelled copies
# of each. The other presets (with their weights above) on the same augmented rows, and logit KD on them as the
# control that separates what the intermediate terms add from what the teacher-labelled copies add.
_TINYBERT_AUGMENTATION = ARG_SETS["tinybert_augmentation"]
_AUGMENTED_PRESETS = ("tinybert", "mobilebert", "pkd-skip", "pkd-last", "minilm", "minilmv2")


def _augmented_preset_args(preset: str) -> list[str]:
    weight = PRESET_ARGS.get(preset, {}).get("intermediate_weight")
    weight_args = ["--intermediate_weight", str(weight)] if weight is not None else []
    return ["--distill_preset", preset, *weight_args, *_TINYBERT_AUGMENTATION]


AUGMENTED_PRESET_RECIPE_ARGS = {
    "logit@kd-da": list(_TINYBERT_AUGMENTATION),
    **{f"logit@{preset}-da": _augmented_preset_args(preset) for preset in _AUGMENTED_PRESETS},
}

# MetaDistil on the same augmented rows; its quiz (10%) is held out of the gold rows, their copies with them.
METADISTIL_RECIPE_ARGS = {"metadistil@da": list(_TINYBERT_AUGMENTATION)}

METHOD_RECIPE_ARGS = {
    **BILSTM_RECIPE_ARGS, **THESEUS_RECIPE_ARGS, **AUGMENTED_PRESET_RECIPE_ARGS, **METADISTIL_RECIPE_ARGS,
}  # fmt: skip

SUITES: dict[str, dict[str, Any]] = {
    "tiny": {
        # For the tests: one preset stands for all, and runs share this process (no interpreter start per run; the
        # fresh-process worker is tested on its own).
        "training": {
            "seq_len": 16, "batch": 4, "steps": 4, "warmup": 1, "rounds": 1, "presets": ["distilbert"],
            "isolated": False,
        },
        "seq_len_scaling": {"lengths": [8, 16], "batch": 4, "steps": 3, "warmup": 1, "rounds": 1},
        "inference": {
            "seq_len": 16, "latency_repeats": 3, "throughput_batch": 64, "throughput_repeats": 2, "rounds": 2,
            "fastbert": {
                "cases": ["4->2"], "train_rows": 64, "epochs": 1, "lr": 1e-3, "max_length": 32, "dev_rows": None,
                "speeds": [0.0, 0.3], "timing_rows_batch1": 16, "repeats": 1,
            },
        },
        "quality": {
            "tasks": ["SST-2"], "train_rows": 64, "dev_rows": None, "epochs": 1, "batch": 16, "lr": 1e-3,
            "max_length": 32, "presets": ["distilbert"], "seeds": [0], "eval_split": "dev", "heldout_rows": 872,
            "preset_args": {},
            "recipe_args": {"fastbert": ["--fastbert_backbone_epochs", "0.5"], **METHOD_RECIPE_ARGS},
        },
    },
    "quick": {
        "training": {"seq_len": 64, "batch": 32, "steps": 8, "warmup": 2, "rounds": 2, "presets": None},
        "seq_len_scaling": {"lengths": [64, 128, 256, 512], "batch": 8, "steps": 4, "warmup": 1, "rounds": 2},
        "inference": {
            "seq_len": 64, "latency_repeats": 10, "throughput_batch": 64, "throughput_repeats": 1, "rounds": 3,
            # FastBERT: branches self-distilled from the MiniLM teacher on 1000 unlabeled rows; full dev set.
            "fastbert": {
                "cases": ["6->3"], "train_rows": 1000, "epochs": 1, "lr": 1e-3, "max_length": 64, "dev_rows": None,
                "speeds": [0.0, 0.1, 0.3, 0.5], "timing_rows_batch1": 96, "repeats": 2,
            },
        },
        # Trained here: the 6->3 case on the standard protocol (2000 rows, 2 epochs, full dev), student alone and
        # logit KD only (the 12->6 student costs ~10 s a step on 2 CPU cores; 400 rows left every student at the
        # majority class); the other methods' protocol results come from their scripts through --reuse-quality,
        # or train them all here with --quality-methods all.
        "quality": {
            "tasks": ["SST-2"], "cases": ["6->3"], "methods": ["student_alone", "logit_kd"], "train_rows": 2000,
            "dev_rows": None, "epochs": 2, "batch": 32,
            "lr": 5e-5, "max_length": 64, "seeds": [0], "eval_split": "dev", "heldout_rows": 872,
            "preset_args": PRESET_ARGS,
            "recipe_args": {"fastbert": ["--fastbert_backbone_epochs", "1"], **METHOD_RECIPE_ARGS},
        },
    },
    "full": {
        # Both cases' step times. On the GPU, training.isolated=false runs them in one process (no interpreter start
        # per run; CUDA's peak memory is reset for each run).
        "training": {
            "seq_len": 128, "batch": 32, "steps": 60, "warmup": 10, "rounds": 5, "presets": None,
            "cases": ["6->3", "12->6"], "isolated": True,
        },
        "seq_len_scaling": {"lengths": [64, 128, 256, 512], "batch": 32, "steps": 30, "warmup": 5, "rounds": 3},
        "inference": {
            "seq_len": 128, "latency_repeats": 50, "throughput_batch": 64, "throughput_repeats": 10, "rounds": 5,
            "fastbert": {
                "cases": ["6->3", "12->6"], "train_rows": None, "epochs": 2, "lr": 1e-3, "max_length": 128,
                "dev_rows": None, "speeds": [0.0, 0.1, 0.2, 0.3, 0.5, 0.7], "timing_rows_batch1": None, "repeats": 3,
            },
        },
        "quality": {
            "tasks": ["SST-2", "MRPC", "RTE"], "train_rows": None, "dev_rows": None, "epochs": 3, "batch": 32,
            "lr": 5e-5, "max_length": 128, "finetune_missing_teachers": True, "seeds": [0, 1, 2],
            "eval_split": "dev", "heldout_rows": 872, "preset_args": PRESET_ARGS,
            "recipe_args": {"fastbert": ["--fastbert_backbone_epochs", "2"], **METHOD_RECIPE_ARGS},
        },
    },
}  # fmt: skip


def with_overrides(settings: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of ``settings`` with each ``SECTION.KEY=JSON`` override applied (the key must exist)."""
    settings = copy.deepcopy(settings)
    for override in overrides:
        path, _, value = override.partition("=")
        section, _, key = path.partition(".")
        if not value or section not in settings or key not in settings[section]:
            raise ValueError(
                f"--set {override!r}: expected SECTION.KEY=JSON with an existing key, e.g. training.rounds=1."
            )
        settings[section][key] = json.loads(value)
    return settings


def cases(suite: str, teachers_dir: str | None, models_dir: str, tiny_paths: dict[str, str] | None) -> list[dict]:
    """Teacher -> student cases. The student keeps every other layer of the teacher's pretrained checkpoint."""
    if suite == "tiny":
        assert tiny_paths is not None
        teacher = tiny_paths["teacher"]
        return [{"name": "4->2", "teacher": teacher, "teachers": {"SST-2": teacher}, "student": spec(teacher, [0, 2])}]
    found = []
    for name, family, source, layers in (
        ("6->3", "minilm", "minilm-l6", [0, 2, 4]),
        ("12->6", "mpnet", "mpnet-base", [0, 2, 4, 6, 8, 10]),
    ):
        # A fine-tuned teacher per task: TEACHERS_DIR/<family>-<task> (minilm-sst2, mpnet-mrpc, ...). The timing
        # sections need none: without the SST-2 teacher they time the pre-trained checkpoint (step and forward
        # times do not depend on the weights' values).
        teachers = {task: str(Path(teachers_dir) / f"{family}-{task.lower().replace('-', '')}") for task in TASKS}
        pretrained = str(Path(models_dir) / source)
        speed_teacher = teachers["SST-2"] if Path(teachers["SST-2"]).is_dir() else pretrained
        found.append({"name": name, "teacher": teachers["SST-2"], "teachers": teachers, "speed_teacher": speed_teacher,
                      "student": spec(pretrained, layers)})  # fmt: skip
    return found
