import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.distributed_run import run
from tests.tiny import make_tokenizer, tiny_bert

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_two_processes(output_dir: Path, *arguments: str) -> dict:
    """distributed_run.py under `accelerate launch` with two gloo processes on the CPU, 4 rows each a step."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port())]
    command += ["-m", "tests.distributed_run", str(output_dir), "4", *arguments]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    env.update(CUDA_VISIBLE_DEVICES="", ACCELERATE_USE_CPU="true")  # two gloo processes on the CPU
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return torch.load(output_dir / "result.pt")


def test_two_cpu_processes_equal_one_process_with_the_whole_batch(tmp_path):
    single = run(str(tmp_path / "single"), per_device_batch_size=8)
    assert single["num_processes"] == 1

    ddp = launch_two_processes(tmp_path / "ddp")

    assert ddp["num_processes"] == 2
    assert ddp["model_wrapped"] == "DistributedDataParallel"
    assert ddp["teacher_wrapped"] == "BertForSequenceClassification"
    for name, value in single["state_dict"].items():
        torch.testing.assert_close(ddp["state_dict"][name], value, rtol=1e-4, atol=1e-6, msg=name)
    assert len(ddp["logs"]) == len(single["logs"]) == 2
    for ddp_log, single_log in zip(ddp["logs"], single["logs"]):
        for key in ("loss", "task_loss", "kd_loss"):
            assert ddp_log[key] == pytest.approx(single_log[key], rel=1e-4), key


def test_gradient_transfer_two_processes_equal_one_process(tmp_path):
    """The ebbt preset under DDP: each process runs the student's perturbed forward through the wrapped model and a
    double backward; the per-example noise does not depend on the process holding the example."""
    single = run(str(tmp_path / "single"), per_device_batch_size=8, distill_preset="ebbt")
    ddp = launch_two_processes(tmp_path / "ddp", "ebbt")
    assert ddp["num_processes"] == 2 and ddp["model_wrapped"] == "DistributedDataParallel"
    initial = tiny_bert(make_tokenizer(), seed=12).state_dict()
    assert not torch.allclose(single["state_dict"]["bert.embeddings.word_embeddings.weight"],
                              initial["bert.embeddings.word_embeddings.weight"])  # fmt: skip
    for name, value in single["state_dict"].items():
        torch.testing.assert_close(ddp["state_dict"][name], value, rtol=1e-4, atol=1e-6, msg=name)
    assert len(ddp["logs"]) == len(single["logs"]) == 2
    for ddp_log, single_log in zip(ddp["logs"], single["logs"]):
        for key in ("loss", "task_loss", "kd_loss", "input_gradient_loss"):
            assert ddp_log[key] == pytest.approx(single_log[key], rel=1e-4), key
