"""The recipes' command line: ``--config file.yaml|json``, whose values become the `HfArgumentParser`'s defaults so
that a flag given on the command line overrides them, and one-line errors for every bad flag or value. Shared by
`run_glue_distill.py` and `run_general_distill.py`."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import typing
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser
from transformers.hf_argparser import string_to_bool

CONFIG_HELP = "YAML or JSON file of arguments (the flag names without '--'); flags on the command line win."
_KINDS = {int: "an integer", float: "a number", str: "a string", string_to_bool: "true or false"}


class RecipeArgumentParser(HfArgumentParser):
    """`HfArgumentParser` for the recipes: no abbreviated flags (a typo such as ``--learning_rat 1`` is refused, not
    taken for ``--learning_rate``), and a command-line error raises `ValueError`, which the recipe prints as one line
    with exit code 1 like any other bad input (argparse would print its usage and exit with 2). ``--help`` is
    unchanged."""

    def __init__(self, dataclass_types: Any, **kwargs: Any) -> None:
        super().__init__(dataclass_types, allow_abbrev=False, **kwargs)

    def error(self, message: str):
        raise ValueError(f"{message} (see --help)")


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


def _known_flags(argv: list[str] | None, *names: str) -> argparse.Namespace:
    """``--name value`` of each of ``names`` from ``argv`` (None when absent), ignoring every other flag."""
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for name in names:
        pre.add_argument(f"--{name}", default=None)
    try:
        return pre.parse_known_args(argv)[0]
    except argparse.ArgumentError as error:
        raise ValueError(f"{error} (see --help)") from None


def early_value(argv: list[str] | None, name: str) -> Any:
    """The value of flag ``name`` from the command line, else from ``--config``, before the full parse (None when
    absent or when the config cannot be read: the full parse reports that), so that a recipe can act on it before
    any parsing error can stop it."""
    known = _known_flags(argv, "config", name)
    value = getattr(known, name)
    if value is None and known.config:
        try:
            value = load_config(known.config).get(name)
        except (OSError, ValueError):
            return None
    return value


def parse_with_config(parser: HfArgumentParser, argv: list[str] | None) -> tuple[list[Any], str | None]:
    """``(dataclasses, config_path)``: ``parser``'s dataclasses from ``--config`` (which ``parser`` must define,
    with `CONFIG_HELP`) and the flags in ``argv``, the flags winning. A config key that is no flag of ``parser``, a
    config value of the wrong type and a command-line flag that is no flag of ``parser`` raise `ValueError` naming
    them."""
    config_path = _known_flags(argv, "config").config
    if config_path:
        config = load_config(config_path)
        destinations = {action.dest for action in parser._actions} - {"help", "config"}
        unknown = sorted(set(config) - destinations)
        if unknown:
            raise ValueError(
                f"config file {config_path}: unknown key(s) {', '.join(unknown)}; keys are this recipe's flags "
                "without '--' (see --help)."
            )
        hints = _type_hints(parser)
        values: dict[str, Any] = {}
        for action in parser._actions:
            if action.dest in config:
                if action.dest not in values:  # the flag itself, before any --no_<flag> twin
                    values[action.dest] = _config_value(config_path, action, hints.get(action.dest), config)
                action.default = values[action.dest]
                action.required = False
    _, remaining = parser.parse_known_args(args=argv)
    if remaining:
        raise ValueError(_unknown_flags_message(parser, remaining))
    *dataclasses_, _ = parser.parse_args_into_dataclasses(args=argv)  # the last one is the --config namespace
    return dataclasses_, config_path


def _unknown_flags_message(parser: HfArgumentParser, remaining: list[str]) -> str:
    flags = [arg for arg in remaining if arg.startswith("-")] or remaining
    options = [option for action in parser._actions for option in action.option_strings]
    close = difflib.get_close_matches(flags[0].split("=")[0], options, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown argument(s) {' '.join(remaining)}{hint}; see --help for the flags."


def _type_hints(parser: HfArgumentParser) -> dict[str, Any]:
    """Each dataclass field's declared type (`HfArgumentParser` rewrites ``field.type`` of optional fields)."""
    hints: dict[str, Any] = {}
    for dataclass_type in parser.dataclass_types:
        hints.update(typing.get_type_hints(dataclass_type))
    return hints


def _config_value(path: str, action: argparse.Action, hint: Any, config: dict[str, Any]) -> Any:
    """``config[action.dest]`` converted as the same text on the command line would be; `ValueError` naming the key
    when it has the wrong type (a list or mapping for a single value, text that is no number, null for a required
    value, a value that is not one of the choices)."""
    value, options = config[action.dest], typing.get_args(hint)
    kind = f"one of {', '.join(map(str, action.choices))}" if action.choices else _KINDS.get(action.type, "valid")
    wrong = ValueError(f"config file {path}: {action.dest}: {value!r} is not {kind}.")
    if value is None:
        if hint is None or type(None) in options or None in options:  # Optional[...] or Literal[None, ...]
            return None
        raise ValueError(f"config file {path}: {action.dest}: null is not {kind}.")
    if action.nargs in ("+", "*"):
        return [_convert(action, item, wrong) for item in (value if isinstance(value, list) else [value])]
    if isinstance(value, (list, dict)):
        if any(typing.get_origin(option) in (list, dict) or option in (list, dict) for option in (hint, *options)):
            return value  # e.g. intermediate_terms: list[dict] | str
        raise wrong
    return _convert(action, value, wrong)


def _convert(action: argparse.Action, value: Any, wrong: ValueError) -> Any:
    if isinstance(value, (list, dict)):
        raise wrong
    if action.type not in _KINDS and action.choices is None:
        return value  # another type (a config object, an enum list): the dataclass checks it
    try:
        converted = action.type(value if isinstance(value, str) else str(value))
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        raise wrong from None
    if action.choices is not None and converted not in action.choices:
        raise wrong
    return converted
