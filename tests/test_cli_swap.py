"""The two-edit swap: a run_glue.py-shaped script (tests/run_glue_example.py) distils once it imports hf_distill and
parses DistillationTrainingArguments / builds a DistillationTrainer; the teacher comes from
--teacher_model_name_or_path."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hf_distill import DistillationTrainer, DistillationTrainingArguments
from hf_distill.cache import add_teacher_logits
from tests.tiny import quiet_args, sentiment_dataset, tiny_bert, tokenized

EXAMPLE = Path(__file__).with_name("run_glue_example.py")
# The whole change, as a user would apply it: the import line, and the class name at its two uses. (Blank context
# lines are left empty, which git apply reads as GNU diff writes them.)
SWAP = """\
--- a/run_glue.py
+++ b/run_glue.py
@@ -23,6 +23,8 @@
     set_seed,
 )

+from hf_distill import DistillationTrainer, DistillationTrainingArguments
+

 @dataclass
 class ModelArguments:
@@ -38,7 +40,7 @@


 def main(argv: list[str] | None = None) -> dict[str, float]:
-    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments))
+    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, DistillationTrainingArguments))
     model_args, data_args, training_args = parser.parse_args_into_dataclasses(argv)
     set_seed(training_args.seed)

@@ -59,7 +61,7 @@
         logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
         return {"accuracy": float((np.argmax(logits, axis=1) == prediction.label_ids).mean())}

-    trainer = Trainer(
+    trainer = DistillationTrainer(
         model=model,
         args=training_args,
         train_dataset=tokenized["train"] if training_args.do_train else None,
"""


def save(model, tokenizer, folder: Path) -> Path:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def kd_loss_by_hand(student, teacher, tokenizer, sentences: list[str], temperature: float) -> float:
    """``T^2 * KL(softmax(z_t / T) || softmax(z_s / T))`` averaged over the rows."""
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        z_s, z_t = student(**batch).logits / temperature, teacher(**batch).logits / temperature
    kl = F.kl_div(F.log_softmax(z_s, -1), F.log_softmax(z_t, -1), log_target=True, reduction="none").sum(-1)
    return (temperature**2 * kl).mean().item()


def test_the_two_edit_diff_makes_the_example_distil(tmp_path, tokenizer, trained_teacher):
    shutil.copy(EXAMPLE, tmp_path / "run_glue.py")
    (tmp_path / "swap.diff").write_text(SWAP)
    subprocess.run(["git", "apply", "swap.diff"], cwd=tmp_path, check=True)
    student_dir = save(tiny_bert(tokenizer, seed=3), tokenizer, tmp_path / "student")
    teacher_dir = save(trained_teacher, tokenizer, tmp_path / "teacher")
    sentiment_dataset(32, seed=1).to_csv(tmp_path / "train.csv", index=False)
    dev = sentiment_dataset(16, seed=2)
    dev.to_csv(tmp_path / "dev.csv", index=False)
    out = tmp_path / "out"
    flags = ["--model_name_or_path", student_dir, "--teacher_model_name_or_path", teacher_dir]
    flags += ["--train_file", tmp_path / "train.csv", "--validation_file", tmp_path / "dev.csv", "--output_dir", out]
    flags += ["--do_train", "--do_eval", "--alpha", "1.0", "--temperature", "3.0", "--num_train_epochs", "2"]
    flags += ["--per_device_train_batch_size", "8", "--logging_steps", "1", "--learning_rate", "1e-3"]
    flags += ["--use_cpu", "--report_to", "none", "--save_strategy", "no", "--disable_tqdm", "true", "--seed", "0"]
    run = subprocess.run([sys.executable, "run_glue.py", *map(str, flags)], cwd=tmp_path, capture_output=True)
    assert run.returncode == 0, run.stderr.decode()[-3000:]

    train_logs = [log for log in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in log]
    assert len(train_logs) == 8  # 32 rows, batch 8, 2 epochs, a log per step
    for log in train_logs:  # alpha = 1: the objective is the distillation term alone
        assert log["loss"] == pytest.approx(log["kd_loss"], abs=1e-4) and log["kd_loss"] > 0
    evaluation = json.loads((out / "eval_results.json").read_text())
    student = AutoModelForSequenceClassification.from_pretrained(out).eval()
    saved_tokenizer = AutoTokenizer.from_pretrained(out)
    expected = kd_loss_by_hand(student, trained_teacher.eval(), saved_tokenizer, list(dev["sentence"]), 3.0)
    assert evaluation["eval_kd_loss"] == pytest.approx(expected, rel=1e-4)
    assert "eval_accuracy" in evaluation


def trainer_with(tmp_path, tokenizer, teacher_path=None, **kwargs):
    args = quiet_args(tmp_path / "out", teacher_model_name_or_path=teacher_path, max_steps=1)
    return DistillationTrainer(
        model=tiny_bert(tokenizer, seed=2),
        args=args,
        train_dataset=kwargs.pop(
            "train_dataset", tokenized(sentiment_dataset(8), tokenizer).remove_columns("sentence")
        ),
        processing_class=tokenizer,
        **kwargs,
    )


def test_the_path_loads_the_teacher_and_an_explicit_teacher_wins(tmp_path, tokenizer, trained_teacher):
    teacher_dir = save(trained_teacher, tokenizer, tmp_path / "teacher")
    trainer = trainer_with(tmp_path, tokenizer, str(teacher_dir))
    for name, value in trained_teacher.state_dict().items():
        torch.testing.assert_close(trainer.teacher.state_dict()[name], value)
    explicit = tiny_bert(tokenizer, seed=9, layers=1)
    missing = str(tmp_path / "no-such-teacher")  # never loaded: the explicit teacher wins
    assert trainer_with(tmp_path, tokenizer, missing, teacher_model=explicit).teacher is explicit
    with pytest.raises(ValueError, match="needs a teacher: pass teacher_model=.*or set teacher_model_name_or_path"):
        trainer_with(tmp_path, tokenizer)


def test_a_teacher_cache_needs_no_teacher_unless_terms_do(tmp_path, tokenizer):
    train = tokenized(sentiment_dataset(8), tokenizer).remove_columns("sentence")
    cached = add_teacher_logits(train, torch.zeros(8, 2))
    missing = str(tmp_path / "no-such-teacher")
    assert trainer_with(tmp_path, tokenizer, missing, train_dataset=cached).teacher is None  # the path is not loaded
    args = quiet_args(tmp_path / "out", teacher_model_name_or_path=missing, distill_preset="tinybert")
    with pytest.raises(ValueError, match="no-such-teacher"):  # the terms need the teacher: the path is loaded
        DistillationTrainer(model=tiny_bert(tokenizer), args=args, train_dataset=cached, processing_class=tokenizer)


def test_the_card_shows_no_teacher_path(tmp_path, tokenizer, trained_teacher):
    teacher_dir = save(trained_teacher, tokenizer, tmp_path / "fine-tuned-teacher")
    trainer = trainer_with(tmp_path, tokenizer, str(teacher_dir))
    trainer.train()
    trainer.create_model_card()
    card = (tmp_path / "out" / "README.md").read_text()
    assert str(tmp_path) not in card and "teacher_model_name_or_path" not in card
    assert "`fine-tuned-teacher` (a local checkpoint)" in card
    assert DistillationTrainingArguments(output_dir="o").teacher_model_name_or_path is None
