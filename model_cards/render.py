"""The model cards of the reference students: ``model_cards/<config>.md`` rendered from ``<config>/results.json``.

``<config>`` names a recipe config, ``recipes/configs/<config>.yaml``; its ``results.json`` is the one that
``recipes/run_glue_distill.py --config recipes/configs/<config>.yaml`` wrote in its output folder. Each card is
rendered by hf_distill's own `render_model_card`, with the template next to this script
(``model_cards/distilled_student.md``, the same file as the packaged default), so a card holds only what its run
measured.

    python model_cards/render.py            # (re)write every card
    python model_cards/render.py --check    # exit 1 when a committed card differs from its re-rendering

A card must read the same on every machine: it is rendered from an empty temporary working and home folder (an
absolute path shows as ``.../name``; no local checkpoint is read), and the license must be stated in results.json
(``"license": "apache-2.0"``, the teacher's and the student checkpoint's), not looked up in a local checkpoint.
The card's repo id is the run's ``hub_model_id`` (``--hub_model_id``), when it had one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hf_distill import render_model_card

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "distilled_student.md"
NOT_CARDS = {TEMPLATE.name, "README.md"}
CONFIGS = HERE.parent / "recipes" / "configs"


@contextlib.contextmanager
def neutral_machine() -> Iterator[None]:
    """Working directory and HOME in an empty temporary folder, restored afterwards."""
    cwd, home = os.getcwd(), os.environ.get("HOME")
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        os.environ["HOME"] = folder
        try:
            yield
        finally:
            os.chdir(cwd)
            if home is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = home


def render(results_path: Path, template: Path = TEMPLATE) -> str:
    """The card (front matter and Markdown) of the run whose results are at ``results_path``."""
    results = json.loads(results_path.read_text())
    if not results.get("license"):
        raise ValueError(
            f'{results_path} states no license: add "license": "<id>" (that of the teacher and the student '
            "checkpoint), so that the card does not depend on the checkpoints of the machine rendering it."
        )
    repo_id = ((results.get("config") or {}).get("training") or {}).get("hub_model_id")
    with neutral_machine():
        return render_model_card(results, repo_id=repo_id, template_path=template.resolve()).content


def cards(folder: Path = HERE, configs: Path = CONFIGS) -> dict[Path, Path]:
    """``{results.json: card path}`` of every ``<config>/results.json`` under ``folder``; each ``<config>`` must be a
    recipe config in ``configs``."""
    pairs = {}
    for results_path in sorted(folder.glob("*/results.json")):
        config = results_path.parent.name
        if not (configs / f"{config}.yaml").is_file():
            raise ValueError(
                f"{results_path}: {config!r} is not a recipe config ({configs}/{config}.yaml is missing)."
            )
        pairs[results_path] = folder / f"{config}.md"
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="Compare the committed cards, write nothing.")
    parser.add_argument("--folder", type=Path, default=HERE, help="Where <config>/results.json are (default: here).")
    parser.add_argument("--configs", type=Path, default=CONFIGS, help="The recipe configs (default: recipes/configs).")
    args = parser.parse_args(argv)
    try:
        pairs = cards(args.folder, args.configs)
        stale = []
        for results_path, card_path in pairs.items():
            text = render(results_path)
            if args.check:
                if not card_path.is_file() or card_path.read_bytes() != text.encode():
                    stale.append(card_path.name)
            else:
                card_path.write_bytes(text.encode())
    except (ValueError, OSError) as error:
        print(f"render.py: error: {error}", file=sys.stderr)
        return 1
    if args.check:
        orphans = {path for path in args.folder.glob("*.md") if path.name not in NOT_CARDS} - set(pairs.values())
        stale += [f"{path.name} (no {path.stem}/results.json)" for path in sorted(orphans)]
    if stale:
        print(f"render.py: out of date (run python model_cards/render.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    print(f"{len(pairs)} card(s) {'up to date' if args.check else 'written'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
