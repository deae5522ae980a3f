"""The trainer each benchmarked training method uses, built the way a user of that method builds it."""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from .baseline import DocsDistillationTrainer


def training_arguments(output_dir: str, config: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Keyword arguments shared by every method: same batch, steps, learning rate and seed; no logging or saving.

    Rows are lists of dicts holding model inputs only (and ``teacher_logits``), so no column is removed: the
    Trainer's column filter would drop ``teacher_logits`` from a list (it knows the teacher columns of a
    `datasets.Dataset` only)."""
    values = dict(
        output_dir=output_dir, max_steps=config["steps"], per_device_train_batch_size=config["batch"],
        learning_rate=5e-5, seed=config["seed"], report_to="none", disable_tqdm=True, save_strategy="no",
        logging_strategy="no", use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        remove_unused_columns=False,
    )  # fmt: skip
    values.update(overrides)
    return values


def teacher_cache(config: dict[str, Any], teacher: Any, rows: list[dict]) -> tuple[Any, Any, dict[str, Any]]:
    """``rows`` with a ``teacher_logits`` column, the teacher to train with (None: released), and how the cache was
    made.

    The logits come from `hf_distill.cache.cached_teacher_logits` (a safetensors file, stored and read back as a
    user's second run would), which takes a `datasets.Dataset`. Where the ``datasets`` package is missing (the GPU
    machine), the teacher's logits are written into each row directly; training then costs the same, since either
    way no teacher runs during the steps.
    """
    import importlib.util
    import tempfile
    import time

    start = time.perf_counter()
    if torch.cuda.is_available():
        teacher.to("cuda")
    if importlib.util.find_spec("datasets") is None:
        logits = _teacher_logits(teacher, rows, config["batch"]).tolist()
        rows = [{**row, "teacher_logits": row_logits} for row, row_logits in zip(rows, logits)]
        return rows, None, {"source": "teacher_logits column", "seconds": time.perf_counter() - start}
    import datasets
    from transformers import AutoTokenizer

    from hf_distill.cache import add_teacher_logits, cached_teacher_logits

    tokenizer = AutoTokenizer.from_pretrained(config["teacher"]["path"])
    dataset = datasets.Dataset.from_list(rows)
    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/teacher_logits.safetensors"
        cached_teacher_logits(path, teacher, dataset, tokenizer, ["input_ids", "labels"], show_progress=False)
        logits, info = cached_teacher_logits(
            path, teacher, dataset, tokenizer, ["input_ids", "labels"], show_progress=False
        )
    assert info["hit"], "the second cached_teacher_logits call must read the file the first one wrote"
    return (
        add_teacher_logits(dataset, logits),
        None,
        {"source": "hf_distill.cache", "seconds": time.perf_counter() - start},
    )


def _teacher_logits(teacher: torch.nn.Module, rows: list[dict], batch_size: int) -> torch.Tensor:
    """The teacher's logits ``[rows, labels]`` for every row (equal-length token rows), in order."""
    device = next(teacher.parameters()).device
    teacher.eval()
    logits = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            inputs = {key: torch.tensor([row[key] for row in batch], device=device)
                      for key in ("input_ids", "attention_mask")}  # fmt: skip
            logits.append(teacher(**inputs).logits.float().cpu())
    return torch.cat(logits)


def make_trainer(
    config: dict[str, Any],
    student: torch.nn.Module,
    teacher: torch.nn.Module | None,
    dataset: Any,
    output_dir: str,
    callbacks: list,
) -> Trainer:
    """The trainer of ``config["method"]`` over ``dataset`` (tokenized, with ``labels``)."""
    from hf_distill import DistillationTrainer, DistillationTrainingArguments

    method = config["method"]
    common = training_arguments(output_dir, config)
    if method == "plain":
        return Trainer(model=student, args=TrainingArguments(**common), train_dataset=dataset, callbacks=callbacks)
    if method == "docs_kd":
        return DocsDistillationTrainer(
            model=student, args=TrainingArguments(**common), train_dataset=dataset, callbacks=callbacks,
            teacher_model=teacher, temperature=2.0, lambda_param=0.5,
        )  # fmt: skip
    kd_args = DistillationTrainingArguments(**common, temperature=2.0, alpha=0.5)
    if method == "logit_kd":
        return DistillationTrainer(
            model=student, teacher_model=teacher, args=kd_args, train_dataset=dataset, callbacks=callbacks
        )
    if method == "cached_kd":  # dataset already has teacher_logits (teacher_cache); teacher may be None
        return DistillationTrainer(
            model=student, teacher_model=teacher, args=kd_args, train_dataset=dataset, callbacks=callbacks
        )
    if method.startswith("preset:"):  # an intermediate-layer preset on top of logit KD
        kd_args = DistillationTrainingArguments(**common, temperature=2.0, alpha=0.5, distill_preset=method[7:])
        return DistillationTrainer(
            model=student, teacher_model=teacher, args=kd_args, train_dataset=dataset, callbacks=callbacks
        )
    raise ValueError(f"Unknown benchmark method {method!r}.")
