"""Pushing a distilled student to the Hugging Face Hub: the student alone, as safetensors, with its tokenizer and card.

Two entry points share the same rules:

- [`HubMixin`], mixed into [`DistillationTrainer`]: ``trainer.push_to_hub()`` and the Trainer's ``push_to_hub`` /
  ``hub_model_id`` / ``hub_private_repo`` / ``hub_strategy`` arguments behave as in `transformers.Trainer`, except that
  what goes to the Hub is the student (no teacher, no projection layers, no Theseus predecessor modules: see
  [`HubMixin.export_student`]) plus a card rendered by [`render_model_card`].
- [`push_student`] (the ``hf_distill push OUTPUT_DIR REPO_ID`` command): pushes a finished run's folder.

The student is always saved locally before anything is sent; when the Hub cannot be reached or refuses the token,
[`HubPushError`] says where the student is and the command that pushes it again (with every flag of the push, the
token as ``$HF_TOKEN``). A repo asked to be private is never pushed to while it is public. What goes out holds no
token: the card and ``results.json`` go through [`hf_distill.hub.redaction.redact`], and the training arguments saved
in checkpoints (``training_args.bin``, pushed with ``hub_strategy="checkpoint"``) have their tokens removed.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import re
import shlex
import shutil
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import CommitInfo, HfApi
from torch import nn
from transformers import TrainingArguments
from transformers.dynamic_module_utils import get_relative_import_files
from transformers.trainer_utils import HubStrategy, SaveStrategy
from transformers.utils import logging
from transformers.utils.hub import PushInProgress, hf_api

from .model_card import HUB_ID, TRAINING_KEYS, local_folder, metric_values, render_model_card
from .redaction import is_secret_name, redact

logger = logging.get_logger(__name__)

RESULTS_NAME = "results.json"
CARD_NAME = "README.md"
DEFAULT_COMMIT_MESSAGE = "Upload distilled student"
# The top-level files of a saved student that go to the Hub, and nothing else: weights, config, tokenizer, card, plus
# the modelling code that config.json's auto_map names (see model_code_files). The run's results.json stays local.
STUDENT_FILE_PATTERNS = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    "chat_template.jinja",
    CARD_NAME,
)
# A local copy of a Hub model in the huggingface_hub cache: .../models--namespace--name/snapshots/<revision>
CACHE_SNAPSHOT = re.compile(r"models--([\w.-]+?)--([\w.-]+)/snapshots/[^/]+/?$")


class HubPushError(RuntimeError):
    """The Hub did not take the student (unreachable, token refused, ...); the student is saved locally."""


class PublicRepoError(HubPushError):
    """A private repo was asked for, but the repo exists and is public: nothing is pushed."""


def student_files(folder: str | Path) -> list[str]:
    """Names of the top-level files of ``folder`` that belong to the student's Hub repo: those of
    STUDENT_FILE_PATTERNS and the modelling code of [`model_code_files`]. Any other file (notes, scripts, results,
    training state) stays local."""
    folder = Path(folder)
    names = {path.name for pattern in STUDENT_FILE_PATTERNS for path in folder.glob(pattern) if path.is_file()}
    return sorted(names | set(model_code_files(folder)))


def model_code_files(folder: str | Path) -> list[str]:
    """The ``.py`` files of ``folder`` that ``trust_remote_code`` loading needs: the modules named by the
    ``auto_map`` of its config.json / tokenizer_config.json, with the modules they import relatively."""
    folder, modules = Path(folder), set()
    for name in ("config.json", "tokenizer_config.json"):
        path = folder / name
        auto_map = (json.loads(path.read_text()).get("auto_map") or {}) if path.is_file() else {}
        for value in auto_map.values():
            for reference in value if isinstance(value, list) else [value]:
                if isinstance(reference, str) and "--" not in reference:  # "repo--module.Class": code of another repo
                    modules.add(reference.rsplit(".", 1)[0] + ".py")
    files = set()
    for module in modules:
        if "/" not in module and (folder / module).is_file():
            files.add(module)
            imported = get_relative_import_files(folder / module)
            files.update(Path(path).name for path in imported if Path(path).is_file())
    return sorted(files)


def retry_command(
    output_dir: str | Path,
    repo_id: str | None,
    *,
    private: bool | None = None,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    student_base_model: str | None = None,
    teacher_hub_id: str | None = None,
    model_card_template: str | Path | None = None,
) -> str:
    """The ``hf_distill push`` command that repeats a push with all its flags; a token given explicitly appears as
    ``--token "$HF_TOKEN"``, never by its value."""
    command = ["hf_distill", "push", str(output_dir), repo_id or "REPO_ID"]
    if private:
        command.append("--private")
    options = {"--revision": revision, "--student_base_model": student_base_model, "--teacher_hub_id": teacher_hub_id}
    options["--model_card_template"] = str(model_card_template) if model_card_template else None
    if commit_message != DEFAULT_COMMIT_MESSAGE:
        options["--commit_message"] = commit_message
    for flag, value in options.items():
        command += [flag, value] if value else []
    return shlex.join(command) + (' --token "$HF_TOKEN"' if token else "")


def push_failure_message(error: BaseException, output_dir: str | Path, repo_id: str | None, **flags: Any) -> str:
    """What went wrong, where the student is, and the command that pushes it again (``flags``: those of
    [`retry_command`], the push's own)."""
    files = ", ".join(student_files(output_dir)) or "nothing yet"
    target = repo_id or "REPO_ID"
    token_hint = " (with HF_TOKEN set to your token)" if flags.get("token") else ""
    return (
        f"Pushing the student to the Hub repo {target!r} failed: {type(error).__name__}: {error}\n"
        f"The trained student is saved locally in {str(output_dir)!r} ({files}); nothing was lost.\n"
        "Fix the cause (the token in HF_TOKEN / `hf auth login` / hub_token needs write access; the network or "
        f"HF_ENDPOINT must reach the Hub) and push it again{token_hint} with:\n"
        f"    {retry_command(output_dir, target, **flags)}"
    )


def with_hub_ids(
    results: Mapping[str, Any], student_base_model: str | None = None, teacher_hub_id: str | None = None
) -> dict[str, Any]:
    """``results`` with the Hub ids a user gave: the student's starting checkpoint (the card's ``base_model``) and
    the teacher (the card's ``teacher``), for models loaded from local folders."""
    results = dict(results)
    for side, given in (("student", student_base_model), ("teacher", teacher_hub_id)):
        if given and isinstance(results.get(side), Mapping):
            results[side] = {**results[side], "hub_id": given}
    return results


def create_student_repo(api: HfApi, repo_id: str, token: str | None = None, private: bool | None = None) -> str:
    """Create ``repo_id`` (private when ``private``) or reach it; its full id (with namespace).

    Raises:
        PublicRepoError: ``private`` was asked, but the repo exists and is public (it is left as it is).
    """
    repo_id = api.create_repo(repo_id, token=token, private=private, exist_ok=True).repo_id
    if private and not api.repo_info(repo_id, token=token).private:
        raise PublicRepoError(
            f"The Hub repo {repo_id!r} exists and is public, but a private repo was asked for (--private / "
            "hub_private_repo): nothing was pushed. Make it private in its settings on the Hub, or push to another "
            "repo."
        )
    return repo_id


def load_results(output_dir: str | Path) -> dict[str, Any] | None:
    path = Path(output_dir) / RESULTS_NAME
    return json.loads(path.read_text()) if path.is_file() else None


def push_student(
    output_dir: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    results: Mapping[str, Any] | None = None,
    api: HfApi | None = None,
    student_base_model: str | None = None,
    teacher_hub_id: str | None = None,
    model_card_template: str | Path | None = None,
) -> CommitInfo:
    """Push a finished run's student from ``output_dir`` to ``repo_id`` (created if missing, ``private`` then).

    The card is rendered from ``results`` (default: ``output_dir/results.json``) for ``repo_id`` and written to
    ``output_dir/README.md``; without results an existing README.md is pushed as it is. Only the student's files
    are sent (``student_files``): no checkpoints, no teacher, no training state, no other file of the folder.
    ``student_base_model`` / ``teacher_hub_id``: the Hub ids of the student's starting checkpoint and of the teacher
    when the run loaded them from local folders (see [`with_hub_ids`]). ``model_card_template``: a Jinja2 card
    template to render instead of the packaged one (see [`render_model_card`]).

    Raises:
        ValueError: ``output_dir`` holds no saved student (config.json and safetensors weights), or
            ``model_card_template`` is not a file.
        PublicRepoError: ``private`` was asked and ``repo_id`` exists as a public repo (nothing is pushed).
        HubPushError: the Hub could not be reached or refused the push (the local files are untouched).
    """
    output_dir = Path(output_dir)
    files = student_files(output_dir)
    if "config.json" not in files or not any(name.endswith(".safetensors") for name in files):
        raise ValueError(
            f"{str(output_dir)!r} holds no saved student (expected config.json and model.safetensors, found "
            f"{files or 'no student files'}). Pass the output_dir of a finished run (where trainer.save_model() or "
            "the recipe saved the student)."
        )
    model_card_template = Path(model_card_template).expanduser() if model_card_template else None
    if model_card_template is not None and not model_card_template.is_file():
        raise ValueError(f"model_card_template={str(model_card_template)!r} is not a file: give a template's path.")
    results = results if results is not None else load_results(output_dir)
    if results is not None:
        results = with_hub_ids(results, student_base_model, teacher_hub_id)
    if results is None and CARD_NAME not in files:
        logger.warning(f"No {RESULTS_NAME} and no {CARD_NAME} in {output_dir}: the student is pushed without a card.")

    def write_card(full_repo_id: str) -> None:
        if results is not None:
            facts = with_checkpoint_facts(results, output_dir)
            card = render_model_card(facts, repo_id=full_repo_id, template_path=model_card_template)
            card.save(output_dir / CARD_NAME)

    if api is None:
        from .. import __version__

        api = HfApi(library_name="hf_distill", library_version=__version__)
    try:
        repo_id = create_student_repo(api, repo_id, token=token, private=private)  # with namespace
        write_card(repo_id)
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=output_dir,
            allow_patterns=student_files(output_dir),
            commit_message=commit_message,
            token=token,
            revision=revision,
        )
    except PublicRepoError:
        raise
    except Exception as error:
        write_card(repo_id)  # the local folder is complete, card included, for the next try
        flags = dict(private=private, revision=revision, token=token, commit_message=commit_message)
        flags.update(student_base_model=student_base_model, teacher_hub_id=teacher_hub_id)
        flags.update(model_card_template=model_card_template)
        raise HubPushError(push_failure_message(error, output_dir, repo_id, **flags)) from error


def describe_hardware(device: torch.device) -> str:
    """The hardware a run used, in words (``"1x NVIDIA H100 80GB HBM3"``, ``"CPU (x86_64, 2 cores)"``)."""
    if device.type == "cuda":
        return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return f"CPU ({platform.machine() or 'unknown'}, {cores} cores)"
    return device.type.upper()


def safetensors_bytes(folder: str | Path | None) -> int | None:
    """Size on disk of the safetensors weights in ``folder`` (None when it is not a local folder with some)."""
    folder = local_folder(folder)
    sizes = [path.stat().st_size for path in folder.glob("*.safetensors")] if folder is not None else []
    return sum(sizes) if sizes else None


def local_hub_id(folder: str | Path | None, read_config: bool = True) -> str | None:
    """The Hub id of a local copy of a Hub model: read from its path in the huggingface_hub cache
    (``.../models--namespace--name/snapshots/<revision>``), else (``read_config``) the ``_name_or_path`` of its
    config.json when that is a Hub id (older transformers versions saved the id a checkpoint was loaded from)."""
    path = local_folder(folder)
    if path is None:
        return None
    match = CACHE_SNAPSHOT.search(path.resolve().as_posix())
    if match:
        return f"{match[1]}/{match[2]}"
    config = path / "config.json"
    name = json.loads(config.read_text()).get("_name_or_path") if read_config and config.is_file() else None
    return name if isinstance(name, str) and HUB_ID.match(name) and local_folder(name) is None else None


def describe_model(model: nn.Module, folder: str | Path | None = None) -> dict[str, Any]:
    """``name_or_path``, ``architecture``, ``parameters``, layers, width and (when saved) ``size_bytes``."""
    config = getattr(model, "config", None)
    name_or_path = getattr(config, "_name_or_path", None) or None
    description = {
        "name_or_path": name_or_path,
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "num_layers": getattr(config, "num_hidden_layers", None),
        "hidden_size": getattr(config, "hidden_size", None),
        "size_bytes": safetensors_bytes(folder or name_or_path),
    }
    return {key: value for key, value in description.items() if value is not None}


def with_checkpoint_facts(results: Mapping[str, Any], output_dir: str | Path) -> dict[str, Any]:
    """``results`` completed from the saved checkpoints: the student's in ``output_dir``, a local teacher's folder.

    Only what the results lack and the files state: size on disk of the safetensors weights, the architecture,
    layer count and width of ``config.json``, and the Hub ids of local copies of Hub models ([`local_hub_id`]: the
    student's starting checkpoint by its path or config, the teacher by its path only, as a teacher's config names
    the model it was fine-tuned from, not itself).
    """
    results = dict(results)
    for side, folder in (("student", output_dir), ("teacher", (results.get("teacher") or {}).get("name_or_path"))):
        folder = local_folder(folder)
        if not isinstance(results.get(side), Mapping) or folder is None:
            continue
        facts = {"size_bytes": safetensors_bytes(folder)}
        config_path = folder / "config.json"
        if config_path.is_file():
            config = json.loads(config_path.read_text())
            facts["architecture"] = (config.get("architectures") or [None])[0]
            facts["num_layers"] = config.get("num_hidden_layers")
            facts["hidden_size"] = config.get("hidden_size")
        missing = {key: value for key, value in facts.items() if value is not None and results[side].get(key) is None}
        results[side] = {**results[side], **missing}
    for side, read_config in (("student", True), ("teacher", False)):
        entry = results.get(side)
        if isinstance(entry, Mapping) and not entry.get("hub_id"):
            found = local_hub_id(entry.get("name_or_path"), read_config)
            results[side] = {**entry, "hub_id": found} if found else entry
    return results


class HubMixin:
    """Hub support of [`DistillationTrainer`] (placed before `transformers.Trainer` in its bases).

    ``push_to_hub()``, ``save_model()`` with ``args.push_to_hub``, and the checkpoint pushes of ``hub_strategy``
    send the student alone (``export_student()``), as safetensors, with the tokenizer and a card made from
    ``distillation_results()``. With ``hub_strategy="checkpoint"`` / ``"all_checkpoints"`` the resumable checkpoint
    folder is also pushed (``last-checkpoint/`` or ``checkpoint-N/``), as the Trainer does.
    """

    distillation_method: str = "logit"

    def export_student(self) -> nn.Module:
        """The model that is saved for the Hub: the trained student alone.

        The default is the model the Trainer trains. A method whose training model carries modules that are not
        part of the student (e.g. the predecessor modules of BERT-of-Theseus) overrides this to return the bare
        student; a method that keeps extra modules outside the model (projections) needs nothing.
        """
        return self.accelerator.unwrap_model(self.model, keep_torch_compile=False)

    def distillation_results(self) -> dict[str, Any]:
        """What this trainer knows about its run, in the results format of [`render_model_card`].

        The student and teacher (parameters, layers, size on disk), the student's last evaluation, training time,
        hardware and versions, and the configuration (the distillation fields of the arguments plus the main
        optimisation ones). Teacher metrics and speedups are not measured here: a recipe that measures them passes
        its results to ``push_to_hub(results=...)``.
        """
        args = self.args
        student = describe_model(self.export_student(), args.output_dir)
        evals = [entry for entry in self.state.log_history if any(key.startswith("eval_") for key in entry)]
        if evals:
            student["metrics"] = metric_values(evals[-1])
        teacher = getattr(self, "teacher", None)
        base = {f.name for f in fields(TrainingArguments)}
        training = {f.name: getattr(args, f.name) for f in fields(args) if f.name not in base and f.init}
        training.update({name: getattr(args, name) for name in TRAINING_KEYS})
        results: dict[str, Any] = {
            "distill_method": self.distillation_method,
            "teacher": describe_model(teacher) if teacher is not None else {},
            "student": student,
            "num_processes": args.world_size,
            "device": str(args.device),
            "hardware": describe_hardware(args.device),
            "versions": _versions(),
            "config": {"training": {k: _plain(v) for k, v in training.items() if v is not None}},
        }
        train = next((entry for entry in reversed(self.state.log_history) if "train_runtime" in entry), None)
        if train is not None:
            results["train"] = {
                "runtime_seconds": train["train_runtime"],
                "global_step": self.state.global_step,
                "epochs": self.state.epoch,
            }
        return redact(results)

    def create_model_card(
        self,
        language: str | None = None,
        license: str | None = None,  # noqa: A002 - the Trainer's argument name
        tags: str | list[str] | None = None,
        model_name: str | None = None,
        finetuned_from: str | None = None,
        tasks: str | list[str] | None = None,
        dataset_tags: str | list[str] | None = None,
        dataset: str | list[str] | None = None,
        dataset_args: str | list[str] | None = None,
        results: Mapping[str, Any] | None = None,
        repo_id: str | None = None,
    ) -> None:
        """Write the student's card to ``output_dir/README.md`` (the Trainer's arguments override the results).

        The card is rendered from ``distillation_results()`` updated with ``results`` (what a recipe measured:
        teacher metrics, speedup, command). Without ``results``, the trainer's own results are also written to
        ``results.json`` (never over one it did not write), so that ``hf_distill push`` can render the card again.
        """
        if not self.is_world_process_zero():
            return
        own, results = self.distillation_results(), dict(results or {})
        merged = {**own, **results}
        for side in ("teacher", "student"):  # the run's measurements complete the trainer's description
            if isinstance(results.get(side), Mapping):
                merged[side] = {**own.get(side, {}), **results[side]}
        overrides = {"language": language, "license": license, "model_name": model_name}
        merged.update({key: value for key, value in overrides.items() if value is not None})
        if tags:
            merged["tags"] = [*merged.get("tags", []), *([tags] if isinstance(tags, str) else tags)]
        if finetuned_from:
            merged["student"] = {**merged["student"], "hub_id": finetuned_from}
        dataset_id = dataset_tags or dataset
        if dataset_id and not merged.get("dataset"):
            dataset_id = dataset_id if isinstance(dataset_id, str) else dataset_id[0]
            merged["dataset"] = {"id": dataset_id, "config": dataset_args if isinstance(dataset_args, str) else None}
        if tasks and not merged.get("pipeline_tag"):
            merged["pipeline_tag"] = tasks if isinstance(tasks, str) else tasks[0]
        output_dir = Path(self.args.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        repo_id = repo_id or getattr(self, "hub_model_id", None) or self.args.hub_model_id
        merged = redact(with_checkpoint_facts(merged, output_dir))
        render_model_card(merged, repo_id=repo_id).save(output_dir / CARD_NAME)
        if not results and (not (output_dir / RESULTS_NAME).exists() or getattr(self, "_wrote_results", False)):
            (output_dir / RESULTS_NAME).write_text(json.dumps(merged, indent=2, default=str))
            self._wrote_results = True

    def save_student(self, output_dir: str | None = None) -> None:
        """Save the student alone (safetensors, config, tokenizer) to ``output_dir``; call it on every process."""
        output_dir = output_dir or self.args.output_dir
        self.save_model(output_dir, _internal_call=True)  # the Trainer's saving: sharded / DeepSpeed aware
        if self.is_world_process_zero():
            self._write_student(output_dir)

    def _write_student(self, output_dir: str, checkpoint_folder: str | None = None) -> None:
        student = self.export_student()
        if student is not self.accelerator.unwrap_model(self.model, keep_torch_compile=False):
            student.save_pretrained(output_dir)
        elif checkpoint_folder is not None:  # the checkpoint holds exactly the student: copy, don't gather again
            for name in student_files(checkpoint_folder):
                if name != CARD_NAME:
                    shutil.copy(os.path.join(checkpoint_folder, name), os.path.join(output_dir, name))
        tokenizer = self.processing_class or getattr(self.data_collator, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.save_pretrained(output_dir)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """The Trainer's save, with ``training_args.bin`` pickling the arguments without their tokens (checkpoints
        go to the Hub with ``hub_strategy="checkpoint"``; ``TrainingArguments.to_dict`` masks them the same way)."""
        args = self.args
        self.args = args_without_secrets(args)
        try:
            super()._save(output_dir, state_dict=state_dict)
        finally:
            self.args = args

    def _create_repo(self, token: str | None = None, private: bool | None = None) -> None:
        """Trainer.init_hf_repo, through [`create_student_repo`]: a repo asked private is never pushed public."""
        if not self.is_world_process_zero():
            return
        name = self.args.hub_model_id or Path(self.args.output_dir).absolute().name
        token = token if token is not None else self.args.hub_token
        private = private if private is not None else self.args.hub_private_repo
        self.hub_model_id = create_student_repo(hf_api(), name, token=token, private=private)
        self.push_in_progress = None

    def _retry_flags(self, token: str | None = None, private: bool | None = None) -> dict[str, Any]:
        """The flags of this trainer's pushes, for the ``hf_distill push`` command of a failure message."""
        return {
            "private": private if private is not None else self.args.hub_private_repo,
            "revision": self.args.hub_revision,
            "token": token if token is not None else self.args.hub_token,
        }

    def init_hf_repo(self, token: str | None = None, private: bool | None = None) -> None:
        """Create (or reach) ``hub_model_id``; at Trainer init, a failure stops before any training."""
        try:
            self._create_repo(token=token, private=private)
        except PublicRepoError:
            raise
        except Exception as error:
            name = self.args.hub_model_id or Path(self.args.output_dir).absolute().name
            raise HubPushError(
                f"Could not create or reach the Hub repo {name!r}: {type(error).__name__}: {error}\n"
                "Nothing has been trained yet. Check the token (HF_TOKEN, `hf auth login` or hub_token, with write "
                "access) and that the Hub (HF_ENDPOINT) can be reached; or train with push_to_hub=False and push "
                "the finished run with `hf_distill push OUTPUT_DIR REPO_ID`."
            ) from error

    def push_to_hub(
        self,
        commit_message: str | None = "End of training",
        blocking: bool = True,
        token: str | None = None,
        revision: str | None = None,
        private: bool | None = None,
        results: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> CommitInfo | Future | None:
        """Save the student locally, then upload it with its tokenizer and card to ``args.hub_model_id``.

        As `Trainer.push_to_hub` (``kwargs`` go to [`create_model_card`]), plus ``results``: the run's measured
        results for the card (see [`render_model_card`]). Raises [`HubPushError`] (the student stays saved in
        ``output_dir``) when the repo cannot be created or the upload fails; with ``blocking=False`` a failure
        is logged when the returned future finishes.
        """
        self.callback_handler.on_push_begin(self.args, self.state, self.control)
        token = token if token is not None else self.args.hub_token
        output_dir = self.args.output_dir
        self.save_student(output_dir)
        if not self.is_world_process_zero():
            return None
        if kwargs.get("model_name") is None and self.args.should_save:
            kwargs["model_name"] = (self.args.hub_model_id or Path(output_dir).name).split("/")[-1]
        repo_error = None
        flags = self._retry_flags(token, private)
        try:
            if getattr(self, "hub_model_id", None) is None or private:  # private: checked again, never pushed public
                self._create_repo(token=token, private=private)
        except PublicRepoError:
            raise
        except Exception as error:
            repo_error = error
        self.create_model_card(results=results, **kwargs)
        if repo_error is not None:
            target = self.args.hub_model_id or Path(output_dir).absolute().name
            raise HubPushError(push_failure_message(repo_error, output_dir, target, **flags)) from repo_error
        self._finish_current_push()
        flags["revision"] = revision if revision is not None else self.args.hub_revision
        try:
            job = hf_api().upload_folder(
                repo_id=self.hub_model_id,
                folder_path=output_dir,
                commit_message=commit_message,
                token=token,
                run_as_future=not blocking,
                allow_patterns=student_files(output_dir),
                revision=revision if revision is not None else self.args.hub_revision,
            )
        except Exception as error:
            raise HubPushError(push_failure_message(error, output_dir, self.hub_model_id, **flags)) from error
        if not blocking:
            self._warn_on_failure(job, flags)
        return job

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """The ``hub_strategy`` pushes at each save: the student (+ card), and the checkpoint for checkpoint modes."""
        if not self.is_world_process_zero() or self.args.hub_strategy == HubStrategy.END:
            return
        if not self.args.hub_always_push and self.push_in_progress is not None and not self.push_in_progress.is_done():
            return
        self.callback_handler.on_push_begin(self.args, self.state, self.control)
        output_dir = self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        self._write_student(output_dir, checkpoint_folder)
        self.create_model_card()
        if self.args.save_strategy == SaveStrategy.STEPS:
            commit_message = f"Training in progress, step {self.state.global_step}"
        else:
            commit_message = f"Training in progress, epoch {int(self.state.epoch)}"
        jobs = [
            hf_api().upload_folder(
                repo_id=self.hub_model_id,
                folder_path=output_dir,
                commit_message=commit_message,
                token=self.args.hub_token,
                run_as_future=True,
                allow_patterns=student_files(output_dir),
                revision=self.args.hub_revision,
            )
        ]
        if self.args.hub_strategy in (HubStrategy.CHECKPOINT, HubStrategy.ALL_CHECKPOINTS):
            name = "last-checkpoint" if self.args.hub_strategy == HubStrategy.CHECKPOINT else None
            jobs.append(
                hf_api().upload_folder(
                    repo_id=self.hub_model_id,
                    folder_path=checkpoint_folder,
                    path_in_repo=name or Path(checkpoint_folder).name,
                    commit_message=commit_message + ", checkpoint",
                    token=self.args.hub_token,
                    run_as_future=True,
                    revision=self.args.hub_revision,
                )
            )
        for job in jobs:
            self._warn_on_failure(job)
        if self.push_in_progress is None or self.push_in_progress.is_done():
            self.push_in_progress = PushInProgress(jobs)
        else:
            self.push_in_progress.jobs.extend(jobs)

    def _warn_on_failure(self, job: Future, flags: dict[str, Any] | None = None) -> None:
        output_dir, repo_id = self.args.output_dir, self.hub_model_id
        flags = flags if flags is not None else self._retry_flags()

        def report(done: Future) -> None:
            if not done.cancelled() and done.exception() is not None:
                logger.warning(push_failure_message(done.exception(), output_dir, repo_id, **flags))

        job.add_done_callback(report)


def args_without_secrets(args: TrainingArguments) -> TrainingArguments:
    """A shallow copy of ``args`` with its tokens removed: secret-named fields (``hub_token``...) set to None and
    secret-named keys dropped from dict fields (``teacher_model_init_kwargs={"token": ...}``)."""
    stripped = copy.copy(args)
    for field in fields(args):
        value = getattr(args, field.name, None)
        if is_secret_name(field.name) and value is not None and not isinstance(value, bool):
            setattr(stripped, field.name, None)
        elif isinstance(value, Mapping):
            setattr(stripped, field.name, _without_secret_keys(value))
    return stripped


def _without_secret_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _without_secret_keys(item) for key, item in value.items() if not is_secret_name(str(key))}
    return value


def _plain(value: Any) -> Any:
    """A JSON-able version of an argument value (enums by value, other objects as strings)."""
    value = getattr(value, "value", value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _versions() -> dict[str, str]:
    import huggingface_hub
    import transformers

    from .. import __version__

    return {
        "hf_distill": __version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "huggingface_hub": huggingface_hub.__version__,
    }
