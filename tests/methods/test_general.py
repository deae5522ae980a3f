import random

import datasets
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, BertConfig, BertForMaskedLM, BertModel, TrainerCallback

from hf_distill.methods.general.corpus import pack_blocks
from hf_distill.methods.general.general_config import GENERAL_PRESETS, GeneralDistillationArguments
from hf_distill.methods.general.general_trainer import (
    GeneralDistillationTrainer,
    build_general_student,
    load_mlm_teacher,
)
from hf_distill.methods.general.masking import DynamicMaskingCollator, MaskingEpochCallback
from hf_distill.methods.general.progressive import ProgressiveTransferCallback
from tests.tiny import WORDS, quiet_args


def blocks(tokenizer, n=300, block_size=16):
    rng = random.Random(0)
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(3, 9))) for _ in range(n)]
    return pack_blocks(datasets.Dataset.from_dict({"text": lines}), tokenizer, block_size=block_size)


def teacher(tokenizer, head=False, layers=4):
    """A random teacher with peaked attention (large initial weights): informative attention/relation targets."""
    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=32, initializer_range=0.3,
    )  # fmt: skip
    return (BertForMaskedLM if head else BertModel)(config).eval()


def general_args(tmp_path, **overrides):
    return quiet_args(tmp_path, GeneralDistillationArguments, **{"logging_steps": 5, **overrides})


def make(tmp_path, tokenizer, preset, student=None, teacher_model=None, **overrides):
    head = GENERAL_PRESETS[preset].needs_mlm_head
    teacher_model = teacher_model if teacher_model is not None else teacher(tokenizer, head)
    if student is None:
        torch.manual_seed(0)
        width = 16 if preset in ("tinybert", "minilmv2") else 32  # a narrower student where the preset allows it
        student = build_general_student(teacher_model, "random", 2, width, 4, 64, head, attention_dropout=0.0)
    args = general_args(tmp_path, general_preset=preset, **overrides)
    collator = DynamicMaskingCollator(tokenizer, seed=0)
    return GeneralDistillationTrainer(
        model=student, args=args, train_dataset=blocks(tokenizer), data_collator=collator, teacher_model=teacher_model
    )


def objective(trainer, batch):
    """The full objective (every term) on a fixed batch, in eval mode."""
    trainer.model.eval()
    with torch.no_grad():
        value = trainer.compute_loss(trainer.model, dict(batch)).item()
    trainer.model.train()
    return value


def test_presets_expand_into_trainer_settings(tmp_path):
    tiny = general_args(tmp_path, general_preset="tinybert")
    assert (tiny.distill_preset, tiny.distill_phases) == ("tinybert", "intermediate")
    assert {term["loss"] for term in tiny.intermediate_terms} == {"embedding_mse", "hidden_mse", "attention_mse"}
    mini = general_args(tmp_path, general_preset="minilm")
    assert [(t["loss"], t["student_layer"], t["teacher_layer"]) for t in mini.intermediate_terms] == [
        ("attention_kl", -1, -1),
        ("value_relation", -1, -1),
    ]
    distil = general_args(tmp_path, general_preset="distilbert")
    assert distil.distill_phases == "joint" and distil.temperature == 2.0
    assert distil.alpha == pytest.approx(5 / 7) and distil.loss_scale == 7.0
    assert distil.intermediate_terms == [{"loss": "cosine", "student_layer": -1, "teacher_layer": -1, "weight": 1 / 7}]
    mobile = general_args(tmp_path, general_preset="mobilebert", progressive_stage_steps=3)
    assert mobile.distill_preset == "mobilebert" and mobile.ddp_find_unused_parameters is True
    # User settings win over the preset's.
    own = general_args(tmp_path, general_preset="minilmv2", intermediate_terms='[{"loss": "vv_relation"}]')
    assert own.intermediate_terms == [{"loss": "vv_relation"}]
    with pytest.raises(ValueError, match="progressive_stage_steps"):
        general_args(tmp_path, general_preset="mobilebert")
    with pytest.raises(ValueError, match="general_preset='bert'"):
        general_args(tmp_path, general_preset="bert")
    with pytest.raises(ValueError, match="DistilBERT weights"):
        general_args(tmp_path, general_preset="distilbert", alpha_ce=0.0, alpha_mlm=0.0)


def test_distilbert_objective_is_the_weighted_sum(tmp_path, tokenizer):
    trainer = make(tmp_path, tokenizer, "distilbert")
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(6)])
    student, teacher_model = trainer.model.eval(), trainer.teacher
    with torch.no_grad():
        loss = trainer.compute_loss(student, dict(batch)).item()
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
        s = student(**inputs, output_hidden_states=True)
        t = teacher_model(**inputs, output_hidden_states=True)
    # By hand (blocks are full, so per-example means over tokens are means over all tokens):
    kd = (4 * F.kl_div(F.log_softmax(s.logits / 2, -1), F.softmax(t.logits / 2, -1), reduction="none").sum(-1)).mean()
    labels = batch["labels"]
    per_token = F.cross_entropy(s.logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
    masked = labels.ne(-100).float()
    mlm = ((per_token * masked).sum(-1) / masked.sum(-1)).mean()
    cos = (1 - F.cosine_similarity(s.hidden_states[-1], t.hidden_states[-1], dim=-1)).mean()
    assert loss == pytest.approx((5 * kd + 2 * mlm + 1 * cos).item(), rel=1e-4)


@pytest.mark.parametrize("preset", ["distilbert", "tinybert", "minilm", "minilmv2", "mobilebert"])
def test_each_preset_trains_and_its_loss_falls(tmp_path, tokenizer, preset):
    extra = {"progressive_stage_steps": 0} if preset == "mobilebert" else {}  # progressive: its own test below
    trainer = make(tmp_path, tokenizer, preset, max_steps=40, **extra)
    batch = DynamicMaskingCollator(tokenizer, seed=1)([trainer.train_dataset[i] for i in range(16)])
    before = objective(trainer, batch)
    trainer.train()
    after = objective(trainer, batch)
    assert after < 0.8 * before, (preset, before, after)
    logged = [log for log in trainer.state.log_history if "loss" in log]
    names = {name for log in logged for name in log if name.endswith("_loss")}
    expected = {
        "distilbert": {"task_loss", "kd_loss", "cosine_loss"},
        "tinybert": {"embedding_mse_loss", "hidden_mse_loss", "attention_mse_loss"},
        "minilm": {"attention_kl_loss", "value_relation_loss"},
        "minilmv2": {"qq_relation_loss", "kk_relation_loss", "vv_relation_loss"},
        "mobilebert": {"hidden_mse_loss", "attention_kl_loss"},
    }[preset]
    assert names == expected
    assert any(isinstance(cb, MaskingEpochCallback) for cb in trainer.callback_handler.callbacks)


def test_student_is_saved_as_an_ordinary_model(tmp_path, tokenizer):
    trainer = make(tmp_path, tokenizer, "tinybert", max_steps=3)  # 16-wide student: projections to 32
    trainer.train()
    trainer.save_model(str(tmp_path / "student"))
    loaded, info = AutoModel.from_pretrained(str(tmp_path / "student"), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    ids = torch.tensor([trainer.train_dataset[0]["input_ids"]])
    with torch.no_grad():
        expected = trainer.model.eval()(input_ids=ids).last_hidden_state
        torch.testing.assert_close(loaded(input_ids=ids).last_hidden_state, expected)


def test_missing_mlm_head_is_a_clear_error(tmp_path, tokenizer):
    bare = teacher(tokenizer, head=False)
    with pytest.raises(ValueError, match="has no masked-LM head"):
        make(tmp_path, tokenizer, "distilbert", teacher_model=bare, student=BertForMaskedLM(bare.config))
    bare.save_pretrained(tmp_path / "bare")  # a checkpoint without head weights, like all-MiniLM-L6-v2
    with pytest.raises(ValueError, match=r"has no masked-LM head \(missing weights: cls\.predictions"):
        load_mlm_teacher(str(tmp_path / "bare"))
    with pytest.raises(ValueError, match="has no masked-LM head"):
        make(
            tmp_path,
            tokenizer,
            "distilbert",
            teacher_model=str(tmp_path / "bare"),
            student=BertForMaskedLM(bare.config),
        )
    with pytest.raises(ValueError, match="AutoModelForMaskedLM"):
        make(tmp_path, tokenizer, "distilbert", student=BertModel(bare.config))
    with pytest.raises(ValueError, match="has no masked-LM head"):
        build_general_student(bare, "random", 2, with_mlm_head=True)
    # A checkpoint with its head loads.
    teacher(tokenizer, head=True).save_pretrained(tmp_path / "mlm")
    assert isinstance(load_mlm_teacher(str(tmp_path / "mlm")), BertForMaskedLM)


def test_student_from_teacher_layers(tokenizer):
    source = teacher(tokenizer, head=True)
    student = build_general_student(source, "0,2", 2, with_mlm_head=False)
    assert type(student).__name__ == "BertModel" and student.config.num_hidden_layers == 2
    torch.testing.assert_close(
        student.encoder.layer[1].output.dense.weight, source.bert.encoder.layer[2].output.dense.weight
    )
    with pytest.raises(ValueError, match="keeps the teacher's hidden_size"):
        build_general_student(source, "every_other", 2, hidden_size=16)


class RecordTerms(TrainerCallback):
    def __init__(self, trainer):
        self.trainer, self.layers, self.frozen = trainer, [], []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.layers.append(sorted({t.student_layer for t in self.trainer.intermediate.terms}))
        self.frozen.append(not model.embeddings.word_embeddings.weight.requires_grad)


def test_progressive_stages_train_one_layer_at_a_time(tmp_path, tokenizer):
    trainer = make(tmp_path, tokenizer, "mobilebert", progressive_stage_steps=2, max_steps=6, logging_steps=1)
    recorder = RecordTerms(trainer)
    trainer.add_callback(recorder)
    start = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    # Stage 0: layer 1; stage 1: layer 2 (embeddings + layer 1 frozen); final stage: every layer's terms.
    assert recorder.layers == [[1], [1], [2], [2], [1, 2], [1, 2]]
    assert recorder.frozen == [False, False, True, True, False, False]
    stages = [log["progressive_stage"] for log in trainer.state.log_history if "loss" in log]
    assert stages == [0, 0, 1, 1, 2, 2]
    assert isinstance(trainer._progressive(), ProgressiveTransferCallback)
    assert not torch.equal(
        start["encoder.layer.1.output.dense.weight"], trainer.model.encoder.layer[1].output.dense.weight
    )


def test_progressive_needs_a_term_on_every_layer(tmp_path, tokenizer):
    trainer = make(
        tmp_path, tokenizer, "mobilebert", progressive_stage_steps=1, max_steps=3, layer_mapping="skip"
    )  # "skip" leaves the top student layer without a term
    with pytest.raises(ValueError, match="no intermediate term trains student layer 2"):
        trainer.train()


def test_general_preset_none_parses_on_the_command_line_as_help_says(tmp_path):
    from transformers import HfArgumentParser

    parser = HfArgumentParser(GeneralDistillationArguments)
    (args,) = parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--general_preset", "None"])
    assert args.general_preset is None and args.distill_preset is None
    (args,) = parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--general_preset", "minilm"])
    assert (args.general_preset, args.distill_preset, args.distill_phases) == ("minilm", "minilm", "intermediate")
    assert "{None,distilbert,tinybert,minilm,minilmv2,mobilebert}" in parser.format_help()
