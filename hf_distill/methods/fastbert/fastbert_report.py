"""FastBERT's speed table: accuracy, layers, FLOPs and measured wall-clock speedup for a list of ``speed`` values.

For each ``speed`` the model predicts the evaluation set adaptively (exited examples are really dropped from the
batch, see `modeling_fastbert.py`) and the table reports, next to the full model (the exported backbone, a standard
``*ForSequenceClassification``):

- ``accuracy`` and ``avg_layers`` (mean layers run per example) and ``layer_reduction = L / avg_layers``;
- ``relative_flops``: per example, with its own token count ``s``, FLOPs of the layers it ran + the branch
  classifiers it consulted + the final head when it got there, over ``L`` layers + the final head (matmuls only);
- ``speedup_batch{B}``: the full model's wall time over the same batches divided by the adaptive model's, for each
  batch size ``B`` (batches in dataset order, dynamically padded). Runs alternate and each time is the minimum over
  ``repeats`` rounds, which is robust to other processes sharing the CPU.

The plain backbone's row has ``speed`` None; the ``speed = 0`` row is the wrapper running every layer (no branch),
so its speedup shows the wrapper's own overhead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ...modeling_fastbert import FastBertForSequenceClassification, check_speed, exit_rule

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def layer_flops(config: Any, seq_len: int | torch.Tensor) -> float | torch.Tensor:
    """FLOPs (2 x multiply-adds) of one encoder layer on ``seq_len`` tokens: Q, K, V, output projections
    ``8 s H^2``, attention scores and context ``4 s^2 H``, feed-forward ``4 s H I``."""
    hidden, intermediate = config.hidden_size, config.intermediate_size
    return 8 * seq_len * hidden**2 + 4 * seq_len**2 * hidden + 4 * seq_len * hidden * intermediate


def example_flops(
    model: FastBertForSequenceClassification, exit_layers: torch.Tensor, seq_lens: torch.Tensor, speed: float
) -> torch.Tensor:
    """FLOPs per example (``[n]``) of adaptive inference that ran ``exit_layers [n]``
    layers on ``seq_lens [n]`` tokens.

    Branches are consulted after layers ``1 .. min(exit, L - 1)`` when ``speed > 0`` (none at ``speed = 0``); the
    final head (pooler/dense ``2 H^2`` + classifier ``2 H C``) runs for examples that reach layer ``L``.
    """
    encoder, config = model.config.encoder_config, model.config
    hidden, labels, num_layers = encoder.hidden_size, config.num_labels, model.num_layers
    seq_lens, exit_layers = seq_lens.double(), exit_layers.double()
    final_head = 2 * hidden**2 + 2 * hidden * labels
    branch = 2 * seq_lens * hidden + 2 * hidden * config.branch_hidden_size + 2 * config.branch_hidden_size * labels
    branches_run = exit_layers.clamp(max=num_layers - 1) if speed > 0 else torch.zeros_like(exit_layers)
    reached_end = (exit_layers == num_layers).double()
    return exit_layers * layer_flops(encoder, seq_lens) + branches_run * branch + reached_end * final_head


def full_flops(model: FastBertForSequenceClassification, seq_lens: torch.Tensor) -> torch.Tensor:
    """FLOPs per example of the plain backbone: every layer and the final head."""
    return example_flops(model, torch.full_like(seq_lens, model.num_layers), seq_lens, speed=0.0)


def _batches(features: Sequence[dict[str, Any]], collate: Callable, batch_size: int) -> list[dict[str, Any]]:
    rows = [{k: v for k, v in row.items() if k in MODEL_INPUTS} for row in features]
    return [collate(rows[start : start + batch_size]) for start in range(0, len(rows), batch_size)]


@torch.no_grad()
def _timed(model: Any, batches: list[dict[str, Any]], speed: float | None) -> tuple[float, torch.Tensor | None]:
    """Wall time over ``batches`` and, for the adaptive model, the exit layers ``[n]``."""
    exits = []
    start = time.perf_counter()
    for batch in batches:
        output = model(**batch) if speed is None else model(**batch, speed=speed)
        if speed is not None:
            exits.append(output.exit_layers)
    seconds = time.perf_counter() - start
    return seconds, torch.cat(exits) if exits else None


@torch.no_grad()
def all_layer_logits(
    model: FastBertForSequenceClassification, features: Sequence[dict[str, Any]], collate: Callable, batch_size: int
) -> torch.Tensor:
    """Every classifier's logits ``[L, n, C]`` over ``features`` (all layers run, no exit)."""
    model.eval()
    batches = _batches(features, collate, batch_size)
    return torch.cat([model(**batch, output_layer_logits=True).layer_logits for batch in batches], dim=1)


def speed_report(
    model: FastBertForSequenceClassification,
    features: Sequence[dict[str, Any]],
    collate: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
    speeds: Sequence[float],
    batch_sizes: Sequence[int] = (1, 32),
    timing_rows: Mapping[int, int] | int | None = None,
    repeats: int = 1,
    label_column: str = "label",
    eval_batch_size: int = 64,
) -> list[dict[str, Any]]:
    """The speed table (see the module docstring): one row for the full model (``speed`` None) then one per speed.

    Accuracy, layers and FLOPs cover all of ``features``: they come from one pass computing every layer's logits
    and [`exit_rule`] (what adaptive inference computes; test_fastbert.py checks it). Wall-clock times come
    from real adaptive runs (exited rows dropped) on the first ``timing_rows`` examples (per batch size when a
    mapping; all when None), and each row records ``exit_agreement_batch{B}``, the fraction of timed examples whose
    exit layer in the timed run equals the rule's (1.0 up to float ties).

    Args:
        features: tokenized examples (``input_ids``, ``attention_mask``, optional ``token_type_ids``, the label
            under ``label_column``), unpadded; a `datasets.Dataset` works.
        collate: pads a list of examples into a batch of tensors (e.g. `DataCollatorWithPadding(tokenizer)`).
        speeds: exit thresholds in [0, 1].
        batch_sizes: the batch sizes to time.
        repeats: timing rounds (configurations alternate inside a round); each time is the minimum over rounds.
    """
    speeds = [check_speed(speed) for speed in speeds]
    if not speeds or not batch_sizes or any(int(b) < 1 for b in batch_sizes) or repeats < 1:
        raise ValueError(
            f"speed_report needs at least one speed, positive batch sizes and repeats >= 1; got speeds={speeds}, "
            f"batch_sizes={list(batch_sizes)}, repeats={repeats}."
        )
    features = list(features)
    if not features or label_column not in features[0]:
        raise ValueError(f"features must be a non-empty list of tokenized examples with a {label_column!r} column.")
    labels = torch.tensor([int(row[label_column]) for row in features])
    seq_lens = torch.tensor([int(sum(row["attention_mask"])) for row in features])
    layer_logits = all_layer_logits(model, features, collate, eval_batch_size)
    full_cost = full_flops(model, seq_lens).sum()
    configurations: list[float | None] = [None, *speeds]
    rows: list[dict[str, Any]] = []
    for speed in configurations:
        exits, logits = exit_rule(layer_logits, 0.0 if speed is None else speed)
        cost = full_cost if speed is None else example_flops(model, exits, seq_lens, speed).sum()
        avg_layers = exits.double().mean().item()
        rows.append(
            {
                "speed": speed,
                "accuracy": (logits.argmax(-1) == labels).double().mean().item(),
                "avg_layers": avg_layers,
                "layer_reduction": model.num_layers / avg_layers,
                "relative_flops": (cost / full_cost).item(),
            }
        )

    full = model.export_backbone().eval()
    for batch_size in batch_sizes:
        count = timing_rows.get(batch_size) if isinstance(timing_rows, Mapping) else timing_rows
        timed = features[: count or len(features)]
        batches = _batches(timed, collate, int(batch_size))
        _timed(full, batches[:3], None)  # warm-up
        seconds = [float("inf")] * len(configurations)
        for _ in range(repeats):
            for index, speed in enumerate(configurations):
                elapsed, exits = _timed(full if speed is None else model, batches, speed)
                seconds[index] = min(seconds[index], elapsed)
                if exits is not None:
                    expected = exit_rule(layer_logits[:, : len(timed)], speed)[0]
                    rows[index][f"exit_agreement_batch{batch_size}"] = (exits == expected).double().mean().item()
        for index, row in enumerate(rows):
            row[f"timed_rows_batch{batch_size}"] = len(timed)
            row[f"seconds_batch{batch_size}"] = seconds[index]
            row[f"speedup_batch{batch_size}"] = seconds[0] / seconds[index]
    return rows


def format_report(rows: Sequence[dict[str, Any]]) -> str:
    """The table as aligned text (``speed`` "full" for the plain backbone)."""
    columns = [name for name in rows[-1] if not name.startswith(("timed_rows", "seconds"))]
    lines = ["  ".join(f"{name:>16}" for name in columns)]
    for row in rows:
        cells = [_cell(row.get(name, ""), name) for name in columns]
        lines.append("  ".join(f"{cell:>16}" for cell in cells))
    return "\n".join(lines)


def _cell(value: Any, name: str) -> str:
    if value is None:
        return "full" if name == "speed" else ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def plot_speed_curve(rows: Sequence[dict[str, float]], path: str, title: str = "FastBERT") -> str:
    """Accuracy against measured speedup (one line per timed batch size, plus FLOPs speedup), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adaptive = [row for row in rows if row["speed"] is not None]
    full = next((row for row in rows if row["speed"] is None), None)
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    keys = [key for key in rows[0] if key.startswith("speedup_batch")]
    for key in keys:
        axis.plot(
            [row[key] for row in adaptive],
            [100 * row["accuracy"] for row in adaptive],
            "o-",
            label=f"measured, {key.removeprefix('speedup_')}",
        )
    axis.plot(
        [1 / row["relative_flops"] for row in adaptive],
        [100 * row["accuracy"] for row in adaptive],
        "s--",
        label="FLOPs ratio",
    )
    for row in adaptive:
        axis.annotate(
            f"{row['speed']:g}",
            (1 / row["relative_flops"], 100 * row["accuracy"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    if full is not None:
        axis.axhline(100 * full["accuracy"], color="gray", linestyle=":", label="full model")
        axis.axhline(100 * full["accuracy"] - 1, color="lightgray", linestyle=":", label="full model - 1 point")
    axis.set_xlabel("speedup over the full model (x)")
    axis.set_ylabel("accuracy (%)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_speed_results(
    model: FastBertForSequenceClassification,
    features: Sequence[dict[str, Any]],
    collate: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
    speeds: Sequence[float],
    output_dir: str,
    batch_sizes: Sequence[int] = (1, 32),
    timing_rows: Mapping[int, int] | int | None = None,
    repeats: int = 1,
    label_column: str = "label",
    title: str = "FastBERT",
) -> dict[str, Any]:
    """`speed_report` + `plot_speed_curve` for a training recipe: returns ``{"speed_table": rows, "speed_curve":
    "<output_dir>/fastbert_speed_curve.png", "best_2x_within_1_point": row or None}`` for its ``results.json``.

    ``best_2x_within_1_point`` is the row with the largest layer reduction among those running at least 2x fewer
    layers than the full model while losing at most 1 point of accuracy (the target this library sets for FastBERT).
    """
    rows = speed_report(
        model, features, collate, speeds, batch_sizes=batch_sizes, timing_rows=timing_rows, repeats=repeats,
        label_column=label_column,
    )  # fmt: skip
    full = rows[0]
    qualifying = [r for r in rows[1:] if r["layer_reduction"] >= 2 and r["accuracy"] >= full["accuracy"] - 0.01]
    path = plot_speed_curve(rows, str(Path(output_dir) / "fastbert_speed_curve.png"), title=title)
    return {
        "speed_table": rows,
        "speed_curve": path,
        "best_2x_within_1_point": max(qualifying, key=lambda r: r["layer_reduction"]) if qualifying else None,
    }
