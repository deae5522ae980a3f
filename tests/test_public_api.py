"""The names `from hf_distill import X` has always given keep working, wherever their module lives now."""

import importlib

import pytest

import hf_distill

PUBLIC_NAMES = [
    "add_teacher_logits", "albert_student", "AttentionCapture", "AugmentationConfig", "Augmenter", "BiLSTMConfig",
    "BiLSTMForSequenceClassification", "build_general_student", "cached_teacher_logits", "chain_distillation",
    "ChainStage", "compute_teacher_logits", "DistillationDataCollator", "DistillationTrainer",
    "DistillationTrainingArguments", "DynamicMaskingCollator", "encoder_layers", "export_successor", "FastBertConfig",
    "FastBertForSequenceClassification", "FastBertStageCallback", "GENERAL_PRESETS", "GeneralDistillationArguments",
    "GeneralDistillationTrainer", "get_task", "glue_metrics", "GLUE_TASKS", "GlueTask", "HubPushError",
    "init_embeddings_from_teacher", "IntermediateTerm", "load_glue", "load_text_corpus", "map_layers",
    "MaskingEpochCallback", "MetaDistilTrainer", "MetaDistilTrainingArguments", "narrow_student", "pack_blocks",
    "plot_speed_curve", "PRESETS", "ProgressiveTransferCallback", "push_student", "render_model_card",
    "ReplacementScheduler", "shallow_student", "speed_report", "TeacherCacheMismatchError", "theseus_model",
    "TheseusArguments", "__version__",
]  # fmt: skip


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_public_name_still_imports(name):
    namespace = {}
    exec(f"from hf_distill import {name}", namespace)
    assert namespace[name] is getattr(hf_distill, name)
    assert name in hf_distill.__all__


def test_all_lists_the_public_names_and_each_method_config():
    assert set(PUBLIC_NAMES) | {"FastBertArguments", "BiLSTMArguments", "GLUE_METRIC_PATH"} == set(hf_distill.__all__)


@pytest.mark.parametrize(
    "package",
    ["methods.theseus", "methods.fastbert", "methods.metadistil", "methods.bilstm", "methods.general", "hub"],
)
def test_each_subpackage_exports_what_its_all_lists(package):
    module = importlib.import_module(f"hf_distill.{package}")
    assert module.__all__ and all(getattr(module, name) is getattr(hf_distill, name) for name in module.__all__)
