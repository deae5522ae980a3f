"""The README's example runs, and its argument table lists every distillation argument."""

import dataclasses
import re
from pathlib import Path

from transformers import TrainingArguments

from hf_distill import DistillationTrainingArguments
from tests.tiny import sentiment_dataset, tiny_bert, tokenized

README = (Path(__file__).parents[1] / "README.md").read_text()


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_swap_example_runs_on_tiny_models(tmp_path, tokenizer, trained_teacher, monkeypatch):
    example = next(block for block in python_blocks() if "DistillationTrainingArguments(" in block)
    student_dir, teacher_dir = tmp_path / "student", tmp_path / "teacher"
    tiny_bert(tokenizer, seed=3).save_pretrained(student_dir)
    tokenizer.save_pretrained(student_dir)
    trained_teacher.save_pretrained(teacher_dir)
    example = example.replace('"student-checkpoint"', repr(str(student_dir)))
    example = example.replace('"fine-tuned-teacher-checkpoint"', repr(str(teacher_dir)))
    monkeypatch.chdir(tmp_path)
    namespace = {
        "train": tokenized(sentiment_dataset(32, seed=1), tokenizer).remove_columns("sentence"),
        "dev": tokenized(sentiment_dataset(16, seed=2), tokenizer).remove_columns("sentence"),
    }
    exec(compile(example, "README.md", "exec"), namespace)
    trainer = namespace["trainer"]
    assert trainer.state.global_step == 12  # 32 rows, batch 8, 3 epochs
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert any("eval_kd_loss" in log for log in trainer.state.log_history)


def test_argument_table_lists_every_distillation_argument():
    inherited = {f.name for f in dataclasses.fields(TrainingArguments)}
    own = [f.name for f in dataclasses.fields(DistillationTrainingArguments) if f.name not in inherited]
    table_rows = set(re.findall(r"^\| `(\w+)` \|", README, flags=re.M))
    assert own and set(own) <= table_rows, sorted(set(own) - table_rows)


def test_readme_opens_with_the_test_command_ci_runs():
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert "# Run the tests" in ci
    command = README.split("# Run the tests\n", 1)[1].splitlines()[0]
    assert command.startswith('pip install torch==2.13.0 && pip install -e ".[dev]"')
    assert command.endswith("python -m pytest -q")
