import pytest
import torch
from transformers import AutoModel, BertConfig, BertModel

from hf_distill.methods.general.assistant import CHAIN_DONE_FILE, ChainStage, chain_distillation


def bert(layers, hidden, seed):
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=40,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
    )
    return BertModel(config)


class Recorder:
    """A distill function that nudges the student's weights (so each stage's output is distinct) and saves it."""

    def __init__(self):
        self.calls = []

    def __call__(self, teacher, student, output_dir, name):
        self.calls.append((name, teacher, student))
        with torch.no_grad():
            for parameter in student.parameters():
                parameter.add_(0.5)
        student.save_pretrained(output_dir)


def stages():
    return [
        ChainStage("assistant", lambda teacher: bert(3, 16, seed=1)),
        ChainStage("student", lambda teacher: bert(2, 8, seed=2)),
    ]


def test_teacher_assistant_student_chain(tmp_path):
    teacher = bert(4, 32, seed=0)
    distill = Recorder()
    folders = chain_distillation(teacher, stages(), distill, str(tmp_path))
    assert folders == [str(tmp_path / "assistant"), str(tmp_path / "student")]
    (first, first_teacher, assistant), (second, second_teacher, student) = distill.calls
    assert (first, second) == ("assistant", "student")
    assert first_teacher is teacher
    # The second distillation is taught by the assistant as saved to disk, not by the in-memory object.
    assert second_teacher is not assistant
    saved = AutoModel.from_pretrained(folders[0])
    for name, value in saved.state_dict().items():
        torch.testing.assert_close(second_teacher.state_dict()[name], value)
        torch.testing.assert_close(assistant.state_dict()[name], value)
    assert AutoModel.from_pretrained(folders[1]).config.hidden_size == 8


def test_finished_stages_are_not_run_again(tmp_path):
    teacher = bert(4, 32, seed=0)
    chain_distillation(teacher, stages(), Recorder(), str(tmp_path))
    (tmp_path / "student" / CHAIN_DONE_FILE).unlink()  # the run was cut during the second stage
    again = Recorder()
    chain_distillation(teacher, stages(), again, str(tmp_path))
    assert [call[0] for call in again.calls] == ["student"]


def test_bad_chains(tmp_path):
    teacher = bert(2, 16, seed=0)
    with pytest.raises(ValueError, match="at least one stage"):
        chain_distillation(teacher, [], Recorder(), str(tmp_path))
    same = [ChainStage("a", lambda t: bert(1, 8, 1)), ChainStage("a", lambda t: bert(1, 8, 2))]
    with pytest.raises(ValueError, match="distinct"):
        chain_distillation(teacher, same, Recorder(), str(tmp_path))
    with pytest.raises(ValueError, match="did not save the student"):
        chain_distillation(teacher, stages(), lambda *args: None, str(tmp_path))
