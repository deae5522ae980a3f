"""Reliability: the edge cases of the recipe, the Hub push and the cache, tried end to end as a user or an attacker
would, and the outcome each one had, judged from what can be observed (exit code, stderr, files, the Hub's store).

    python benchmarks/reliability.py [--out benchmarks/results/reliability-<machine>.md] [--json PATH] [--cases a,b]

Everything runs in a temporary folder: the tiny self-made teacher and SST-2-like TSVs of `harness.fixture`, the real
``recipes/run_glue_distill.py`` and ``python -m hf_distill push`` as subprocesses, and the local Hub-compatible test
server (``tests/hub_server.py``) for the pushes. Each case's record goes to the JSON file as soon as it finishes; the
Markdown table is rendered from that file (``--report-only`` renders it again without running anything).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from harness import store
from harness.fixture import make_fixture
from harness.machine import REPO_ROOT, machine_info, machine_slug

RECIPE = REPO_ROOT / "recipes" / "run_glue_distill.py"
RECIPE_ERROR, PUSH_ERROR = "run_glue_distill.py: ", "hf_distill push: "
FAKE_TOKEN = "hf_FAKEtoken1234567890abcdefghijklmnop"  # a token-shaped secret that no server knows
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1"]
ACCELERATE += ["--mixed_precision", "no", "--dynamo_backend", "no", "--quiet"]


# ---- The world: fixture, local Hub, recipe runs ----


class World:
    """The temporary folder of one run of the cases: fixture models and data, the local Hub server, shared runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths = make_fixture(root / "fixture")
        self.base = [
            "--task_name", "sst2", "--glue_dir", self.paths["glue_dir"], "--teacher_model_name_or_path",
            self.paths["teacher"], "--student_model_name_or_path", self.paths["teacher"], "--student_layers", "0,2",
            "--max_train_samples", "64", "--max_eval_samples", "32", "--max_seq_length", "32",
            "--per_device_train_batch_size", "8", "--num_train_epochs", "1", "--use_cpu", "true", "--report_to",
            "none", "--save_strategy", "no", "--disable_tqdm", "true", "--seed", "0", "--inference_repeats", "1",
        ]  # fmt: skip
        dump = root / "hub-store"
        self.hub = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "tests" / "hub_server.py"), "--dump", str(dump)],
            stdout=subprocess.PIPE, text=True, env=self.env(),
        )  # fmt: skip
        server = json.loads(self.hub.stdout.readline())
        self.url, self.token, self.user, self.dump = server["url"], server["token"], server["user"], dump
        self.counter = 0

    def close(self) -> None:
        self.hub.send_signal(signal.SIGTERM)
        self.hub.wait(timeout=60)

    def env(self, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGING"))}
        env.update(PYTHONPATH=str(REPO_ROOT), HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1")
        env.update(HF_HOME=str(self.root / "hf-home"), HF_ENDPOINT=getattr(self, "url", ""))
        env.update(extra)
        return env

    def folder(self, name: str) -> Path:
        """A new empty folder for one command's output."""
        self.counter += 1
        return self.root / f"{self.counter:02d}-{name}"

    def stored_files(self) -> Path:
        """Every file the Hub server has stored so far (all commits, all LFS objects), written to disk."""
        self.hub.send_signal(signal.SIGUSR1)
        assert self.hub.stdout.readline().strip() == "dumped"
        return self.dump

    def recipe(self, out: Path, *flags: str, stale: bool = True, **env: str) -> Tried:
        """The recipe on the base flags + ``flags`` into ``out``; ``stale``: an older run's results.json there."""
        if stale:
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text('{"stale": "an older run"}')
        return self.execute([sys.executable, str(RECIPE), *self.base, "--output_dir", str(out), *flags], **env)

    def execute(self, command: list[str], **env: str) -> Tried:
        completed = subprocess.run(command, capture_output=True, text=True, env=self.env(**env), cwd=REPO_ROOT)
        return Tried(self, command, completed.returncode, completed.stderr)

    @cached_property
    def trained(self) -> Path:
        """A finished distill run (its teacher logits cached in ``trained / "cache"``), copied by the cases."""
        out = self.folder("trained")
        tried = self.recipe(out, "--teacher_cache_dir", str(out / "cache"), stale=False)
        if tried.exit_code != 0:
            raise RuntimeError(f"the plain distill run failed: {tried.stderr[-2000:]}")
        return out

    @cached_property
    def pushed(self) -> tuple[Tried, Path, str]:
        """A distill run pushed with ``hub_strategy=checkpoint``, the Hub token on the command line and a
        token in ``teacher_model_init_kwargs``: (what was tried, output folder, repo id)."""
        out, name = self.folder("pushed"), f"reliability-{uuid.uuid4().hex[:8]}"
        kwargs = json.dumps({"token": FAKE_TOKEN})
        tried = self.recipe(
            out, "--push_to_hub", "true", "--hub_model_id", name, "--hub_strategy", "checkpoint", "--save_strategy",
            "steps", "--save_steps", "4", "--hub_token", self.token, f"--teacher_model_init_kwargs={kwargs}",
        )  # fmt: skip
        return tried, out, f"{self.user}/{name}"

    def hub_json(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request) as answer:
            return json.loads(answer.read())

    def shown(self, text: str) -> str:
        """``text`` as the report shows it: no token, the temporary folder as ``$TMP``, the base flags as ``$BASE``."""
        text = text.replace(self.token, "<hub-token>").replace(FAKE_TOKEN, "<fake-token>")
        text = text.replace(shlex.join(self.base), "$BASE").replace(sys.executable, "python")
        return text.replace(str(self.root), "$TMP").replace(str(REPO_ROOT) + "/", "")


@dataclass
class Tried:
    """One command and what it did: exit code and stderr."""

    world: World
    command: list[str]
    exit_code: int
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def message_index(self, prefix: str) -> int | None:
        return next((i for i, line in enumerate(self.lines) if line.startswith(prefix)), None)

    def record(self, prefix: str = RECIPE_ERROR) -> dict[str, Any]:
        """Exit code, the message line (the first stderr line starting with ``prefix``) and how many lines follow."""
        index = self.message_index(prefix)
        return {
            "command": self.world.shown(shlex.join(self.command)),
            "exit_code": self.exit_code,
            "message": self.world.shown(self.lines[index]) if index is not None else None,
            "lines_after_message": len(self.lines) - index - 1 if index is not None else None,
        }

    def one_line_exit_1(self, prefix: str = RECIPE_ERROR) -> bool:
        index = self.message_index(prefix)
        return self.exit_code == 1 and index is not None and index == len(self.lines) - 1


def files_holding(folder: Path, *secrets: str) -> list[str]:
    """The files under ``folder`` whose bytes contain one of ``secrets``."""
    return [
        str(path.relative_to(folder))
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file() and any(secret.encode() in path.read_bytes() for secret in secrets)
    ]


# ---- Runners: each tries a case and returns its record with named checks ----


def bad_input(world: World, setup: Callable[[World], list[str]], names: str) -> dict[str, Any]:
    """A run on bad input (``setup`` makes it and returns the flags), an older results.json in its output folder."""
    out = world.folder("bad")
    tried = world.recipe(out, *setup(world))
    record = tried.record()
    record["checks"] = {
        "exit code 1 and one stderr line": tried.one_line_exit_1(),
        f"the line names {names!r}": names in (record["message"] or ""),
        "the older results.json is gone": not (out / "results.json").exists(),
        "no model saved": not (out / "model.safetensors").exists(),
    }
    return record


def good_input(world: World, flags: list[str], warning: str | None = None, **config: Any) -> dict[str, Any]:
    """A run that must complete; ``warning``: a line stderr must hold; ``config``: data settings results.json must
    record."""
    out = world.folder("good")
    tried = world.recipe(out, *flags, stale=False)
    record = tried.record()
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    record["checks"] = {"exit code 0": tried.exit_code == 0, "results.json written": bool(results)}
    if warning:
        record["message"] = world.shown(next((line for line in tried.lines if warning in line), ""))
        record["checks"][f"warns {warning!r}"] = bool(record["message"])
    for key, value in config.items():
        recorded = results.get("config", {}).get("data", {}).get(key)
        record["checks"][f"results.json records {key}={value}"] = recorded == value
    return record


def secrets_pushed(world: World) -> dict[str, Any]:
    tried, out, repo_id = world.pushed
    stored = world.stored_files()
    pushed = world.hub_json(f"/api/models/{repo_id}/tree/main/last-checkpoint")
    command = json.loads((out / "results.json").read_text())["command"] if (out / "results.json").exists() else ""
    record = tried.record()
    stored_count = sum(path.is_file() for path in stored.rglob("*"))
    record["message"] = f"{stored_count} files stored by the Hub so far, {len(pushed)} under last-checkpoint/"
    record["checks"] = {
        "exit code 0": tried.exit_code == 0,
        "last-checkpoint/training_args.bin was pushed": "last-checkpoint/training_args.bin"
        in [entry["path"] for entry in pushed],
        "no token in any file of the output folder": files_holding(out, world.token, FAKE_TOKEN) == [],
        "no token in any file the Hub stored (all commits)": files_holding(stored, world.token, FAKE_TOKEN) == [],
        "results.json's command says --hub_token '<redacted>'": "--hub_token '<redacted>'" in command,
    }
    return record


def pushed_card(world: World) -> str:
    _, _, repo_id = world.pushed
    with urllib.request.urlopen(f"{world.url}/{repo_id}/resolve/main/README.md") as answer:
        return answer.read().decode()


def card_paths(world: World) -> dict[str, Any]:
    tried, out, _ = world.pushed
    card = pushed_card(world)
    record = tried.record()
    record["message"] = next((line.strip() for line in card.splitlines() if "--output_dir" in line), None)
    record["checks"] = {
        "the card holds no path of the temporary folder": str(world.root) not in card
        and tempfile.gettempdir() + "/" not in card,
        "the card holds no path of the home folder": str(Path.home()) + "/" not in card,
        f"the card shows the output folder as .../{out.name}": f".../{out.name}" in card,
    }
    return record


def card_settings(world: World) -> dict[str, Any]:
    tried, _, _ = world.pushed
    card = pushed_card(world).lower()
    record = tried.record()
    record["message"] = next((line.strip() for line in pushed_card(world).splitlines() if "layers" in line), None)
    others = ("fastbert", "theseus", "metadistil", "bilstm")
    record["checks"] = {
        f"no setting of another method ({', '.join(others)})": not any(name in card for name in others),
        "does not say the layers were kept from the teacher": "teacher's layers" not in card,
        "says layers 0,2 of the student checkpoint were kept": "keeping its layers 0,2 " in card,
    }
    return record


def notes_not_pushed(world: World) -> dict[str, Any]:
    out, name = world.folder("notes"), f"notes-{uuid.uuid4().hex[:8]}"
    shutil.copytree(world.trained, out, ignore=shutil.ignore_patterns("cache"))
    (out / "notes.py").write_text(f'HF_TOKEN = "{FAKE_TOKEN}"  # my notes\n')
    tried = world.execute([sys.executable, "-m", "hf_distill", "push", str(out), name, "--token", world.token])
    files = [entry["path"] for entry in world.hub_json(f"/api/models/{world.user}/{name}/tree/main")]
    record = tried.record(PUSH_ERROR)
    record["message"] = f"pushed: {', '.join(sorted(files))}"
    record["checks"] = {
        "exit code 0": tried.exit_code == 0,
        "model.safetensors pushed, notes.py not": "model.safetensors" in files and "notes.py" not in files,
        "the token in no file the Hub stored": files_holding(world.stored_files(), FAKE_TOKEN) == [],
    }
    return record


def private_retry(world: World) -> dict[str, Any]:
    """A --private push while the Hub cannot be reached, then the retry command it prints, run as printed."""
    out, name = world.folder("private"), f"private-{uuid.uuid4().hex[:8]}"
    shutil.copytree(world.trained, out, ignore=shutil.ignore_patterns("cache"))
    push = [sys.executable, "-m", "hf_distill", "push", str(out), name, "--private", "--token", world.token]
    tried = world.execute(push, HF_ENDPOINT="http://127.0.0.1:9")  # nothing listens on the discard port
    retry = next((line.strip() for line in reversed(tried.lines) if line.strip().startswith("hf_distill push")), "")
    words = shlex.split(os.path.expandvars(retry.replace("$HF_TOKEN", world.token))) if retry else []
    again = world.execute([sys.executable, "-m", "hf_distill", *words[1:]]) if words else None
    info = world.hub_json(f"/api/models/{world.user}/{name}") if again and again.exit_code == 0 else {}
    record = tried.record(PUSH_ERROR)
    record["retry"] = world.shown(retry)
    record["checks"] = {
        "the push failed with exit code 1": tried.exit_code == 1,
        "the printed retry command keeps --private": "--private" in words,
        "the retry, run as printed, succeeded": again is not None and again.exit_code == 0,
        "the repo it made is private": info.get("private") is True,
    }
    return record


def bad_card(world: World) -> dict[str, Any]:
    """A run folder without results.json but a README.md whose license the Hub does not know, pushed as it is."""
    out, name = world.folder("bad-card"), f"bad-card-{uuid.uuid4().hex[:8]}"
    shutil.copytree(world.trained, out, ignore=shutil.ignore_patterns("cache", "results.json"))
    (out / "README.md").write_text("---\nlicense: not-a-license\n---\n# A student\n")
    tried = world.execute([sys.executable, "-m", "hf_distill", "push", str(out), name, "--token", world.token])
    try:
        files = [entry["path"] for entry in world.hub_json(f"/api/models/{world.user}/{name}/tree/main")]
    except OSError:
        files = []
    record = tried.record(PUSH_ERROR)
    record["checks"] = {
        "exit code 1": tried.exit_code == 1,
        "the message names the license": "license" in (record["message"] or "") + tried.stderr,
        "no README.md on the Hub": "README.md" not in files,
    }
    return record


def damaged_cache(world: World, damage: Callable[[bytes], bytes]) -> dict[str, Any]:
    cache = world.folder("cache")
    shutil.copytree(world.trained / "cache", cache)
    [path] = cache.glob("sst2-train*.safetensors")
    path.write_bytes(damage(path.read_bytes()))
    record = bad_input(world, lambda _: ["--teacher_cache_dir", str(cache)], str(path.relative_to(world.root)))
    record["checks"]["the line says --overwrite_teacher_cache"] = "--overwrite_teacher_cache" in record["message"]
    return record


def read_only(world: World) -> dict[str, Any]:
    folder = world.folder("read-only")
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root writes anyway: a read-only file system then
        folder = Path("/sys/kernel")
    tried = world.recipe(folder, stale=False)
    record = tried.record()
    record["checks"] = {
        "exit code 1 and one stderr line": tried.one_line_exit_1(),
        "the line says the folder is not writable": "is not writable" in (record["message"] or ""),
        "nothing was loaded (no 'training rows' log line)": "training rows" not in tried.stderr,
    }
    return record


def resume(world: World) -> dict[str, Any]:
    """An uninterrupted run, and the same run SIGKILLed once a checkpoint is on disk and relaunched with
    ``--resume_from_checkpoint true``: the final weights must be the same."""
    from safetensors.torch import load_file

    flags = ["--max_train_samples", "256", "--num_train_epochs", "6", "--save_strategy", "steps", "--save_steps", "24"]
    whole, killed = world.folder("whole"), world.folder("killed")
    first = world.recipe(whole, *flags, stale=False)
    command = [sys.executable, str(RECIPE), *world.base, "--output_dir", str(killed), *flags]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=world.env())
    while process.poll() is None and not list(killed.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.01)
    process.kill()
    process.wait()
    checkpoints = sorted(path.parent.name for path in killed.glob("checkpoint-*/trainer_state.json"))
    died_early = process.returncode == -signal.SIGKILL and not (killed / "results.json").exists()
    tried = world.recipe(killed, *flags, "--resume_from_checkpoint", "true", stale=False)
    difference = None
    if first.exit_code == 0 and tried.exit_code == 0:
        a, b = load_file(whole / "model.safetensors"), load_file(killed / "model.safetensors")
        difference = max(float((a[name] - b[name]).abs().max()) for name in a) if a.keys() == b.keys() else None
    record = tried.record()
    record["message"] = f"killed after {checkpoints[-1] if checkpoints else 'no checkpoint'}; " + (
        f"max |final weights - uninterrupted run's| = {difference:.2g}" if difference is not None else "no weights"
    )
    record["checks"] = {
        "the first run was killed mid-training (SIGKILL, no results.json)": died_early and bool(checkpoints),
        "the relaunch exits 0": tried.exit_code == 0,
        "final weights equal the uninterrupted run's (<= 1e-6)": difference is not None and difference <= 1e-6,
    }
    return record


def accelerate_quiet(world: World) -> dict[str, Any]:
    out = world.folder("accelerate")
    tried = world.execute([*ACCELERATE, str(RECIPE), *world.base, "--output_dir", str(out), "--task_name", "sst3"])
    record = tried.record()
    record["checks"] = {
        "exit code 1": tried.exit_code == 1,
        "stderr is exactly the recipe's one line": len(tried.lines) == 1 and tried.message_index(RECIPE_ERROR) == 0,
    }
    return record


# ---- Inputs the bad-input cases are made of ----


def config(text: str) -> Callable[[World], list[str]]:
    def setup(world: World) -> list[str]:
        path = world.folder("config") / "bad.yaml"
        path.parent.mkdir()
        path.write_text(text + "\n")
        return ["--config", str(path)]

    return setup


def glue_copy(world: World, transform: Callable[[str], str], split: str = "train") -> str:
    """A copy of the fixture's GLUE folder with ``split``.tsv's text passed through ``transform``."""
    folder = world.folder("glue")
    shutil.copytree(world.paths["glue_dir"], folder)
    path = folder / "SST-2" / f"{split}.tsv"
    path.write_text(transform(path.read_text()))
    return str(folder)


def long_rows(text: str) -> str:
    """Every sentence ten times over: rows of 20 to 100 words, longer than the 64 positions of the fixture models."""
    header, *rows = text.splitlines()
    cells = [row.split("\t") for row in rows]
    return "\n".join([header, *(f"{' '.join([sentence] * 10)}\t{label}" for sentence, label in cells)]) + "\n"


def other_tokenizer(world: World) -> list[str]:
    """A tokenizer whose ids are the teacher's + 4 (another model's vocabulary, larger than the teacher embeds)."""
    from transformers import AutoTokenizer, BertTokenizerFast

    vocab = sorted(AutoTokenizer.from_pretrained(world.paths["teacher"]).get_vocab().items(), key=lambda item: item[1])
    words = ["<s>", "</s>", "<x1>", "<x2>"] + [word for word, _ in vocab]
    folder = world.folder("other-tokenizer")
    BertTokenizerFast(vocab={word: i for i, word in enumerate(words)}, do_lower_case=True).save_pretrained(folder)
    return ["--teacher_tokenizer_name", str(folder)]


# ---- The cases ----


@dataclass
class Case:
    name: str
    items: str  # the edge cases of the trust issue this tries (1-14)
    what: str
    run: Callable[[World], dict[str, Any]]


def bad(setup: Callable[[World], list[str]], names: str) -> Callable[[World], dict[str, Any]]:
    return lambda world: bad_input(world, setup, names)


def flags(*values: str) -> Callable[[World], list[str]]:
    return lambda world: list(values)


CASES = [
    Case("hub-token-checkpoint-push", "1, 2", "--hub_token and a token in teacher_model_init_kwargs, "
         "--push_to_hub with hub_strategy=checkpoint", secrets_pushed),
    Case("notes-py-not-pushed", "3", "`hf_distill push` of a run folder holding notes.py with a token",
         notes_not_pushed),
    Case("private-push-retry", "4", "`hf_distill push --private` while the Hub is unreachable, then the printed "
         "retry command", private_retry),
    Case("card-machine-paths", "5", "the pushed card of a run whose folders are under the temp folder", card_paths),
    Case("damaged-teacher-cache", "6", "teacher cache with its last 8 payload bytes overwritten",
         lambda world: damaged_cache(world, lambda data: data[:-8] + b"\xff" * 8)),
    Case("truncated-teacher-cache", "6", "teacher cache cut to half its size",
         lambda world: damaged_cache(world, lambda data: data[: len(data) // 2])),
    Case("nan-loss", "6", "--learning_rate 1e10 (the loss becomes NaN)", bad(flags("--learning_rate", "1e10"), "nan")),
    Case("empty-train-tsv", "7", "0-byte train.tsv",
         bad(lambda world: ["--glue_dir", glue_copy(world, lambda text: "")], "train.tsv")),
    Case("config-list-value", "7", "`temperature: [2, 3]` in the YAML config",
         bad(config("temperature: [2, 3]"), "[2, 3]")),
    Case("config-dict-value", "7", "`alpha: {value: 0.5}` in the YAML config",
         bad(config("alpha: {value: 0.5}"), "{'value': 0.5}")),
    Case("config-max-steps-four", "7", "`max_steps: four` in the YAML config", bad(config("max_steps: four"), "four")),
    Case("flag-max-steps-four", "7", "--max_steps four", bad(flags("--max_steps", "four"), "four")),
    Case("flag-typo", "7", "--learning_rat 1 (a typo of --learning_rate)",
         bad(flags("--learning_rat", "1"), "--learning_rat")),
    Case("missing-teacher", "7", "a teacher path that does not exist",
         bad(lambda world: ["--teacher_model_name_or_path", str(world.root / "no-such-teacher")], "no-such-teacher")),
    Case("other-teacher-tokenizer", "7", "--teacher_tokenizer_name of a tokenizer with 4 more ids than the teacher",
         bad(other_tokenizer, "other-tokenizer")),
    Case("max-seq-length-beyond-positions", "7", "--max_seq_length 128 on 64-position models, rows of 20-100 words",
         lambda world: good_input(world, ["--glue_dir", glue_copy(world, long_rows), "--max_seq_length", "128"],
                                  "using 64", max_seq_length=64)),
    Case("stale-results", "8", "an older results.json in the output folder, then an unknown --task_name sst3",
         bad(flags("--task_name", "sst3"), "sst3")),
    Case("read-only-output-dir", "8", "an output folder that cannot be written (chmod 555; as root, "
         "who writes there anyway, /sys/kernel)", read_only),
    Case("resume-true", "9", "SIGKILL after a checkpoint, relaunch with --resume_from_checkpoint true", resume),
    Case("accelerate-launch-quiet", "10", "`accelerate launch --quiet` with --task_name sst3", accelerate_quiet),
    Case("hub-refuses-bad-card", "13", "`hf_distill push` of a README.md with `license: not-a-license`", bad_card),
    Case("teacher-dtype-none", "12", "--teacher_dtype None",
         lambda world: good_input(world, ["--teacher_dtype", "None"])),
    Case("card-settings", "14", "the card of a logit-KD run whose student is layers 0,2 of a checkpoint",
         card_settings),
]  # fmt: skip


# ---- Running and reporting ----


def run_cases(cases: list[Case], json_path: Path, results: dict[str, Any], world: World) -> dict[str, Any]:
    """Run ``cases``, saving ``results`` (with each case's record) to ``json_path`` after every case."""
    for case in cases:
        started = time.time()
        try:
            record = case.run(world)
        except Exception as error:  # a case that could not be tried is a failed case, with the reason
            record = {"error": world.shown(f"{type(error).__name__}: {error}"), "checks": {"the case ran": False}}
        record.update(items=case.items, what=case.what, seconds=round(time.time() - started, 1))
        record["passed"] = all(record["checks"].values())
        results["cases"][case.name] = record
        store.save(json_path, results)
        print(f"{case.name}: {'PASS' if record['passed'] else 'FAIL'} ({record['seconds']} s)", flush=True)
    return results


def cell(text: Any, limit: int = 0) -> str:
    text = "" if text is None else str(text)
    if limit and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text.replace("|", "\\|").replace("\n", " ")


def render(results: dict[str, Any]) -> str:
    """The Markdown report of ``results``: how it was made, the base flags, one row per case, the checks."""
    machine, cases = results["machine"], results["cases"]
    passed = sum(record["passed"] for record in cases.values())
    lines = [
        "# Reliability: edge cases tried end to end",
        "",
        "```\n" + "\n".join(results["generated_by"]) + "\n```",
        "",
        f"{results['date']}, {machine['cpu']} ({machine['cpu_count']} cores), Python {machine['python']}, "
        f"torch {machine['torch']}, transformers {machine['transformers']}. Tiny self-made teacher and SST-2-like "
        "TSVs (`benchmarks/harness/fixture.py`), the recipe and `hf_distill push` as subprocesses, the local "
        "Hub-compatible server of the tests (`tests/hub_server.py`). Tokens are shown as `<hub-token>` / "
        f"`<fake-token>`, the temporary folder as `$TMP`. **{passed} of {len(cases)} cases pass.**",
        "",
        f"`$BASE` = `{results['base_flags']}`",
        "",
        "| item | case | tried | exit | lines after | message (first line) | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, record in cases.items():
        message = record.get("message") or record.get("error")
        lines.append(
            f"| {record['items']} | {name}: {cell(record['what'])} | `{cell(record.get('command'), 400)}` "
            f"| {cell(record.get('exit_code'))} | {cell(record.get('lines_after_message'))} | {cell(message, 300)} "
            f"| {'PASS' if record['passed'] else '**FAIL**'} |"
        )
    lines += ["", "Checks (each computed from the exit code, stderr, files or the Hub's store):", ""]
    for name, record in cases.items():
        checks = "; ".join(f"{'✓' if ok else '✗'} {cell(check)}" for check, ok in record["checks"].items())
        lines.append(f"- **{name}**: {checks}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="the Markdown report (default: reliability-<machine>.md)")
    parser.add_argument("--json", default=None, help="the results file (default: --out with .json)")
    parser.add_argument(
        "--cases", default=None, help="comma-separated case names (default: all); the other stored cases are kept"
    )
    parser.add_argument("--report-only", action="store_true", help="render --json again, run nothing")
    options = parser.parse_args(argv)
    info = machine_info(shared=True)
    out = Path(options.out or REPO_ROOT / "benchmarks" / "results" / f"reliability-{machine_slug(info)}.md")
    json_path = Path(options.json or out.with_suffix(".json"))
    results = store.load(json_path) if options.report_only or options.cases else None
    if not options.report_only:
        chosen = options.cases.split(",") if options.cases else [case.name for case in CASES]
        unknown = set(chosen) - {case.name for case in CASES}
        if unknown:
            parser.error(f"unknown case(s) {', '.join(sorted(unknown))}")
        with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
            world = World(Path(tmp))
            command = shlex.join(["python", "benchmarks/reliability.py", *(argv or sys.argv[1:])])
            if results is None:  # a fresh file; with --cases, the stored cases are kept and these replaced
                results = {"generated_by": [], "date": store.stamp(), "machine": info, "cases": {}}
            results["generated_by"].append(command)
            results["base_flags"] = shlex.join(world.base).replace(str(world.root), "$TMP")
            try:
                run_cases([case for case in CASES if case.name in chosen], json_path, results, world)
            finally:
                world.close()
    out.write_text(render(results))
    print(f"Report in {out}, results in {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
