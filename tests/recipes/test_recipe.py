"""recipes/run_glue_distill.py end to end: tiny models saved to tmp, a few dozen rows of the real SST-2 TSVs."""

import csv
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertModel, BertTokenizerFast

from hf_distill.glue import glue_metrics, load_glue
from tests.real import MODELS, needs_checkpoints

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "run_glue_distill.py"
GLUE_DIR = Path(os.environ.get("HF_DISTILL_GLUE_DIR", ROOT.parent / "shared/data/glue"))
pytestmark = pytest.mark.skipif(not (GLUE_DIR / "SST-2").is_dir(), reason=f"no GLUE TSVs in {GLUE_DIR}")

TRAIN_ROWS, EVAL_ROWS = 40, 32
RESULT_KEYS = {
    "task", "stage", "eval_split", "main_metric", "distill_method", "teacher", "student", "retention",
    "compression_ratio", "inference_speedup", "inference", "train", "teacher_cache", "trained_from_teacher_logits",
    "num_processes", "device", "machine", "hardware", "versions", "config", "command",
}  # fmt: skip


def recipe_main(argv: list[str]) -> int:
    from recipes import run_glue_distill

    return run_glue_distill.main([str(arg) for arg in argv])


def sst2_words() -> list[str]:
    words = set()
    for split, rows in (("train", 300), ("dev", EVAL_ROWS)):
        with open(GLUE_DIR / "SST-2" / f"{split}.tsv", newline="") as handle:
            for index, row in enumerate(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)):
                if index >= rows:
                    break
                words.update(row["sentence"].split())
    return sorted(words)


def save_pretrained_tiny(folder: Path, layers: int, seed: int, shifted: bool = False) -> Path:
    """A tiny pre-trained BERT without task head, and a word-level tokenizer over the rows the tests read."""
    vocab = (["<s>", "</s>", "<x1>", "<x2>"] if shifted else []) + ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += sst2_words()
    tokenizer = BertTokenizerFast(vocab={word: i for i, word in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def common_flags(output_dir: Path) -> list:
    return [
        "--task_name", "sst2", "--glue_dir", GLUE_DIR, "--output_dir", output_dir, "--max_train_samples", TRAIN_ROWS,
        "--max_eval_samples", EVAL_ROWS, "--max_seq_length", 32, "--per_device_train_batch_size", 8,
        "--per_device_eval_batch_size", 16, "--learning_rate", 2e-3, "--num_train_epochs", 2, "--use_cpu", "true",
        "--report_to", "none", "--save_strategy", "no", "--disable_tqdm", "true", "--seed", 0,
        "--inference_repeats", 1,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    folders = {
        "pretrained_teacher": save_pretrained_tiny(root / "pretrained-teacher", layers=3, seed=1),
        "pretrained_student": save_pretrained_tiny(root / "pretrained-student", layers=1, seed=2),
        "shifted_student": save_pretrained_tiny(root / "shifted-student", layers=1, seed=3, shifted=True),
    }
    teacher = root / "teacher"
    flags = common_flags(teacher) + ["--stage", "teacher", "--teacher_model_name_or_path"]
    assert recipe_main(flags + [folders["pretrained_teacher"], "--num_train_epochs", 4]) == 0
    folders["teacher"] = teacher
    return folders


def dev_accuracy(folder: Path) -> float:
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    dev = load_glue("sst2", GLUE_DIR, splits=["validation"])["validation"].select(range(EVAL_ROWS))
    with torch.no_grad():
        batch = tokenizer(dev["sentence"][:], truncation=True, max_length=32, padding=True, return_tensors="pt")
        logits = model(**batch).logits.numpy()
    return glue_metrics("sst2", logits, np.array(dev["label"][:]))["accuracy"]


def read_results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def test_teacher_stage_fine_tunes_and_saves_a_task_teacher(models):
    results = read_results(models["teacher"])
    assert results["stage"] == "teacher" and results["task"] == "sst2"
    assert results["teacher"]["fine_tuned_from"] == str(models["pretrained_teacher"])
    assert results["train"]["train_rows"] == TRAIN_ROWS and results["train"]["global_step"] == 4 * TRAIN_ROWS // 8
    teacher = AutoModelForSequenceClassification.from_pretrained(models["teacher"])
    assert teacher.config.id2label == {0: "negative", 1: "positive"}
    assert results["teacher"]["parameters"] == sum(p.numel() for p in teacher.parameters())
    assert results["teacher"]["metrics"]["accuracy"] == pytest.approx(dev_accuracy(models["teacher"]))


def check_distill_results(results: dict, output_dir: Path, models: dict, train_rows: int, processes: int = 1) -> None:
    assert set(results) == RESULT_KEYS
    assert (
        results["stage"] == "distill"
        and results["distill_method"] == "logit"
        and results["eval_split"] == "validation"
    )
    teacher, student = results["teacher"], results["student"]
    assert teacher["name_or_path"] == str(models["teacher"])
    assert teacher["metrics"] == read_results(models["teacher"])["teacher"]["metrics"]
    assert student["metrics"]["accuracy"] == pytest.approx(dev_accuracy(output_dir))  # the saved student
    assert student["metrics_by_split"] == {"validation": student["metrics"]}
    assert results["retention"]["accuracy"] == pytest.approx(
        student["metrics"]["accuracy"] / teacher["metrics"]["accuracy"]
    )
    saved = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert student["parameters"] == sum(p.numel() for p in saved.parameters())
    assert results["compression_ratio"] == pytest.approx(teacher["parameters"] / student["parameters"])
    assert teacher["inference_seconds"] > 0 and student["inference_seconds"] > 0
    assert results["inference_speedup"] == pytest.approx(teacher["inference_seconds"] / student["inference_seconds"])
    assert results["inference"]["examples"] == EVAL_ROWS
    train = results["train"]
    assert train["train_rows"] == train_rows and train["global_step"] == 2 * -(-train_rows // (8 * processes))
    assert train["runtime_seconds"] > 0 and train["samples_per_second"] > 0 and train["steps_per_second"] > 0
    assert np.isfinite(train["train_loss"])
    assert results["config"]["training"]["output_dir"] == str(output_dir)
    assert results["versions"]["hf_distill"] and results["device"].startswith("cpu")


def test_distill_from_a_yaml_config_with_command_line_overrides_and_the_teacher_cache(tmp_path, models):
    config = {
        "teacher_model_name_or_path": str(models["teacher"]),
        "student_model_name_or_path": str(models["pretrained_student"]),
        "alpha": 0.7,
        "temperature": 4.0,
        "max_train_samples": 16,
        "teacher_cache_dir": str(tmp_path / "cache"),
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    flags = ["--config", tmp_path / "config.yaml", *common_flags(out), "--temperature", 3]  # both flags win
    assert recipe_main(flags) == 0
    results = read_results(out)
    check_distill_results(results, out, models, train_rows=TRAIN_ROWS)
    assert results["config"]["config_file"] == str(tmp_path / "config.yaml")
    assert results["config"]["training"]["temperature"] == 3.0 and results["config"]["training"]["alpha"] == 0.7
    assert results["config"]["data"]["max_train_samples"] == TRAIN_ROWS
    assert results["trained_from_teacher_logits"] and results["num_processes"] == 1
    assert results["teacher_cache"]["hit"] is False and Path(results["teacher_cache"]["path"]).is_file()

    again = tmp_path / "again"
    assert recipe_main(["--config", tmp_path / "config.yaml", *common_flags(again), "--temperature", 3]) == 0
    rerun = read_results(again)
    assert rerun["teacher_cache"]["hit"] is True
    assert rerun["student"]["metrics"] == results["student"]["metrics"]  # the same training, from the same logits
    assert rerun["train"]["train_loss"] == pytest.approx(results["train"]["train_loss"], rel=1e-6)


def test_student_with_its_own_tokenizer_and_the_teacher_on_the_fly(tmp_path, models):
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"]]
    assert recipe_main(flags + ["--student_model_name_or_path", models["shifted_student"]]) == 0
    results = read_results(out)
    check_distill_results(results, out, models, train_rows=TRAIN_ROWS)
    assert results["teacher_cache"] is None and not results["trained_from_teacher_logits"]
    assert AutoTokenizer.from_pretrained(out).convert_tokens_to_ids("[PAD]") == 4  # the student's tokenizer saved


def test_augmented_copies_are_labelled_by_the_teacher_with_tensorboard_logs(tmp_path, models):
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--augment_copies", 2]
    flags += ["--report_to", "tensorboard", "--logging_steps", 2]
    assert recipe_main(flags + ["--student_model_name_or_path", models["pretrained_student"]]) == 0
    results = read_results(out)
    check_distill_results(results, out, models, train_rows=3 * TRAIN_ROWS)
    assert results["train"]["augmented_rows"] == 2 * TRAIN_ROWS and results["trained_from_teacher_logits"]
    assert list((out / "runs").rglob("events.out.tfevents.*"))


def test_student_built_from_teacher_layers(tmp_path, models):
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--student_layers", "0,2"]
    assert recipe_main(flags) == 0
    results = read_results(out)
    check_distill_results(results, out, models, train_rows=TRAIN_ROWS)
    assert results["student"]["num_layers"] == 2 and results["student"]["layers"] == "0,2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_under_accelerate_launch(tmp_path, models):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()), str(RECIPE)]
    command += [*common_flags(out), "--teacher_model_name_or_path", models["teacher"]]
    command += ["--student_model_name_or_path", models["pretrained_student"], "--teacher_cache_dir", tmp_path / "c"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.update(CUDA_VISIBLE_DEVICES="", ACCELERATE_USE_CPU="true")  # two gloo processes on the CPU
    completed = subprocess.run([str(c) for c in command], env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = read_results(out)
    assert results["num_processes"] == 2
    check_distill_results(results, out, models, train_rows=TRAIN_ROWS, processes=2)  # 2 x 8 rows a step
    assert results["teacher_cache"]["hit"] is False and results["trained_from_teacher_logits"]


# ---- Bad input: one line on stderr, exit code 1, no results.json ----


def run_bad(capsys, output_dir: Path, flags: list) -> str:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text("{}")  # an older run's: must not pass for this one's
    assert recipe_main(flags) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("run_glue_distill.py: error: ")
    return error


def test_bad_input_stops_with_one_line(tmp_path, models, capsys):
    out = tmp_path / "out"
    base = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"]]
    base += ["--student_model_name_or_path", models["pretrained_student"]]

    assert "task_name='sst3' is not a GLUE task" in run_bad(capsys, out, base + ["--task_name", "sst3"])
    error = run_bad(capsys, out, base + ["--glue_dir", tmp_path / "nowhere"])
    assert f"GLUE folder {tmp_path / 'nowhere' / 'SST-2'} does not exist" in error
    (tmp_path / "partial" / "SST-2").mkdir(parents=True)
    (tmp_path / "partial" / "SST-2" / "train.tsv").write_text("sentence\tlabel\ngood .\t1\n")
    error = run_bad(capsys, out, base + ["--glue_dir", tmp_path / "partial"])
    assert f"GLUE file {tmp_path / 'partial' / 'SST-2' / 'dev.tsv'} does not exist" in error
    assert not (out / "results.json").exists()

    (tmp_path / "bad.yaml").write_text("temprature: 2.0\nalpha: 0.5\n")
    error = run_bad(capsys, out, ["--config", tmp_path / "bad.yaml", *base])
    assert "unknown key(s) temprature" in error

    error = run_bad(capsys, out, [*base, "--teacher_model_name_or_path", models["pretrained_teacher"]])
    assert "has no trained classification head" in error and "--stage teacher" in error
    error = run_bad(capsys, out, [*base, "--task_name", "mrpc", "--max_eval_samples", 8])
    assert "predicts 2 label(s) (negative, positive) but mrpc needs not_equivalent, equivalent" in error
    assert not (out / "results.json").exists()


def test_a_cache_of_another_teacher_is_refused(tmp_path, models, capsys):
    cache = ["--teacher_cache_dir", tmp_path / "cache", "--student_model_name_or_path", models["pretrained_student"]]
    first = [*common_flags(tmp_path / "first"), "--teacher_model_name_or_path", models["teacher"], *cache]
    assert recipe_main(first) == 0
    other_teacher = tmp_path / "other-teacher"
    model = AutoModelForSequenceClassification.from_pretrained(models["teacher"])
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    model.save_pretrained(other_teacher)
    AutoTokenizer.from_pretrained(models["teacher"]).save_pretrained(other_teacher)
    error = run_bad(capsys, tmp_path / "second", [*common_flags(tmp_path / "second"), *cache,
                                                   "--teacher_model_name_or_path", other_teacher])  # fmt: skip
    assert "was computed for other teacher weights than this run's" in error and "--overwrite_teacher_cache" in error


def test_exit_code_and_single_line_from_the_command_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("task_name: sst2\nteacher_model_name_or_path: x\nnot_a_flag: 1\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(RECIPE), "--config", str(tmp_path / "bad.yaml"), "--output_dir", str(tmp_path)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        f"run_glue_distill.py: error: config file {tmp_path / 'bad.yaml'}: unknown key(s) not_a_flag; keys are this "
        "recipe's flags without '--' (see --help)."
    ]
    assert not (tmp_path / "results.json").exists()


def test_every_shipped_config_parses():
    from hf_distill.recipes.arguments import parse_arguments

    for config in sorted((ROOT / "recipes" / "configs").glob("*.yaml")):
        if config.name.startswith("general_"):
            continue  # run_general_distill.py's configs: test_general_configs_parse
        model_args, data_args, training_args, _, _ = parse_arguments(["--config", str(config)])
        assert training_args.output_dir.startswith("outputs/"), config
        assert "~" not in training_args.teacher_model_name_or_path, config


def test_general_configs_parse():
    from recipes.run_general_distill import parse_arguments as parse_general_arguments

    configs = sorted((ROOT / "recipes" / "configs").glob("general_*.yaml"))
    assert configs
    for config in configs:
        corpus_args, student_args, distill_args = parse_general_arguments(["--config", str(config)])
        assert distill_args.general_preset, config


@pytest.mark.slow
@needs_checkpoints("minilm-l6")
def test_real_minilm_teacher_stage_then_shipped_distill_config(tmp_path):
    """The shipped configs on the real all-MiniLM-L6-v2, shrunk to 64 rows: teacher stage, then logit KD into
    layers 0, 2, 4 of the pre-trained checkpoint, from the teacher cache."""
    small = ["--max_train_samples", 64, "--max_eval_samples", 64, "--disable_tqdm", "true", "--num_train_epochs", 1]
    small += ["--glue_dir", GLUE_DIR, "--use_cpu", "true", "--teacher_model_name_or_path"]
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    config = ROOT / "recipes" / "configs"
    teacher_flags = ["--config", config / "sst2_teacher_minilm.yaml", *small, MODELS / "minilm-l6"]
    assert recipe_main([*teacher_flags, "--output_dir", teacher]) == 0
    distill_flags = ["--config", config / "sst2_logit_minilm.yaml", *small, teacher]
    distill_flags += ["--student_model_name_or_path", MODELS / "minilm-l6", "--teacher_cache_dir", tmp_path / "c"]
    assert recipe_main([*distill_flags, "--output_dir", student]) == 0
    results = read_results(student)
    assert set(results) == RESULT_KEYS and results["student"]["num_layers"] == 3
    assert results["compression_ratio"] > 1.3 and results["inference_speedup"] > 1.2  # 6 -> 3 layers
    assert results["trained_from_teacher_logits"] and results["teacher_cache"]["hit"] is False


# ---- Reliability: every failure is one line and exit code 1, nothing corrupt trains, runs resume ----


def test_more_bad_input_stops_with_one_line_before_anything_is_loaded(tmp_path, models, capsys):
    out = tmp_path / "out"
    base = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"]]
    base += ["--student_model_name_or_path", models["pretrained_student"]]

    for split in ("train", "dev"):
        glue = tmp_path / f"empty-{split}" / "SST-2"
        glue.mkdir(parents=True)
        for name in ("train", "dev"):
            (glue / f"{name}.tsv").write_text("sentence\tlabel\ngood .\t1\n" if name != split else "")
        error = run_bad(capsys, out, base + ["--glue_dir", glue.parent])
        assert error.endswith(
            f"GLUE file {glue / f'{split}.tsv'} is empty: download it again (it needs a header and rows)."
        )
        assert not (out / "results.json").exists()

    for line, expected in [
        ("temperature: [2, 3]", "temperature: [2, 3] is not a number."),
        ("alpha: {value: 0.5}", "alpha: {'value': 0.5} is not a number."),
        ("max_steps: four", "max_steps: 'four' is not an integer."),
        ("temperature: null", "temperature: null is not a number."),
        ("kd_loss_type: cosine", "kd_loss_type: 'cosine' is not one of kl, ce, mse."),
        ("fp16: maybe", "fp16: 'maybe' is not true or false."),
    ]:
        (tmp_path / "bad.yaml").write_text(line + "\n")
        error = run_bad(capsys, out, ["--config", tmp_path / "bad.yaml", *base])
        assert error == f"run_glue_distill.py: error: config file {tmp_path / 'bad.yaml'}: {expected}"
        assert not (out / "results.json").exists()  # removed though parsing failed

    error = run_bad(capsys, out, [*base, "--max_steps", "four"])
    assert (
        error == "run_glue_distill.py: error: argument --max_steps/--max-steps: invalid int value: 'four' (see --help)"
    )
    error = run_bad(capsys, out, [*base, "--learning_rat", "1"])
    assert error == (
        "run_glue_distill.py: error: unknown argument(s) --learning_rat 1 (did you mean --learning_rate?); see --help "
        "for the flags."
    )
    missing = tmp_path / "no-such-teacher"
    error = run_bad(capsys, out, [*base, "--teacher_model_name_or_path", missing])
    assert error.endswith(f"teacher_model_name_or_path='{missing}': the path does not exist (and it is no Hub id such "
                          "as 'namespace/name'); check it.")  # fmt: skip
    error = run_bad(capsys, out, [*base, "--teacher_tokenizer_name", models["shifted_student"]])
    vocab = len(AutoTokenizer.from_pretrained(models["teacher"]))
    assert error.endswith(
        f"The teacher's tokenizer '{models['shifted_student']}' has token ids up to {vocab + 3}, but the teacher "
        f"embeds only {vocab} ids: it is another model's tokenizer; leave --teacher_tokenizer_name unset (the "
        "teacher's own) or point it at the tokenizer the teacher was trained with."
    )
    assert not (out / "results.json").exists()


def test_a_damaged_teacher_cache_is_refused_by_the_recipe(tmp_path, models, capsys):
    cache = ["--teacher_cache_dir", tmp_path / "cache", "--student_model_name_or_path", models["pretrained_student"]]
    first = [*common_flags(tmp_path / "first"), "--teacher_model_name_or_path", models["teacher"], *cache]
    assert recipe_main(first) == 0
    path = tmp_path / "cache" / "sst2-train.safetensors"
    path.write_bytes(path.read_bytes()[:-8] + b"\xff" * 8)
    error = run_bad(capsys, tmp_path / "second", [*first[: -len(cache)], *cache, "--output_dir", tmp_path / "second"])
    assert error == (
        f"run_glue_distill.py: error: Teacher cache {path} is damaged: its logits are not the ones written (sha256 "
        "mismatch) or not finite: delete it or recompute it with --overwrite_teacher_cache (overwrite=True)."
    )


@pytest.mark.parametrize("stage", ["teacher", "distill"])
def test_a_diverging_run_stops_with_one_line_and_saves_nothing(tmp_path, models, capsys, stage):
    out = tmp_path / "out"
    flags = [*common_flags(out), "--learning_rate", "1e10", "--stage", stage, "--teacher_model_name_or_path"]
    if stage == "teacher":
        flags += [models["pretrained_teacher"]]
    else:
        flags += [models["teacher"], "--student_model_name_or_path", models["pretrained_student"]]
    error = run_bad(capsys, out, flags)
    assert error.startswith("run_glue_distill.py: error: Training stopped at step ")
    what = "the model's weights are not finite" if stage == "teacher" else "the loss is nan"
    assert what in error and "try a lower learning_rate (now 1e+10)" in error
    assert not (out / "results.json").exists() and not (out / "model.safetensors").exists()


def test_max_seq_length_beyond_the_position_embeddings_is_clamped(tmp_path, models, caplog):
    out = tmp_path / "out"
    flags = [*common_flags(out), "--task_name", "rte", "--max_train_samples", 8, "--max_eval_samples", 8]
    flags += [
        "--max_seq_length",
        128,
        "--stage",
        "teacher",
        "--teacher_model_name_or_path",
        models["pretrained_teacher"],
    ]
    flags += ["--use_cpu", "false"]  # and no pinned-memory warning on a machine without an accelerator
    with caplog.at_level("WARNING", logger="run_glue_distill"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert recipe_main(flags) == 0  # RTE rows of 80 words: 128 positions would fail in a 64-position model
    assert "max_seq_length=128 is more than the teacher takes (64 positions): using 64." in caplog.text
    assert read_results(out)["config"]["data"]["max_seq_length"] == 64
    if not torch.accelerator.is_available():
        assert not [str(w.message) for w in caught if "pin_memory" in str(w.message)]


def read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write to: a chmod 555 one, or for root (who writes there anyway) /sys/kernel."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys/kernel")):
        if candidate.is_dir() and not writable(candidate):
            return candidate
    pytest.skip("no folder this process cannot write to")


def writable(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def test_a_read_only_output_folder_fails_before_training(tmp_path, models, capsys):
    folder = read_only_folder(tmp_path)
    flags = [*common_flags(folder), "--teacher_model_name_or_path", models["teacher"], "--student_layers", "0"]
    assert recipe_main(flags) == 1
    err = capsys.readouterr().err
    assert (
        err.strip().splitlines()[-1].startswith(f"run_glue_distill.py: error: output_dir {folder} is not writable (")
    )
    assert err.strip().endswith("): choose another --output_dir.")
    assert "Tokenizing" not in err and "Teacher logits" not in err  # nothing was loaded, nothing trained


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 640 vs 534"),  # torch.save's own
    ],
)
def test_a_full_disk_while_checkpointing_keeps_the_last_complete_checkpoint(
    tmp_path, models, capsys, monkeypatch, failure
):
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--student_layers", "0"]
    flags += ["--save_strategy", "steps", "--save_steps", 2]
    save = torch.save

    def full_disk(obj, file, *args, **kwargs):
        if "checkpoint-4" in str(file):
            Path(file).write_bytes(b"\0" * 64)  # what a full disk leaves: a partial file
            raise failure
        return save(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    assert recipe_main(flags) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    cause = " ".join(str(failure).split())
    assert error.startswith(f"run_glue_distill.py: error: could not write a checkpoint in {out} ({cause}; ")
    assert error.endswith(
        "MB free); removed the incomplete checkpoint-4; the last complete checkpoint, checkpoint-2, is kept (after "
        "freeing space, resume it with --resume_from_checkpoint true)."
    )
    assert sorted(path.name for path in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert not (out / "results.json").exists()

    monkeypatch.setattr(torch, "save", save)  # space freed: the run resumes from checkpoint-2 and completes
    assert recipe_main([*flags, "--resume_from_checkpoint", "true"]) == 0
    assert read_results(out)["train"]["global_step"] == 10


def test_a_full_disk_while_saving_the_model_says_what_is_kept(tmp_path, models, capsys, monkeypatch):
    import transformers.modeling_utils

    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--student_layers", "0"]
    flags += ["--save_strategy", "steps", "--save_steps", 4]
    save_file = transformers.modeling_utils.safe_save_file

    def full_disk(tensors, filename, *args, **kwargs):
        if Path(filename).parent == out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return save_file(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", full_disk)
    assert recipe_main(flags) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(
        f"run_glue_distill.py: error: could not write the trained model (its files there are incomplete) in {out} "
        "([Errno 28] No space left on device; "
    )
    assert error.endswith("the last complete checkpoint, checkpoint-10, is kept (after freeing space, resume it with "
                          "--resume_from_checkpoint true).")  # fmt: skip


KILL_AFTER_CHECKPOINT = """
import os, signal, sys
import transformers

save_checkpoint = transformers.Trainer._save_checkpoint


def save_then_die(self, model, trial):
    save_checkpoint(self, model, trial)
    if self.state.global_step == {step}:
        os.kill(os.getpid(), signal.SIGKILL)


transformers.Trainer._save_checkpoint = save_then_die
from recipes import run_glue_distill

sys.exit(run_glue_distill.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("stage", ["distill", "teacher"])
def test_a_killed_run_resumes_from_its_last_checkpoint_exactly(tmp_path, models, monkeypatch, stage):
    teacher = models["teacher"] if stage == "distill" else models["pretrained_teacher"]
    student = ["--student_model_name_or_path", models["pretrained_student"]] if stage == "distill" else []

    def flags(out: Path) -> list:
        common = [*common_flags(out), "--save_strategy", "steps", "--save_steps", 2, "--stage", stage]
        return [*common, "--teacher_model_name_or_path", teacher, *student]

    assert recipe_main(flags(tmp_path / "whole")) == 0  # the uninterrupted run: 10 steps

    killed = tmp_path / "killed"
    script = KILL_AFTER_CHECKPOINT.format(step=4, recipes=str(RECIPE.parent))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-c", script, *map(str, flags(killed))]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == -signal.SIGKILL, completed.stderr[-3000:]
    assert sorted(path.name for path in killed.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not (killed / "results.json").exists()

    steps = []
    training_step = transformers.Trainer.training_step

    def counted(self, *args, **kwargs):
        steps.append(self.state.global_step)
        return training_step(self, *args, **kwargs)

    monkeypatch.setattr(transformers.Trainer, "training_step", counted)
    assert recipe_main([*flags(killed), "--resume_from_checkpoint", "true"]) == 0
    assert steps == list(range(4, 10))  # steps 5 to 10, from checkpoint-4
    assert read_results(killed)["train"]["global_step"] == 10
    whole, resumed = load_file(tmp_path / "whole" / "model.safetensors"), load_file(killed / "model.safetensors")
    assert whole.keys() == resumed.keys()
    for name, value in whole.items():
        torch.testing.assert_close(resumed[name], value, rtol=0, atol=1e-6, msg=name)


def test_resume_from_checkpoint_is_checked_before_anything_is_loaded(tmp_path, models, capsys):
    out = tmp_path / "out"
    base = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--student_layers", "0"]
    error = run_bad(capsys, out, [*base, "--resume_from_checkpoint", "true"])
    assert error == (
        f"run_glue_distill.py: error: resume_from_checkpoint=true but {out} holds no complete checkpoint-* folder: "
        "drop the flag to start afresh, or give the checkpoint folder."
    )
    error = run_bad(capsys, out, [*base, "--resume_from_checkpoint", tmp_path / "checkpoint-7"])
    missing = tmp_path / "checkpoint-7"
    assert error == f"run_glue_distill.py: error: resume_from_checkpoint='{missing}': the folder does not exist."


def test_bad_input_under_accelerate_launch_quiet_is_one_line(tmp_path):
    """What the README says a user sees: `accelerate launch --quiet` (one process) passes on the recipe's line and
    exit code 1 alone; without --quiet, accelerate adds its own CalledProcessError traceback after the line."""
    (tmp_path / "bad.yaml").write_text("task_name: sst3\nteacher_model_name_or_path: x\nstudent_layers: '0'\n")
    line = (
        "run_glue_distill.py: error: task_name='sst3' is not a GLUE task; use one of cola, sst2, mrpc, qqp, stsb, "
        "mnli, qnli, rte, wnli."
    )
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    recipe = [str(RECIPE), "--config", str(tmp_path / "bad.yaml"), "--output_dir", str(tmp_path / "out")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    completed = subprocess.run([*launch, "--quiet", *recipe], env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 1 and completed.stderr.strip().splitlines() == [line]
    completed = subprocess.run([*launch, *recipe], env=env, capture_output=True, text=True, timeout=300)
    lines = completed.stderr.strip().splitlines()
    # accelerate 1.15 prints the traceback right after the line; 1.16 first repeats the child's stderr as the cause
    assert completed.returncode == 1 and lines[0] == line and "Traceback (most recent call last):" in lines[1:]
    assert lines[-1].startswith("subprocess.CalledProcessError: ") and "non-zero exit status 1" in lines[-1]


THREADS_PROBE = """
import sys
from recipes import run_glue_distill

print(run_glue_distill.launcher_default_threads())
"""


@pytest.mark.parametrize(("user_setting", "default"), [({}, True), ({"OMP_NUM_THREADS": "1"}, False)])
def test_accelerate_launchs_default_single_thread_is_told_from_the_users(tmp_path, user_setting, default):
    (tmp_path / "probe.py").write_text(THREADS_PROBE.format(recipes=str(RECIPE.parent)))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1"]
    command += ["--mixed_precision", "no", "--dynamo_backend", "no", str(tmp_path / "probe.py")]
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    env.update(PYTHONPATH=str(ROOT), **user_setting)
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split() == [str(default)]


def test_a_cpu_run_under_accelerates_default_uses_the_cores(monkeypatch):
    import psutil
    from transformers import TrainingArguments

    from recipes import run_glue_distill

    args = TrainingArguments(output_dir="unused", use_cpu=True)
    chosen = []
    monkeypatch.setattr(torch, "set_num_threads", chosen.append)
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 8)
    run_glue_distill.use_cpu_cores(args, 3)  # --num_threads wins
    monkeypatch.setattr(run_glue_distill, "launcher_default_threads", lambda: True)
    run_glue_distill.use_cpu_cores(args, None)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    run_glue_distill.use_cpu_cores(args, None)
    monkeypatch.setattr(run_glue_distill, "launcher_default_threads", lambda: False)
    run_glue_distill.use_cpu_cores(args, None)  # the user's own OMP_NUM_THREADS: left alone
    assert chosen == [3, 8, 4]


def test_the_general_recipe_refuses_bad_flags_and_values_in_one_line(tmp_path, capsys):
    from recipes.run_general_distill import cli

    base = ["--teacher_model", str(tmp_path), "--general_preset", "minilmv2", "--output_dir", str(tmp_path / "out")]
    (tmp_path / "bad.yaml").write_text("temperature: [2, 3]\n")
    assert cli(["--config", str(tmp_path / "bad.yaml"), *base]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"run_general_distill.py: error: config file {tmp_path / 'bad.yaml'}: temperature: [2, 3] is not a number."
    ]
    command = [sys.executable, str(ROOT / "recipes" / "run_general_distill.py"), *base, "--learning_rat", "1"]
    completed = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        "run_general_distill.py: error: unknown argument(s) --learning_rat 1 (did you mean --learning_rate?); see "
        "--help for the flags."
    ]


def test_inference_repeats_0_skips_the_timing(tmp_path, models, monkeypatch):
    from recipes import run_glue_distill

    timed = []
    monkeypatch.setattr(run_glue_distill, "inference_seconds", lambda *args, **kwargs: timed.append(1) or 1.0)
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--inference_repeats", 0]
    assert recipe_main(flags + ["--student_model_name_or_path", models["pretrained_student"]]) == 0
    results = read_results(out)
    assert timed == [] and results["inference_speedup"] is None and results["inference"] is None
    assert results["teacher"]["inference_seconds"] is None and results["student"]["metrics"]["accuracy"] > 0


def test_a_run_ends_with_one_line_stating_its_result(tmp_path, models, capsys):
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"]]
    assert recipe_main(flags + ["--student_model_name_or_path", models["pretrained_student"]]) == 0
    results, last = read_results(out), capsys.readouterr().out.strip().splitlines()[-1]
    student, teacher = results["student"]["metrics"]["accuracy"], results["teacher"]["metrics"]["accuracy"]
    assert last == (
        f"distill accuracy {student:.4f}, teacher {teacher:.4f}, retention {student / teacher:.1%}, "
        f"{results['compression_ratio']:.2f}x fewer parameters, {results['inference_speedup']:.2f}x faster on cpu; "
        f"saved to {out}"
    )
    assert recipe_main(flags + ["--student_layers", "0,1,2", "--inference_repeats", 0]) == 0  # all its layers
    assert (
        capsys.readouterr()
        .out.strip()
        .splitlines()[-1]
        .endswith(f"1.00x fewer parameters, speed not timed; saved to {out}")
    )


def test_the_teacher_flag_is_required(tmp_path, capsys):
    error = run_bad(capsys, tmp_path / "out", [*common_flags(tmp_path / "out"), "--student_layers", "0"])
    assert "the following arguments are required: --teacher_model_name_or_path" in error
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_relative_teacher_folder_is_recorded_as_local_not_as_a_hub_id(tmp_path, models, monkeypatch):
    from hf_distill import render_model_card

    shutil.copytree(models["teacher"], tmp_path / "runs" / "teacher")
    monkeypatch.chdir(tmp_path)
    flags = [*common_flags(tmp_path / "out"), "--teacher_model_name_or_path", "runs/teacher", "--student_layers", "0"]
    assert recipe_main(flags) == 0
    results = read_results(tmp_path / "out")
    assert results["teacher"]["name_or_path"] == "./runs/teacher"
    monkeypatch.chdir(tmp_path / "out")  # rendered where runs/teacher is not a folder: still not a Hub id
    card = render_model_card(results).text
    assert "huggingface.co/runs/teacher" not in card and "`teacher` (a local checkpoint)" in card
