"""The recipes' ``--config file.yaml|json``: its values become the `HfArgumentParser`'s defaults, so a flag given on
the command line overrides them. Shared by `run_glue_distill.py` and `run_general_distill.py`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser

CONFIG_HELP = "YAML or JSON file of arguments (the flag names without '--'); flags on the command line win."


def load_config(path: str) -> dict[str, Any]:
    """The mapping in a JSON (``.json``) or YAML (anything else) file, with ``~`` and ``$VARIABLES`` expanded."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"config file {path} does not exist.")
    text = Path(path).read_text()
    try:
        config = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ValueError(
            f"config file {path} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: {error}"
        ) from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ValueError(f"config file {path} must hold a mapping of argument names to values.")
    return {key: _expand(value) for key, value in config.items()}


def _expand(value: Any) -> Any:
    """``~`` and ``$VARIABLES`` expanded in string values, so configs can name local checkpoints portably."""
    if isinstance(value, str) and (value.startswith("~") or "$" in value):
        return os.path.expandvars(os.path.expanduser(value))
    return value


def parse_with_config(parser: HfArgumentParser, argv: list[str] | None) -> tuple[list[Any], str | None]:
    """``(dataclasses, config_path)``: ``parser``'s dataclasses from ``--config`` (which ``parser`` must define,
    with `CONFIG_HELP`) and the flags in ``argv``, the flags winning. A config key that is no flag of ``parser``
    raises `ValueError` naming it."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    config_path = pre.parse_known_args(argv)[0].config
    if config_path:
        config = load_config(config_path)
        destinations = {action.dest for action in parser._actions} - {"help", "config"}
        unknown = sorted(set(config) - destinations)
        if unknown:
            raise ValueError(
                f"config file {config_path}: unknown key(s) {', '.join(unknown)}; keys are this recipe's flags "
                "without '--' (see --help)."
            )
        for action in parser._actions:
            if action.dest in config:
                action.default = config[action.dest]
                action.required = False
    *dataclasses_, _ = parser.parse_args_into_dataclasses(args=argv)  # the last one is the --config namespace
    return dataclasses_, config_path
