"""Students built from teachers: copied layers, fixed configs, and a save/load round trip with the same logits."""

import pytest
import torch
from transformers import AutoModelForSequenceClassification, BertConfig

from hf_distill.layers import encoder_layers
from hf_distill.methods.students import albert_student, count_parameters, narrow_student, shallow_student
from tests.tiny import ARCHITECTURES, tiny_encoder

IDS = torch.tensor([[2, 7, 9, 11, 3, 1], [2, 8, 3, 1, 1, 1]])
MASK = (IDS != 1).long()


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def round_trip_logits_match(model, path):
    model.eval()
    model.save_pretrained(path)
    loaded = AutoModelForSequenceClassification.from_pretrained(path).eval()
    assert type(loaded) is type(model)
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=IDS, attention_mask=MASK).logits, model(IDS, MASK).logits)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize(
    ("layers", "num_layers", "kept"),
    [("every_other", None, [0, 2]), ("first_k", 3, [0, 1, 2]), ([3, 1], None, [3, 1])],
)
def test_shallow_student_keeps_the_chosen_teacher_layers(tmp_path, arch, layers, num_layers, kept):
    teacher = tiny_encoder(arch, layers=4, seed=3)
    student = shallow_student(teacher, layers, num_layers=num_layers)
    assert type(student) is type(teacher)
    assert student.config.num_hidden_layers == len(kept) == len(encoder_layers(student))
    assert teacher.config.num_hidden_layers == 4  # the teacher's config is untouched
    for position, index in enumerate(kept):
        assert same_weights(encoder_layers(student)[position], encoder_layers(teacher)[index])
    student_state, teacher_state = student.state_dict(), teacher.state_dict()
    copied = [key for key in student_state if "layer." not in key]
    assert any("embeddings" in key for key in copied) and any("classifier" in key for key in copied)
    for key in copied:
        torch.testing.assert_close(student_state[key], teacher_state[key], msg=key)
    round_trip_logits_match(student, tmp_path / "student")


def test_shallow_student_config_overrides_and_bad_input():
    teacher = tiny_encoder("bert", layers=4)
    student = shallow_student(teacher, "every_other", num_labels=3, hidden_dropout_prob=0.3)
    assert student.config.num_labels == 3 and student.classifier.out_features == 3
    assert student.config.hidden_dropout_prob == 0.3 and len(student.config.id2label) == 3
    with pytest.raises(ValueError, match="needs num_layers=k"):
        shallow_student(teacher, "first_k")
    with pytest.raises(ValueError, match=r"Teacher layers \[4\] do not exist: the teacher has 4 layers"):
        shallow_student(teacher, [0, 4])
    with pytest.raises(ValueError, match="layers='middle' is not one of every_other, first_k"):
        shallow_student(teacher, "middle")


def test_narrow_student_tinybert4_shape(tmp_path):
    bert_base = BertConfig(num_labels=2)
    student = narrow_student(bert_base, num_layers=4, hidden_size=312, intermediate_size=1200, num_heads=12)
    config = student.config
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (4, 312, 1200)
    assert (config.num_attention_heads, config.vocab_size, config.num_labels) == (12, 30522, 2)
    assert count_parameters(student) / 1e6 == pytest.approx(14.5, abs=0.2)  # TinyBERT-4 (Jiao et al., 2020)
    round_trip_logits_match(narrow_student(tiny_encoder("mpnet").config, 2, 24, 48, 4), tmp_path / "mpnet")
    distil = narrow_student(tiny_encoder("distilbert").config, 2, 24, 40, 4, num_labels=5)
    assert (distil.config.dim, distil.config.hidden_dim, distil.config.num_labels) == (24, 40, 5)
    with pytest.raises(ValueError, match="hidden_size=30 is not divisible by num_heads=4"):
        narrow_student(bert_base, 2, 30, 64, 4)


def test_albert_student_shares_layers_and_reads_the_teachers_ids(tmp_path):
    teacher = tiny_encoder("bert", hidden=64)
    student = albert_student(
        teacher.config, num_layers=4, hidden_size=32, embedding_size=8, intermediate_size=64, num_heads=4
    )
    assert student.config.model_type == "albert" and student.config.vocab_size == teacher.config.vocab_size
    assert student.get_input_embeddings().weight.shape == (40, 8)  # factorised: vocab x embedding_size
    four_groups = albert_student(teacher.config, 4, 32, 8, 64, 4, num_hidden_groups=4)
    assert count_parameters(four_groups) > count_parameters(student)
    round_trip_logits_match(student, tmp_path / "albert")
