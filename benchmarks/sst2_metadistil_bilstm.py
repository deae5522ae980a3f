"""SST-2, standard CPU protocol: MetaDistil and Distilled BiLSTM students next to logit KD and the student alone.

One method per invocation (each heavy run must stay under ~6 minutes on the shared 2-core machine); results go to
``OUT/<method>.json`` and ``--method table`` prints them side by side:

    run() { flock /tmp/hf_distill_heavy.lock env PYTHONPATH=$PWD python benchmarks/sst2_metadistil_bilstm.py "$@"; }
    run --method alone      --out OUT          # 3-layer student, plain fine-tuning (transformers.Trainer)
    run --method kd         --out OUT          # DistillationTrainer, KL, T=2, alpha=0.5
    run --method metadistil --out OUT [--max-steps N]   # MetaDistilTrainer; see below
    run --method bilstm     --out OUT          # BiLSTM student, logit MSE on teacher-labelled extra data
    run --method speed      --out OUT          # BiLSTM vs teacher inference time, CPU, batch 1 and 32
    python benchmarks/sst2_metadistil_bilstm.py --method table --out OUT

Protocol (benchmarks/sst2_common.py): teacher minilm-sst2; student = minilm-l6 keeping layers [0, 2, 4]; train rows
= first 2000 of SST-2 train after ``random.Random(0).shuffle``; max_length 64, batch 32, 2 epochs, lr 5e-5, seed 0;
accuracy on the full dev set (872 rows).

MetaDistil: the quiz set is held out of the same 2000 rows (``--quiz-size``, default 200), so the student trains on
the other 1800; teacher AdamW lr ``--teacher-lr`` (1e-5). A step costs several KD steps, so ``--time-budget``
(seconds) stops a run early with a checkpoint and the next invocation with the same ``--out`` resumes from it
(teacher and its optimizer included) until ``--max-steps`` (default: the protocol's 2 epochs) are done.

BiLSTM: vocabulary = the teacher's WordPiece tokenizer; embeddings initialised from the teacher's input
embeddings (PCA 384 -> ``--embedding-size``); trained with ``kd_loss_type="mse"`` (alpha 0.5: 0.5 * CE + 0.5 *
logit MSE) on the 2000 labelled rows plus ``--copies`` augmented copies of each (``hf_distill.augment``, Tang et
al.'s masking / neighbour replacement / n-gram sampling), every copy labelled by the teacher (its logits for the
MSE, its argmax for the CE); or, with ``--extra unlabeled``, further SST-2 train rows with their labels removed.
Batch ``--bilstm-batch`` (64; Tang et al. use 50), AdamW lr 1e-3, 2 epochs. The labelled data is built once and
kept under OUT, so a run stopped by the time budget resumes without redoing it.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import datasets
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.trainer_utils import get_last_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from sst2_common import TEACHER_DIR, accuracy, dev_set, shuffled_train, three_layer_student  # noqa: E402

from hf_distill import (  # noqa: E402
    AugmentationConfig,
    Augmenter,
    BiLSTMConfig,
    BiLSTMForSequenceClassification,
    DistillationDataCollator,
    DistillationTrainer,
    DistillationTrainingArguments,
    MetaDistilTrainer,
    MetaDistilTrainingArguments,
    compute_teacher_logits,
    init_embeddings_from_teacher,
)
from hf_distill.augment import label_with_teacher  # noqa: E402

MAX_LENGTH, BATCH, EPOCHS, LR, SEED = 64, 32, 2, 5e-5, 0
PROCESS_START = time.monotonic()


class TimeBudget(TrainerCallback):
    """Stop (with a checkpoint) ``seconds`` after the process started, so one invocation stays under the limit."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, PROCESS_START

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() - self.start > self.seconds and state.global_step < state.max_steps:
            control.should_save = True
            control.should_training_stop = True


def budget_args(args: argparse.Namespace) -> dict:
    """Checkpoint settings for a run that may be stopped by the time budget, and ``--max-steps`` when given."""
    values = {"save_total_limit": 1}
    if args.max_steps:
        values["max_steps"] = args.max_steps
    return values


def common_args(output_dir: Path, **overrides) -> dict:
    values = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=128,
        num_train_epochs=EPOCHS,
        learning_rate=LR,
        seed=SEED,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        logging_steps=20,
        use_cpu=True,
        dataloader_num_workers=0,
    )
    values.update(overrides)
    return values


def train_resumable(trainer: Trainer, run_dir: Path) -> str | None | bool:
    """Train, resuming from ``run_dir``'s last checkpoint; False when the time budget stopped it before the end."""
    checkpoint = get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None
    trainer.train(resume_from_checkpoint=checkpoint)
    if trainer.state.global_step < trainer.state.max_steps:
        print(f"stopped at step {trainer.state.global_step}/{trainer.state.max_steps} (time budget); run again")
        return False
    return checkpoint


def load_teacher():
    tokenizer = AutoTokenizer.from_pretrained(TEACHER_DIR)
    return tokenizer, AutoModelForSequenceClassification.from_pretrained(TEACHER_DIR)


def finish(trainer: Trainer, started: float, extra: dict) -> dict:
    metrics = trainer.evaluate()
    return {
        "dev_accuracy": metrics["eval_accuracy"],
        "steps": trainer.state.global_step,
        "train_seconds_this_run": round(time.monotonic() - started, 1),
        **extra,
    }


def run_alone(out: Path, args: argparse.Namespace) -> dict:
    tokenizer, teacher = load_teacher()
    started = time.monotonic()
    run_dir = out / "alone_run"
    trainer = Trainer(
        model=three_layer_student(teacher),
        args=TrainingArguments(**common_args(run_dir, **budget_args(args)), remove_unused_columns=False),
        train_dataset=shuffled_train(0, args.train_rows),
        eval_dataset=dev_set(args.dev_rows),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"], max_length=MAX_LENGTH),
        compute_metrics=accuracy,
        callbacks=[TimeBudget(args.time_budget)],
    )
    resumed = train_resumable(trainer, run_dir)
    if resumed is False:
        return None
    return finish(trainer, started, {"train_rows": args.train_rows, "resumed_from": resumed})


def run_kd(out: Path, args: argparse.Namespace) -> dict:
    tokenizer, teacher = load_teacher()
    started = time.monotonic()
    run_dir = out / "kd_run"
    trainer = DistillationTrainer(
        model=three_layer_student(teacher),
        teacher_model=teacher,
        args=DistillationTrainingArguments(**common_args(run_dir, **budget_args(args)), temperature=2.0, alpha=0.5),
        train_dataset=shuffled_train(0, args.train_rows),
        eval_dataset=dev_set(args.dev_rows),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"], max_length=MAX_LENGTH),
        compute_metrics=accuracy,
        callbacks=[TimeBudget(args.time_budget)],
    )
    resumed = train_resumable(trainer, run_dir)
    if resumed is False:
        return None
    extra = {"train_rows": args.train_rows, "temperature": 2.0, "alpha": 0.5, "resumed_from": resumed}
    return finish(trainer, started, extra)


def run_metadistil(out: Path, args: argparse.Namespace) -> dict | None:
    tokenizer, teacher = load_teacher()
    run_dir = out / "metadistil_run"
    started = time.monotonic()
    steps_per_epoch = math.ceil((args.train_rows - args.quiz_size) / BATCH)
    max_steps = args.max_steps or EPOCHS * steps_per_epoch
    trainer = MetaDistilTrainer(
        model=three_layer_student(teacher),
        teacher_model=teacher,
        args=MetaDistilTrainingArguments(
            **common_args(run_dir, max_steps=max_steps, save_total_limit=1),
            temperature=2.0,
            alpha=0.5,
            teacher_learning_rate=args.teacher_lr,
            quiz_size=args.quiz_size,
        ),
        train_dataset=shuffled_train(0, args.train_rows),
        eval_dataset=dev_set(args.dev_rows),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"], max_length=MAX_LENGTH),
        compute_metrics=accuracy,
        callbacks=[TimeBudget(args.time_budget)],
    )
    checkpoint = train_resumable(trainer, run_dir)
    if checkpoint is False:
        return None
    quiz = [entry["quiz_loss"] for entry in trainer.state.log_history if "quiz_loss" in entry]
    trainer.save_model(str(run_dir / "final"))  # the student and, under final/teacher, the updated teacher
    return finish(
        trainer,
        started,
        {
            "train_rows": args.train_rows - args.quiz_size,
            "quiz_rows": args.quiz_size,
            "max_steps": max_steps,
            "protocol_steps": EPOCHS * steps_per_epoch,
            "teacher_learning_rate": args.teacher_lr,
            "resumed_from": checkpoint,
            "quiz_loss_first_last": [quiz[0], quiz[-1]] if quiz else None,
        },
    )


def extra_rows(tokenizer, teacher, labelled: datasets.Dataset, args: argparse.Namespace) -> tuple:
    """Extra rows for the BiLSTM: augmented copies (hf_distill.augment) or unlabeled SST-2 text; no gold labels."""
    if args.extra == "augment":
        config = AugmentationConfig(num_copies=args.copies, seed=SEED)  # Tang et al.'s probabilities
        augmenter = Augmenter(config, tokenizer, embeddings=teacher.get_input_embeddings().weight)
        rows = augmenter.augment_dataset(labelled, ["sentence"], show_progress=False)
        return list(rows["sentence"]), f"{args.copies} augmented copies per row, hf_distill.augment"
    rows = shuffled_train(2000, 2000 + args.unlabeled_rows)
    return list(rows["sentence"]), f"{args.unlabeled_rows} unlabeled SST-2 train rows (2000.. of the shuffle)"


def bilstm_data(out: Path, tokenizer, teacher, args: argparse.Namespace) -> tuple[datasets.Dataset, dict]:
    """Labelled rows + teacher-labelled extra rows, with the teacher's logits; built once and kept under OUT."""
    path = out / f"bilstm_data_{args.extra}"
    if path.is_dir():
        return datasets.load_from_disk(str(path)), json.loads((path / "info.json").read_text())
    started = time.monotonic()
    labelled = shuffled_train(0, args.train_rows)
    extra, description = extra_rows(tokenizer, teacher, labelled, args)
    data = datasets.Dataset.from_dict(
        {"sentence": list(labelled["sentence"]) + extra, "label": list(labelled["label"]) + [None] * len(extra)}
    )
    encoded = data.map(lambda rows: tokenizer(rows["sentence"], truncation=True, max_length=MAX_LENGTH), batched=True)
    logits = compute_teacher_logits(teacher, encoded, tokenizer, batch_size=256, show_progress=False)
    # Rows without a gold label get the teacher's argmax as label (METHODS.md section 2: t = onehot(argmax z_t)).
    data = label_with_teacher(data, logits, hard_labels=True)
    info = {"extra_data": description, "data_seconds": round(time.monotonic() - started, 1)}
    data.save_to_disk(str(path))
    (path / "info.json").write_text(json.dumps(info))
    return data, info


def run_bilstm(out: Path, args: argparse.Namespace) -> dict | None:
    tokenizer, teacher = load_teacher()
    started = time.monotonic()
    data, info = bilstm_data(out, tokenizer, teacher, args)
    config = BiLSTMConfig(
        vocab_size=teacher.config.vocab_size,
        pad_token_id=teacher.config.pad_token_id,
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        classifier_hidden_size=400,
        dropout=0.1,
        num_labels=teacher.config.num_labels,
        id2label=teacher.config.id2label,
        label2id=teacher.config.label2id,
    )
    torch.manual_seed(SEED)
    student = BiLSTMForSequenceClassification(config)
    variance_kept = init_embeddings_from_teacher(student, teacher)
    run_dir = out / "bilstm_run"
    overrides = dict(
        learning_rate=args.bilstm_lr,
        num_train_epochs=args.bilstm_epochs,
        per_device_train_batch_size=args.bilstm_batch,
        **budget_args(args),
    )
    trainer = DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=DistillationTrainingArguments(
            **common_args(run_dir, **overrides), kd_loss_type="mse", alpha=args.bilstm_alpha
        ),
        train_dataset=data,
        eval_dataset=dev_set(args.dev_rows),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"], max_length=MAX_LENGTH),
        processing_class=tokenizer,
        compute_metrics=accuracy,
        callbacks=[TimeBudget(args.time_budget)],
    )
    resumed = train_resumable(trainer, run_dir)
    if resumed is False:
        return None
    trainer.save_model(str(out / "bilstm_student"))
    reloaded = AutoModelForSequenceClassification.from_pretrained(out / "bilstm_student")
    assert isinstance(reloaded, BiLSTMForSequenceClassification)
    result = finish(
        trainer,
        started,
        {
            "train_rows": len(data),
            **info,
            "resumed_from": resumed,
            "embedding_variance_kept": round(variance_kept, 4),
            "parameters": sum(p.numel() for p in student.parameters()),
            "config": {k: getattr(config, k) for k in ("embedding_size", "hidden_size", "classifier_hidden_size")},
            "lr": args.bilstm_lr,
            "epochs": args.bilstm_epochs,
            "batch": args.bilstm_batch,
            "alpha": args.bilstm_alpha,
        },
    )
    if args.speed:  # the inference timing too, in the same heavy run
        (out / "speed.json").write_text(json.dumps(run_speed(out, args), indent=1))
    return result


@torch.no_grad()
@torch.inference_mode()
def _seconds_per_batch(model: torch.nn.Module, inputs: list[dict]) -> float:
    """Median over 3 passes of the mean forward time per batch of ``inputs``, after 3 warm-up batches."""
    for batch in inputs[:3]:
        model(**batch)
    repeats = []
    for _ in range(3):
        start = time.perf_counter()
        for batch in inputs:
            model(**batch)
        repeats.append((time.perf_counter() - start) / len(inputs))
    return statistics.median(repeats)


def run_speed(out: Path, args: argparse.Namespace) -> dict:
    """Forward time per batch on CPU, teacher vs the trained BiLSTM, over dev sentences (1 thread)."""
    torch.set_num_threads(args.threads)
    tokenizer, teacher = load_teacher()
    student_dir = args.student or out / "bilstm_student"
    student = AutoModelForSequenceClassification.from_pretrained(student_dir).eval()
    teacher.eval()
    sentences = list(dev_set()["sentence"])
    results = {"threads": args.threads, "cpu": platform.processor() or platform.machine(), "student": str(student_dir)}
    for batch_size, batches in ((1, 200), (32, 12)):
        inputs = [
            tokenizer(
                sentences[i * batch_size : (i + 1) * batch_size],
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            for i in range(batches)
        ]
        timings = {}
        for name, model in (("teacher", teacher), ("bilstm", student)):
            timings[name] = _seconds_per_batch(model, inputs)
        results[f"batch_{batch_size}"] = {
            "teacher_ms": round(1000 * timings["teacher"], 2),
            "bilstm_ms": round(1000 * timings["bilstm"], 2),
            "speedup": round(timings["teacher"] / timings["bilstm"], 2),
        }
    results["teacher_parameters"] = sum(p.numel() for p in teacher.parameters())
    results["bilstm_parameters"] = sum(p.numel() for p in student.parameters())
    return results


def print_table(out: Path) -> None:
    teacher_info = json.loads((Path(TEACHER_DIR) / "teacher_info.json").read_text())
    rows = [("teacher minilm-sst2 (6L/384)", {"dev_accuracy": teacher_info["dev_accuracy"]}, "")]
    labels = {
        "alone": "student alone (3L, fine-tuning)",
        "kd": "logit KD (3L, T=2, alpha=0.5)",
        "metadistil": "MetaDistil (3L)",
        "bilstm": "Distilled BiLSTM",
    }
    for method, label in labels.items():
        path = out / f"{method}.json"
        if path.is_file():
            result = json.loads(path.read_text())
            note = f"{result['steps']} steps, {result['train_rows']} train rows"
            if method == "metadistil":
                note += f" + {result['quiz_rows']} quiz rows, protocol = {result['protocol_steps']} steps"
            if method == "bilstm":
                note += f" ({result['extra_data']})"
            rows.append((label, result, note))
    print("| model | SST-2 dev accuracy | notes |\n| --- | --- | --- |")
    for label, result, note in rows:
        print(f"| {label} | {result['dev_accuracy']:.4f} | {note} |")
    speed = out / "speed.json"
    if speed.is_file():
        result = json.loads(speed.read_text())
        print(f"\nInference on CPU ({result['threads']} thread(s)), ms per batch, dev sentences, max_length 64:\n")
        print("| batch | teacher (ms) | BiLSTM (ms) | speedup |\n| --- | --- | --- | --- |")
        for batch in (1, 32):
            entry = result[f"batch_{batch}"]
            print(f"| {batch} | {entry['teacher_ms']} | {entry['bilstm_ms']} | {entry['speedup']}x |")
        print(f"\nparameters: teacher {result['teacher_parameters']:,}, BiLSTM {result['bilstm_parameters']:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", required=True, choices=["alone", "kd", "metadistil", "bilstm", "speed", "table"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--max-steps", type=int, default=None, help="training steps (default: the protocol's 2 epochs)"
    )
    parser.add_argument("--quiz-size", type=int, default=200)
    parser.add_argument("--teacher-lr", type=float, default=1e-5)
    parser.add_argument(
        "--time-budget", type=float, default=330.0, help="seconds from start, then checkpoint and stop"
    )
    parser.add_argument("--extra", choices=["augment", "unlabeled"], default="augment")
    parser.add_argument("--copies", type=int, default=5, help="augmented copies per row (BiLSTM)")
    parser.add_argument("--bilstm-batch", type=int, default=64)
    parser.add_argument("--unlabeled-rows", type=int, default=20000)
    parser.add_argument("--embedding-size", type=int, default=300)
    parser.add_argument("--hidden-size", type=int, default=300)
    parser.add_argument("--bilstm-lr", type=float, default=1e-3)
    parser.add_argument("--bilstm-epochs", type=float, default=2.0)
    parser.add_argument("--bilstm-alpha", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for --method speed")
    parser.add_argument("--student", type=Path, help="--method speed: the BiLSTM to time (default OUT/bilstm_student)")
    parser.add_argument("--speed", action="store_true", help="--method bilstm: also run --method speed after it")
    parser.add_argument("--train-rows", type=int, default=2000, help=argparse.SUPPRESS)  # smaller: smoke runs only
    parser.add_argument("--dev-rows", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.method == "table":
        print_table(args.out)
        return
    runners = {"alone": run_alone, "kd": run_kd, "metadistil": run_metadistil, "bilstm": run_bilstm}
    result = runners.get(args.method, run_speed)(args.out, args)
    if result is not None:
        result["command"] = " ".join(sys.argv)
        (args.out / f"{args.method}.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
