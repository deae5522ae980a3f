"""What the numbers were measured on, and which library features exist in this checkout."""

from __future__ import annotations

import importlib
import importlib.util
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


# Modules other issues own: a feature is measured only when its module imports in this checkout.
FEATURES = {
    "teacher_cache": "hf_distill.cache",
    "intermediate_presets": "hf_distill.terms",
    "students": "hf_distill.methods.students",
    "theseus": "hf_distill.methods.theseus.modeling_theseus",
    "fastbert": "hf_distill.modeling_fastbert",
    "metadistil": "hf_distill.methods.metadistil.metadistil_trainer",
    "bilstm": "hf_distill.methods.bilstm.modeling_bilstm",
    "glue": "hf_distill.glue",
}


def feature_status() -> dict[str, dict[str, Any]]:
    """``{feature: {"available": bool, "module": name, "reason": str}}`` by importing each owning module."""
    status = {}
    for feature, module in FEATURES.items():
        status[feature] = {"module": module, **_import_status(module)}
    recipes = REPO_ROOT / "recipes" / "methods.py"
    status["recipes"] = {
        "module": "recipes/methods.py",
        "available": recipes.exists(),
        "reason": "" if recipes.exists() else "recipes/methods.py is not in this checkout (issue 4)",
    }
    return status


def _import_status(module: str) -> dict[str, Any]:
    if importlib.util.find_spec(module.rsplit(".", 1)[0]) is None or importlib.util.find_spec(module) is None:
        return {"available": False, "reason": f"{module} is not in this checkout"}
    try:
        importlib.import_module(module)
    except Exception as error:  # an import that fails is reported, not hidden
        return {"available": False, "reason": f"import {module} failed: {type(error).__name__}: {error}"}
    return {"available": True, "reason": ""}
