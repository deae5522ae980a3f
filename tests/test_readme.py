"""The README's example runs, and its first code block holds the test command .ci/run runs (the argument table
moved to docs/arguments.md: tests/test_docs.py checks it)."""

import re
import subprocess
from pathlib import Path

from tests.tiny import sentiment_dataset, tiny_bert, tokenized

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


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


def test_readme_opens_with_the_test_command_ci_runs():
    """.ci/run's own extraction (its awk line, run on the README) gives the README's test command, line by line."""
    ci = (ROOT / ".ci" / "run").read_text()
    [extraction] = re.findall(r"^test_command=\$\((.*)\)$", ci, flags=re.M)
    command = subprocess.run(["bash", "-c", extraction], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert command.splitlines() == [
        "pip install torch==2.13.0",
        'pip install -e ".[dev]"',
        "../shared/tools/get-models",
        "python -m pytest -q",
    ]
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    assert "# Run the tests\n" + command in first_block
