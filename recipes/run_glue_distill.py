"""Distil a teacher into a student on a GLUE task, or fine-tune the teacher first (``--stage teacher``).

    accelerate launch recipes/run_glue_distill.py --config recipes/configs/sst2_logit_minilm.yaml [--flag value ...]

Arguments come from the YAML/JSON ``--config`` and the command line (which wins); ``--help`` lists them all
(hf_distill.recipes.arguments: model and data arguments; `DistillationTrainingArguments`; each method's own). The
method is picked by ``--distill_method`` from hf_distill.recipes.methods. At the end, ``OUTPUT_DIR/results.json`` holds
the teacher's and the student's dev metrics, retention, parameter counts and compression, the measured inference
speedup, train time and throughput, and the full configuration; the student (or, with ``--stage teacher``, the
fine-tuned teacher) is saved in ``OUTPUT_DIR``. Bad input stops the run before training with one line on stderr and
exit code 1, and no ``results.json`` is left behind. With ``--push_to_hub`` (``--hub_model_id``,
``--hub_private_repo``, ``--hub_token``) the distilled student alone is pushed once ``results.json`` is written, with a
model card made from it; if the Hub refuses or cannot be reached, everything stays saved and the message gives the
``hf_distill push`` command that pushes it again.

A loss or weights that become NaN or infinite during training stop the run the same way (nothing non-finite is
saved), and so does a failed write (the line says which checkpoint is kept). ``--resume_from_checkpoint true``
resumes from the last complete checkpoint in ``OUTPUT_DIR`` (or give a checkpoint folder).
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
)
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from hf_distill import DistillationDataCollator, DistillationTrainingArguments
from hf_distill.cache import (
    add_teacher_logits,
    cached_teacher_logits,
    compute_teacher_logits,
)
from hf_distill.finite import FiniteModelCallback, NonFiniteTrainingError
from hf_distill.glue import GlueTask, compute_metrics_fn, get_task, load_glue
from hf_distill.hub.push import HubPushError, args_without_secrets, push_student
from hf_distill.hub.redaction import redact_command
from hf_distill.methods.augmentation import AugmentationConfig, Augmenter, label_with_teacher
from hf_distill.recipes.arguments import DataArguments, ModelArguments, parse_arguments
from hf_distill.recipes.config import early_value
from hf_distill.recipes.methods import Method, MethodContext, build_student, get_method
from hf_distill.recipes.report import (
    RESULTS_FILE,
    configuration,
    environment,
    evaluate_splits,
    inference_seconds,
    main_metric_name,
    parameter_count,
    ratio,
    recorded,
    summary_line,
    train_summary,
    write_results,
)
from hf_distill.teacher import check_model_reference, check_tokenizer_fits, max_positions

logger = logging.getLogger("run_glue_distill")


# ---- Models and data ----


def load_task_teacher(path: str, task: GlueTask, init_kwargs: dict[str, Any] | None = None) -> PreTrainedModel:
    """The fine-tuned teacher at ``path``; refused when its head is untrained or its labels are not the task's."""
    teacher, info = AutoModelForSequenceClassification.from_pretrained(
        path, output_loading_info=True, **(init_kwargs or {})
    )
    prefix = teacher.base_model_prefix
    untrained = [key for key in info.get("missing_keys", ()) if not key.startswith(prefix + ".")]
    if untrained:
        raise ValueError(
            f"teacher {path!r} has no trained classification head (missing {', '.join(sorted(untrained))}): "
            "fine-tune it on the task first with --stage teacher and pass that output_dir."
        )
    check_labels(teacher, task, f"teacher {path!r}")
    return teacher.eval()


def check_labels(model: PreTrainedModel, task: GlueTask, what: str) -> None:
    config = model.config
    names = [str(config.id2label[i]) for i in range(config.num_labels)] if config.id2label else []
    default_names = all(name == f"LABEL_{i}" for i, name in enumerate(names))
    expected = "one regression output" if task.is_regression else ", ".join(task.label_names)
    same_names = default_names or task.is_regression or tuple(names) == task.label_names
    if config.num_labels != task.num_labels or not same_names:
        raise ValueError(
            f"{what} predicts {config.num_labels} label(s) ({', '.join(names)}) but {task.name} needs {expected}: "
            f"use a teacher fine-tuned on {task.name} (--stage teacher)."
        )


def tokenizers_differ(first: PreTrainedTokenizerBase, second: PreTrainedTokenizerBase) -> bool:
    return first.pad_token_id != second.pad_token_id or first.get_vocab() != second.get_vocab()


def tokenize(
    dataset: datasets.Dataset, task: GlueTask, tokenizer: PreTrainedTokenizerBase, max_length: int, prefix: str = ""
) -> datasets.Dataset:
    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(*[batch[name] for name in task.text_fields], truncation=True, max_length=max_length)
        return {prefix + key: value for key, value in encoded.items()}

    return dataset.map(encode, batched=True, desc=f"Tokenizing{' for the teacher' if prefix else ''}")


def load_data(data_args: DataArguments, task: GlueTask, training_args: DistillationTrainingArguments):
    with training_args.main_process_first(desc="loading GLUE"):
        raw = load_glue(task, data_args.glue_dir)
    train = raw["train"]
    if data_args.train_shuffle_seed is not None:
        order = list(range(len(train)))
        random.Random(data_args.train_shuffle_seed).shuffle(order)
        train = train.select(order)
    if data_args.max_train_samples is not None:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    evals = {split: raw[split] for split in task.eval_splits}
    if data_args.max_eval_samples is not None:
        evals = {split: ds.select(range(min(data_args.max_eval_samples, len(ds)))) for split, ds in evals.items()}
    return train, evals


def augment(train, task, teacher, teacher_tokenizer, data_args, training_args) -> datasets.Dataset:
    """``augment_copies`` augmented copies of every training row (no gold label; the teacher labels them)."""
    mlm = mlm_tokenizer = None
    if data_args.augment_mlm_model:
        mlm = AutoModelForMaskedLM.from_pretrained(data_args.augment_mlm_model).to(training_args.device)
        mlm_tokenizer = AutoTokenizer.from_pretrained(data_args.augment_mlm_model)
    config = AugmentationConfig(
        num_copies=data_args.augment_copies,
        mask_prob=data_args.augment_mask_prob,
        replace_prob=data_args.augment_replace_prob,
        ngram_prob=data_args.augment_ngram_prob,
        ngram_max=data_args.augment_ngram_max,
        top_k=data_args.augment_top_k,
        seed=training_args.seed,
    )
    embeddings = teacher.get_input_embeddings().weight
    augmenter = Augmenter(config, teacher_tokenizer, embeddings=embeddings, mlm=mlm, mlm_tokenizer=mlm_tokenizer)
    return augmenter.augment_dataset(train, task.text_fields, show_progress=not training_args.disable_tqdm)


def training_teacher_logits(teacher, train, teacher_tokenizer, task, teacher_path, data_args, training_args):
    """The teacher's logits over the training rows: from / into the cache when one is configured."""
    batch_size, progress = training_args.per_device_eval_batch_size, not training_args.disable_tqdm
    if not data_args.teacher_cache_dir:
        return compute_teacher_logits(
            teacher, train, teacher_tokenizer, batch_size, training_args.device, progress
        ), None
    return cached_teacher_logits(
        Path(data_args.teacher_cache_dir) / f"{task.name}-train.safetensors",
        teacher,
        train,
        teacher_tokenizer,
        data_columns=[*task.text_fields, "label"],
        batch_size=batch_size,
        device=training_args.device,
        overwrite=data_args.overwrite_teacher_cache,
        teacher_name=teacher_path,
        show_progress=progress,
    )


# ---- The two stages ----


def run_teacher_stage(model_args, data_args, training_args, task, train, evals) -> dict[str, Any]:
    """Plain fine-tuning of the pre-trained teacher on the task; it is saved in output_dir."""
    path = training_args.teacher_model_name_or_path
    tokenizer = AutoTokenizer.from_pretrained(model_args.teacher_tokenizer_name or path)
    kwargs: dict[str, Any] = {"num_labels": task.num_labels}
    if task.id2label:
        kwargs.update(id2label=task.id2label, label2id={v: k for k, v in task.id2label.items()})
    model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    check_tokenizer_fits(tokenizer, model, "teacher", fix=TOKENIZER_FIX.format(side="teacher"))
    fit_max_seq_length(data_args, teacher=(model, tokenizer))
    train_tok = tokenize(train, task, tokenizer, data_args.max_seq_length)
    evals_tok = {split: tokenize(ds, task, tokenizer, data_args.max_seq_length) for split, ds in evals.items()}
    stage_args = args_without_secrets(training_args)  # its training_args.bin must not pickle the token
    stage_args.push_to_hub = False  # only the distilled student is ever pushed
    trainer = Trainer(
        model=model,
        args=stage_args,
        train_dataset=train_tok,
        eval_dataset=evals_tok[task.main_eval_split],
        data_collator=DistillationDataCollator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics_fn(task, data_args.metric_name),
        callbacks=[FiniteModelCallback()],
    )
    train_output = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    model = trainer.accelerator.unwrap_model(trainer.model)
    metric_name = data_args.metric_name
    metrics, _ = evaluate_splits(model, evals_tok, task, tokenizer, "", training_args, "Teacher", metric_name)
    return {
        "teacher": {
            "name_or_path": training_args.output_dir,
            "fine_tuned_from": path,
            "metrics": metrics[task.main_eval_split],
            "metrics_by_split": metrics,
            "parameters": parameter_count(model),
        },
        "train": train_summary(train_output, trainer, len(train_tok)),
    }


@dataclass
class DistillRun:
    """What the phases of a distillation run hand on to each other."""

    method: Method
    context: MethodContext
    teacher: PreTrainedModel
    teacher_tokenizer: PreTrainedTokenizerBase
    use_logits: bool
    teacher_prefix: str = ""
    train: datasets.Dataset | None = None
    evals: dict[str, datasets.Dataset] = field(default_factory=dict)
    teacher_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    cache_info: dict[str, Any] | None = None
    augmented_rows: int = 0


def run_distill_stage(model_args, data_args, training_args, method_args, task, train, evals) -> dict[str, Any]:
    """Distil the teacher into the method's student: models, data, training, then measurement."""
    run = load_models(model_args, data_args, training_args, method_args, task)
    prepare_data(run, train, evals)
    trainer, train_output, student = train_student(run)
    return measure(run, trainer, train_output, student)


# ---- Distillation, phase 1: the teacher and the method's student ----


def load_models(model_args, data_args, training_args, method_args, task) -> DistillRun:
    method = get_method(model_args.distill_method)
    teacher_path = training_args.teacher_model_name_or_path
    teacher = load_task_teacher(teacher_path, task, training_args.teacher_model_init_kwargs)
    teacher_tokenizer = AutoTokenizer.from_pretrained(model_args.teacher_tokenizer_name or teacher_path)
    check_tokenizer_fits(teacher_tokenizer, teacher, "teacher", fix=TOKENIZER_FIX.format(side="teacher"))
    student_tokenizer_name = model_args.student_tokenizer_name or model_args.student_model_name_or_path
    tokenizer = AutoTokenizer.from_pretrained(student_tokenizer_name) if student_tokenizer_name else teacher_tokenizer
    use_logits = bool(data_args.teacher_cache_dir) or data_args.augment_copies > 0
    if data_args.teacher_cache_dir and not method.supports_teacher_cache(training_args):
        raise ValueError(
            f"distill_method={method.name!r} with these settings needs more of the teacher than its logits at "
            "every step; the teacher cache stores logits only: drop teacher_cache_dir."
        )
    use_logits = use_logits and method.supports_teacher_cache(training_args)

    context = MethodContext(
        task=task,
        teacher=teacher,
        student=None,
        tokenizer=tokenizer,
        teacher_tokenizer=teacher_tokenizer,
        training_args=training_args,
        train_dataset=None,
        eval_dataset=None,
        data_collator=None,
        compute_metrics=compute_metrics_fn(task, data_args.metric_name),
        callbacks=[FiniteModelCallback()],
        model_args=model_args,
        data_args=data_args,
        method_args=next((a for a in method_args if type(a) is method.arguments), None),
    )
    student = method.build_student(context) if method.build_student else build_student(model_args, task, teacher)
    student.config.id2label, student.config.label2id = teacher.config.id2label, teacher.config.label2id
    check_tokenizer_fits(tokenizer, student, "student", fix=TOKENIZER_FIX.format(side="student"))
    fit_max_seq_length(data_args, teacher=(teacher, teacher_tokenizer), student=(student, tokenizer))
    if training_args.teacher_dtype not in (None, "float32", "auto"):
        teacher = teacher.to(getattr(torch, training_args.teacher_dtype))
    teacher.to(training_args.device)
    context.student = student
    return DistillRun(method, context, teacher, teacher_tokenizer, use_logits)


# ---- Distillation, phase 2: augmentation, tokenization, the teacher's dev metrics and logits ----


def prepare_data(run: DistillRun, train: datasets.Dataset, evals: dict[str, datasets.Dataset]) -> None:
    context, teacher, teacher_tokenizer = run.context, run.teacher, run.teacher_tokenizer
    task, tokenizer, data_args, training_args = (
        context.task,
        context.tokenizer,
        context.data_args,
        context.training_args,
    )
    if data_args.augment_copies > 0:
        augmented = augment(train, task, teacher, teacher_tokenizer, data_args, training_args)
        run.augmented_rows = len(augmented)
        train = datasets.concatenate_datasets([train.add_column("augmented_from", [-1] * len(train)), augmented])

    separate = tokenizers_differ(tokenizer, teacher_tokenizer)
    run.teacher_prefix = "teacher_" if separate else ""

    def prepare(dataset: datasets.Dataset) -> datasets.Dataset:
        dataset = tokenize(dataset, task, tokenizer, data_args.max_seq_length)
        if separate:
            dataset = tokenize(dataset, task, teacher_tokenizer, data_args.max_seq_length, prefix=run.teacher_prefix)
        return dataset

    train_tok = prepare(train)
    run.evals = {split: prepare(ds) for split, ds in evals.items()}
    run.teacher_metrics, teacher_logits = evaluate_splits(
        teacher,
        run.evals,
        task,
        teacher_tokenizer,
        run.teacher_prefix,
        training_args,
        "Teacher",
        data_args.metric_name,
    )

    if run.use_logits or data_args.augment_hard_labels:
        with training_args.main_process_first(desc="teacher logits"):
            logits, run.cache_info = training_teacher_logits(
                teacher,
                train_tok,
                teacher_tokenizer,
                task,
                training_args.teacher_model_name_or_path,
                data_args,
                training_args,
            )
        train_tok = label_with_teacher(train_tok, logits, hard_labels=data_args.augment_hard_labels)
        if not run.use_logits:
            train_tok = train_tok.remove_columns("teacher_logits")
    eval_tok = run.evals[task.main_eval_split]
    if run.use_logits:
        eval_tok = add_teacher_logits(eval_tok, teacher_logits[task.main_eval_split])

    run.train = context.train_dataset = train_tok
    context.eval_dataset = eval_tok
    context.teacher = None if run.use_logits else teacher
    context.data_collator = DistillationDataCollator(tokenizer, teacher_tokenizer if separate else None)


# ---- Distillation, phase 3: training; the exported student is saved ----


def train_student(run: DistillRun) -> tuple[Trainer, Any, PreTrainedModel]:
    method, training_args = run.method, run.context.training_args
    trainer = method.build_trainer(run.context)
    train_output = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    export = method.export_student or (lambda trained: trained.accelerator.unwrap_model(trained.model))
    student = export(trainer)
    # Saved without the Trainer's "Model save" push: with --push_to_hub the student goes up once, at the end, with
    # its card made from results.json. What is saved (and pushed) is the exported student the recipe evaluates.
    trainer.save_model(training_args.output_dir, _internal_call=True)
    if student is not trainer.accelerator.unwrap_model(trainer.model) and training_args.process_index == 0:
        student.save_pretrained(training_args.output_dir)
    return trainer, train_output, student


# ---- Distillation, phase 4: the student's dev metrics, speed and size against the teacher's ----


def measure(run: DistillRun, trainer: Trainer, train_output: Any, student: PreTrainedModel) -> dict[str, Any]:
    context, method, teacher = run.context, run.method, run.teacher
    task, tokenizer, model_args = context.task, context.tokenizer, context.model_args
    data_args, training_args = context.data_args, context.training_args
    student_metrics, _ = evaluate_splits(
        student, run.evals, task, tokenizer, "", training_args, "Student", data_args.metric_name
    )
    method_results = None
    if method.report is not None and training_args.process_index == 0:
        method_results = method.report(trainer, context, student)

    main = task.main_eval_split
    speed = {"teacher_seconds": None, "student_seconds": None}
    common = {}
    if training_args.process_index == 0 and data_args.inference_repeats > 0:  # the others wait (a shared CPU)
        common = dict(
            batch_size=training_args.per_device_eval_batch_size,
            repeats=data_args.inference_repeats,
            device=training_args.device,
        )
        speed["teacher_seconds"] = inference_seconds(
            teacher, run.evals[main], run.teacher_tokenizer, run.teacher_prefix, **common
        )
        speed["student_seconds"] = inference_seconds(student, run.evals[main], tokenizer, "", **common)
    trainer.accelerator.wait_for_everyone()

    teacher_metrics = run.teacher_metrics
    teacher_params, student_params = parameter_count(teacher), parameter_count(student)
    return {
        "distill_method": method.name,
        "teacher": {
            "name_or_path": training_args.teacher_model_name_or_path,
            "metrics": teacher_metrics[main],
            "metrics_by_split": teacher_metrics,
            "parameters": teacher_params,
            "inference_seconds": speed["teacher_seconds"],
        },
        "student": {
            "name_or_path": model_args.student_model_name_or_path,
            "layers": model_args.student_layers,
            "num_layers": getattr(student.config, "num_hidden_layers", None),
            "metrics": student_metrics[main],
            "metrics_by_split": student_metrics,
            "parameters": student_params,
            "inference_seconds": speed["student_seconds"],
        },
        "retention": {
            name: ratio(value, teacher_metrics[main][name]) for name, value in student_metrics[main].items()
        },
        "compression_ratio": teacher_params / student_params,
        "inference_speedup": ratio(speed["teacher_seconds"], speed["student_seconds"]),
        "inference": {"examples": len(run.evals[main]), **common, "device": str(training_args.device)}
        if common
        else None,
        "train": {**train_summary(train_output, trainer, len(run.train)), "augmented_rows": run.augmented_rows},
        "teacher_cache": run.cache_info,
        "trained_from_teacher_logits": run.use_logits,
        **({"method_results": method_results} if method.report is not None else {}),
    }


# ---- Checks and settings before anything is loaded ----

TOKENIZER_FIX = (
    "leave --{side}_tokenizer_name unset (the {side}'s own) or point it at the tokenizer the {side} was trained with"
)
MODEL_FLAGS = (
    "student_model_name_or_path",
    "teacher_tokenizer_name",
    "student_tokenizer_name",
)


def remove_stale_results(argv: list[str] | None) -> None:
    """Delete an older run's results.json from the output folder before anything (parsing included) can fail, so a
    failed run never leaves another run's results looking like its own."""
    argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    output_dir = early_value(argv, "output_dir")
    if output_dir and not {"-h", "--help"} & set(argv):
        try:
            (Path(output_dir) / RESULTS_FILE).unlink(missing_ok=True)
        except OSError:
            pass  # an unwritable folder is reported by check_writable, once the arguments are parsed


def check_writable(output_dir: str) -> None:
    """Create ``output_dir`` and write a file there now, rather than fail when saving after training."""
    probe = Path(output_dir) / f".hf_distill-write-probe-{os.getpid()}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise OSError(
            f"output_dir {output_dir} is not writable ({error.strerror or error}): choose another --output_dir."
        ) from None


def check_model_paths(model_args: ModelArguments, data_args: DataArguments, teacher: str) -> None:
    check_model_reference(teacher, "teacher_model_name_or_path")
    for flag in MODEL_FLAGS:
        if getattr(model_args, flag):
            check_model_reference(getattr(model_args, flag), flag)
    if data_args.augment_mlm_model:
        check_model_reference(data_args.augment_mlm_model, "augment_mlm_model")


def complete_checkpoints(output_dir: str) -> list[Path]:
    """The ``checkpoint-N`` folders of ``output_dir`` whose save finished (the Trainer writes trainer_state.json
    last), by step."""
    folders = [
        path for path in Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*") if path.name.split("-")[-1].isdigit()
    ]
    complete = [path for path in folders if (path / TRAINER_STATE_NAME).is_file()]
    return sorted(complete, key=lambda path: int(path.name.split("-")[-1]))


def resolve_resume(training_args: DistillationTrainingArguments) -> None:
    """``--resume_from_checkpoint``: ``true`` is the last complete checkpoint in output_dir (as for run_glue.py),
    ``false`` none, anything else a checkpoint folder; checked now, before anything is loaded."""
    value, output_dir = training_args.resume_from_checkpoint, training_args.output_dir
    if value is None or value.lower() in ("false", "no", "0", ""):
        training_args.resume_from_checkpoint = None
        if complete_checkpoints(output_dir):
            logger.warning(
                "%s holds checkpoints (last: %s); this run starts afresh and overwrites them as it saves: pass "
                "--resume_from_checkpoint true to continue it instead.",
                output_dir,
                complete_checkpoints(output_dir)[-1].name,
            )
    elif value.lower() in ("true", "yes", "1"):
        checkpoints = complete_checkpoints(output_dir)
        if not checkpoints:
            raise ValueError(
                f"resume_from_checkpoint=true but {output_dir} holds no complete {PREFIX_CHECKPOINT_DIR}-* folder: "
                "drop the flag to start afresh, or give the checkpoint folder."
            )
        training_args.resume_from_checkpoint = str(checkpoints[-1])
        logger.info("Resuming from %s", checkpoints[-1])
    elif not Path(value).is_dir():
        raise ValueError(f"resume_from_checkpoint={value!r}: the folder does not exist.")


def fit_max_seq_length(data_args: DataArguments, **models: tuple[PreTrainedModel, PreTrainedTokenizerBase]) -> None:
    """Lower ``max_seq_length`` to what every model's position embeddings (and tokenizer) take, with a warning, as
    run_glue.py does for the tokenizer: a longer row would fail inside the model."""
    limits = {}
    for name, (model, tokenizer) in models.items():
        tokenizer_limit = getattr(tokenizer, "model_max_length", None)
        candidates = [max_positions(model), tokenizer_limit if tokenizer_limit and tokenizer_limit < 1e6 else None]
        if [limit for limit in candidates if limit]:
            limits[name] = min(limit for limit in candidates if limit)
    if limits and data_args.max_seq_length > min(limits.values()):
        name = min(limits, key=limits.get)
        logger.warning(
            "max_seq_length=%d is more than the %s takes (%d positions): using %d.",
            data_args.max_seq_length,
            name,
            limits[name],
            limits[name],
        )
        data_args.max_seq_length = limits[name]


def use_cpu_cores(training_args: DistillationTrainingArguments, num_threads: int | None) -> None:
    """Threads for a CPU run: ``--num_threads`` when given; else, when OMP_NUM_THREADS=1 is `accelerate launch`'s
    default (not the user's), the physical cores divided among this machine's processes, as ``accelerate launch
    --cpu`` picks; else torch's own choice (OMP_NUM_THREADS)."""
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    elif training_args.device.type == "cpu" and launcher_default_threads():
        import psutil

        processes = int(os.environ.get("LOCAL_WORLD_SIZE", training_args.world_size))
        threads = max((psutil.cpu_count(logical=False) or os.cpu_count() or 1) // max(processes, 1), 1)
        torch.set_num_threads(threads)
        logger.info("CPU run: %d thread(s) per process (accelerate launch's OMP_NUM_THREADS=1 overridden).", threads)


def launcher_default_threads() -> bool:
    """Whether OMP_NUM_THREADS=1 here was set by `accelerate launch` by default: it passes its own environment's
    OMP_NUM_THREADS, or ``--num_cpu_threads_per_process``, and else 1. Its process is this one's parent (also for
    several processes: torch's launcher runs inside it), so its environment and command line tell which."""
    if os.environ.get("OMP_NUM_THREADS") != "1" or "ACCELERATE_DYNAMO_BACKEND" not in os.environ:
        return False  # not launched by accelerate, or launched with more threads
    import psutil

    try:
        launcher = psutil.Process().parent()
        chosen = "OMP_NUM_THREADS" in launcher.environ() or "--num_cpu_threads_per_process" in launcher.cmdline()
    except (psutil.Error, AttributeError, OSError):
        return True  # unreadable: accelerate's default is by far the common case
    return not chosen


# ---- Failures while training or writing ----


def write_failure(error: BaseException, output_dir: str, started: float) -> OSError | None:
    """The one-line error for ``error`` when it was raised while writing a checkpoint or the trained model (None
    otherwise). Checkpoint folders this run began but did not finish are removed (the Trainer writes
    trainer_state.json last): resuming must not pick them; earlier complete checkpoints are never touched."""
    functions = {frame.name for frame in traceback.extract_tb(error.__traceback__)}
    if "_save_checkpoint" in functions:
        what = "a checkpoint"
    elif functions & {"save_model", "save_pretrained"}:
        what = "the trained model (its files there are incomplete)"
    else:
        return None
    removed = []
    for folder in Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        state = folder / TRAINER_STATE_NAME
        touched = any(path.stat().st_mtime >= started for path in folder.iterdir())
        if touched and not (state.is_file() and state.stat().st_mtime >= started):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    checkpoints = complete_checkpoints(output_dir)
    kept = (
        f"the last complete checkpoint, {checkpoints[-1].name}, is kept (after freeing space, resume it with "
        "--resume_from_checkpoint true)"
        if checkpoints
        else "no complete checkpoint is kept"
    )
    free_mb = shutil.disk_usage(output_dir).free // 2**20
    cause = " ".join(str(error).split())
    removed_text = f"removed the incomplete {', '.join(sorted(removed))}; " if removed else ""
    return OSError(f"could not write {what} in {output_dir} ({cause}; {free_mb} MB free); {removed_text}{kept}.")


def run(argv: list[str] | None = None) -> dict[str, Any]:
    remove_stale_results(argv)  # first: a failed run must not leave an older run's results looking like its own
    model_args, data_args, training_args, method_args, config_path = parse_arguments(argv)
    task = get_task(data_args.task_name)
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s", level=logging.INFO)
    transformers.set_seed(training_args.seed)  # fresh heads and layers are drawn before the Trainer seeds
    if not training_args.should_log:
        logger.setLevel(logging.WARNING)
    check_writable(training_args.output_dir)
    check_model_paths(model_args, data_args, training_args.teacher_model_name_or_path)
    resolve_resume(training_args)
    use_cpu_cores(training_args, data_args.num_threads)
    train, evals = load_data(data_args, task, training_args)
    logger.info("%s: %d training rows, dev %s", task.name, len(train), {k: len(v) for k, v in evals.items()})
    started = time.time()
    try:
        if model_args.stage == "teacher":
            results = run_teacher_stage(model_args, data_args, training_args, task, train, evals)
        else:
            results = run_distill_stage(model_args, data_args, training_args, method_args, task, train, evals)
    except Exception as error:
        failure = write_failure(error, training_args.output_dir, started)
        if failure is None:
            raise
        raise failure from error
    command = argv if argv is not None else sys.argv[1:]
    results = {
        "task": task.name,
        "stage": model_args.stage,
        "command": redact_command(["python", "recipes/run_glue_distill.py", *map(str, command)]),
        "eval_split": task.main_eval_split,
        "main_metric": main_metric_name(task, results),
        **results,
        **environment(training_args),
        "config": configuration(model_args, data_args, training_args, method_args, config_path),
    }
    results = recorded(results, model_args)  # no secret in results.json, the card or the push
    if training_args.process_index == 0:
        # No "results written" log line: accelerate launch relays stderr after stdout, so it would follow the summary.
        write_results(training_args.output_dir, results)
        if training_args.push_to_hub and model_args.stage == "distill":
            push_to_hub(training_args, results, model_args.model_card_template)
        print(summary_line(results, training_args.output_dir), flush=True)
    return results


def push_to_hub(
    training_args: DistillationTrainingArguments, results: dict[str, Any], model_card_template: str | None = None
) -> None:
    """``--push_to_hub``: the student alone, with the card rendered from ``results`` (hf_distill.hub.push)."""
    repo_id = training_args.hub_model_id or Path(training_args.output_dir).absolute().name
    commit = push_student(
        training_args.output_dir,
        repo_id,
        token=training_args.hub_token,
        private=training_args.hub_private_repo,
        revision=training_args.hub_revision,
        results=results,
        commit_message="End of training",
        model_card_template=model_card_template,
    )
    logger.info("Pushed the student to %s", commit.commit_url)


def main(argv: list[str] | None = None) -> int:
    try:
        run(argv)
    except HubPushError as error:  # the run is complete and saved; the message says how to push it again
        print(f"run_glue_distill.py: {error}", file=sys.stderr)
        return 1
    except (ValueError, OSError, NonFiniteTrainingError) as error:  # one line, no traceback, no results.json
        if os.environ.get("HF_DISTILL_TRACEBACK"):
            raise
        message = " ".join(str(error).split())
        print(f"run_glue_distill.py: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
