"""The results file of a suite: written after every finished unit, read back to skip what is done, merged.

A unit is a row of a rows suite (``standard``) or a section / quality method of a section suite (``tiny``,
``quick``, ``full``). The file is rewritten atomically (temporary file, then rename) after each unit, so a run cut
short (a killed job, a command time limit) loses at most the unit in flight, and a rerun continues from there.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from pathlib import Path
from typing import Any


def load(path: str | Path) -> dict[str, Any] | None:
    """The results stored at ``path``, or None when there is no such file."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def save(path: str | Path, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path`` atomically: a reader (or a run cut short) never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(results, indent=1, default=str) + "\n")
    os.replace(temporary, path)


def stamp() -> str:
    """The local date and time, ISO 8601 with the UTC offset."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def selected(name: str, patterns: list[str] | None) -> bool:
    """Whether unit ``name`` matches one of the shell-style ``patterns`` (every unit when there are none)."""
    return not patterns or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def done(entry: dict[str, Any] | None) -> bool:
    """A stored unit counts as done when it exists and did not fail (failed units run again)."""
    return isinstance(entry, dict) and "error" not in entry


def merge_units(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """``{name: unit}`` of both; where both hold a unit, the done one wins, else the later (``second``)."""
    merged = dict(first)
    for name, unit in second.items():
        if name not in merged or done(unit) or not done(merged[name]):
            merged[name] = unit
    return merged


def merge_sections(first: dict[str, Any], second: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The sections ``names`` of two results files of a section suite, as one: a section from either (the done one
    when both hold it, else the later); the quality section's cases and methods unit by unit."""
    merged = dict(first)
    for name in names:
        if name not in second:
            continue
        if name == "quality" and name in merged:
            merged[name] = _merge_quality(merged[name], second[name])
        elif name not in merged or done(second[name]) or not done(merged[name]):
            merged[name] = second[name]
    return merged


def _merge_quality(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    cases = dict(first.get("cases", {}))
    for key, entry in second.get("cases", {}).items():
        if key in cases:
            entry = {**cases[key], **entry, "methods": merge_units(cases[key]["methods"], entry["methods"])}
        cases[key] = entry
    merged = {**first, **second, "cases": cases}
    merged["not_available"] = {**first.get("not_available", {}), **second.get("not_available", {})}
    return merged
