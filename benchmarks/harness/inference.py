"""Inference: latency at batch 1 and throughput at batch 64 of the teacher and the exported student.

The student is exported the way a user ships it (``save_pretrained``) and reloaded with
``AutoModelForSequenceClassification.from_pretrained``, so what is timed is the plain transformers model. Inputs
are random token ids of exactly ``seq_len`` tokens. ``speedup`` = teacher time / student time,
``flop_ratio`` = teacher FLOPs / student FLOPs, ``efficiency`` = speedup / flop_ratio (target >= 0.9).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification

from .flops import forward_flops
from .models import build


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def forward_seconds(model: torch.nn.Module, batch: int, seq_len: int, repeats: int, warmup: int) -> float:
    """Median wall time of ``repeats`` forward passes on a ``[batch, seq_len]`` batch after ``warmup`` passes."""
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, model.config.vocab_size, (batch, seq_len), generator=generator).to(device)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    times = []
    with torch.inference_mode():
        for index in range(warmup + repeats):
            _sync(device)
            start = time.perf_counter()
            model(**inputs)
            _sync(device)
            if index >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def exported(model_spec: dict[str, Any]) -> torch.nn.Module:
    """The student saved with ``save_pretrained`` and loaded back with `AutoModelForSequenceClassification`."""
    with tempfile.TemporaryDirectory() as directory:
        build(model_spec).save_pretrained(directory)
        return AutoModelForSequenceClassification.from_pretrained(directory)


def measure_case(case: dict[str, Any], sizes: dict[str, Any]) -> dict[str, Any]:
    """Teacher vs exported student of one case: batch-1 latency, batch-64 throughput, FLOP ratio, efficiency.

    Each figure is the median over ``rounds`` rounds of the median forward time of the round's repeats.
    """
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    seq_len = sizes["seq_len"]
    models = {
        "teacher": build({"path": case["teacher"], "layers": None, "num_labels": 2}),
        "student": exported(case["student"]),
    }
    for model in models.values():
        model.to(device).eval()
    # Teacher and student alternate, round after round, so that a busy spell of the machine hits both alike.
    latency: dict[str, list[float]] = {name: [] for name in models}
    batch_time: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(sizes["rounds"]):
        for name, model in models.items():
            latency[name].append(forward_seconds(model, 1, seq_len, sizes["latency_repeats"], warmup=3))
            batch_time[name].append(
                forward_seconds(model, sizes["throughput_batch"], seq_len, sizes["throughput_repeats"], warmup=1)
            )
    results: dict[str, Any] = {}
    for name, model in models.items():
        results[name] = {
            "latency_ms": statistics.median(latency[name]) * 1000,
            "throughput_samples_per_s": sizes["throughput_batch"] / statistics.median(batch_time[name]),
            "forward_gflops": forward_flops(model.config, seq_len) / 1e9,
            "latency_ms_rounds": [seconds * 1000 for seconds in latency[name]],
        }
    teacher, student = results["teacher"], results["student"]
    flop_ratio = teacher["forward_gflops"] / student["forward_gflops"]
    for name in ("latency", "throughput"):
        if name == "latency":
            speedup = teacher["latency_ms"] / student["latency_ms"]
        else:
            speedup = student["throughput_samples_per_s"] / teacher["throughput_samples_per_s"]
        results[f"{name}_speedup"] = speedup
        results[f"{name}_efficiency"] = speedup / flop_ratio
    results["flop_ratio"] = flop_ratio
    results["seq_len"] = seq_len
    return results
