"""What the numbers were measured on."""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(shared: bool) -> dict[str, Any]:
    """CPU model, cores, torch threads, library versions, GPU (if any), load average and the shared flag."""
    import torch
    import transformers

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_start": _load_average(),
        "shared_machine": shared,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return info


def machine_slug(info: dict[str, Any]) -> str:
    """A file-name-safe machine label: ``cpu-<model>-<n>c`` or ``cuda-<gpu name>``."""
    if info["gpu"]:
        name = "cuda-" + info["gpu"]
    else:
        name = f"cpu-{info['cpu']}-{info['cpu_count']}c"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
