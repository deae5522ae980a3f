"""Pack checkpoints compactly for a machine that can only receive a few tens of MiB (the GPU ``full`` suite).

    python benchmarks/pack_models.py ~/.cache/hf-distill-models/minilm-l6 CARRY/models/minilm-l6
    python benchmarks/pack_models.py --config-only ~/.cache/hf-distill-models/mpnet-base CARRY/models/mpnet-base

Copies the config and tokenizer files and writes the weights as float16 safetensors (half the float32 size; the
harness loads them back in float32). ``--config-only`` leaves the weights out: the harness then builds the
architecture with random weights, which times like the real model and is used for nothing but timing
(all-mpnet-base-v2 is 219 MB even in float16).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

WEIGHTS = "model.safetensors"


def pack(source: Path, target: Path, config_only: bool = False) -> int:
    """Write the packed copy of ``source`` to ``target``; returns its size in bytes."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and path.suffix in (".json", ".txt", ".model") and path.name != f"{WEIGHTS}.index.json":
            shutil.copy2(path, target / path.name)
    if not config_only:
        tensors = load_file(source / WEIGHTS)
        half = {name: tensor.half() if tensor.is_floating_point() else tensor for name, tensor in tensors.items()}
        save_file({name: tensor.contiguous() for name, tensor in half.items()}, target / WEIGHTS, {"format": "pt"})
    return sum(path.stat().st_size for path in target.iterdir() if path.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="checkpoint folder with model.safetensors")
    parser.add_argument("target", type=Path)
    parser.add_argument("--config-only", action="store_true", help="config and tokenizer only (timing only)")
    options = parser.parse_args(argv)
    size = pack(options.source.expanduser(), options.target, options.config_only)
    print(f"{options.target}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
