import copy
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    HfArgumentParser,
    MPNetConfig,
    MPNetForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from hf_distill import (
    DistillationDataCollator,
    ReplacementScheduler,
    TheseusArguments,
    export_successor,
    theseus_model,
)
from hf_distill.methods.theseus.modeling_theseus import TheseusLayers, theseus_layers
from tests.methods.theseus_distributed_run import run_theseus
from tests.tiny import StopAfter, quiet_args, sentiment_dataset, tokenized

ROWS = ["good movie and great plot", "dull boring film", "the actor was bad but the scene was nice"]


def train_args(output_dir, **overrides) -> TrainingArguments:
    return quiet_args(output_dir, TrainingArguments, **{"remove_unused_columns": False, **overrides})


def make_trainer(output_dir, tokenizer, model, scheduler=None, rows=64, **overrides) -> Trainer:
    return Trainer(
        model=model,
        args=train_args(output_dir, **overrides),
        train_dataset=sentiment_dataset(rows, seed=1),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
        callbacks=[scheduler if scheduler is not None else ReplacementScheduler(0.5)],
    )


def encode(tokenizer):
    return dict(tokenizer(ROWS, padding=True, return_tensors="pt"))


def tiny_distilbert(tokenizer, layers: int = 4) -> DistilBertForSequenceClassification:
    torch.manual_seed(4)
    config = DistilBertConfig(
        vocab_size=len(tokenizer), dim=32, n_layers=layers, n_heads=4, hidden_dim=64, max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id, num_labels=2, dropout=0.0, attention_dropout=0.0,
    )  # fmt: skip
    return DistilBertForSequenceClassification(config)


def tiny_mpnet(tokenizer, layers: int = 4) -> MPNetForSequenceClassification:
    torch.manual_seed(3)
    config = MPNetConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=80, pad_token_id=tokenizer.pad_token_id, num_labels=2,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    return MPNetForSequenceClassification(config)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# ---- The wrapper ----


@pytest.mark.parametrize(
    ("init", "sources"), [("first", [0, 1]), ("group_first", [0, 2]), ("group_last", [1, 3]), ([3, 0], [3, 0])]
)
def test_groups_and_successor_initialisation(tokenizer, trained_teacher, init, sources):
    before = copy.deepcopy(trained_teacher.state_dict())
    model = theseus_model(trained_teacher, 2, successor_init=init)
    layers = theseus_layers(model)
    predecessor_layers = trained_teacher.bert.encoder.layer
    assert [len(module.predecessor) for module in layers] == [2, 2]
    for module, group in zip(layers, ([0, 1], [2, 3])):
        assert all(same_weights(mine, predecessor_layers[i]) for mine, i in zip(module.predecessor, group))
    for module, source in zip(layers, sources):
        assert same_weights(module.successor, predecessor_layers[source])
        assert module.successor is not predecessor_layers[source]
    assert all(torch.equal(trained_teacher.state_dict()[k], v) for k, v in before.items())  # predecessor untouched
    assert not isinstance(trained_teacher.bert.encoder.layer, TheseusLayers)
    in_place = copy.deepcopy(trained_teacher)
    assert theseus_model(in_place, 2, copy_predecessor=False) is in_place
    assert isinstance(in_place.bert.encoder.layer, TheseusLayers)


def test_uneven_groups_from_a_mapping(trained_teacher):
    model = theseus_model(trained_teacher, predecessor_groups=[[0], [1, 2, 3]], successor_init="group_last")
    assert [len(module.predecessor) for module in theseus_layers(model)] == [1, 3]
    assert same_weights(theseus_layers(model)[1].successor, trained_teacher.bert.encoder.layer[3])


def test_only_successors_require_gradients(trained_teacher):
    model = theseus_model(trained_teacher, 2)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".successor." in name for name in trainable)
    successor_count = sum(p.numel() for m in theseus_layers(model) for p in m.successor.parameters())
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == successor_count
    for prefix in ("bert.embeddings.", "bert.pooler.", "classifier.", "bert.encoder.layer.0.predecessor."):
        assert any(name.startswith(prefix) for name, _ in model.named_parameters()), prefix
        assert not any(name.startswith(prefix) for name in trainable), prefix


def reference_forward(predecessor, layers, draws, inputs):
    """The predecessor with its layer list replaced by the drawn path, built by hand."""
    reference = copy.deepcopy(predecessor)
    chosen = []
    for module, replace in zip(layers, draws):
        chosen += [module.successor] if replace else list(module.predecessor)
    reference.bert.encoder.layer = torch.nn.ModuleList(chosen)
    return reference.eval()(**inputs).logits


@pytest.mark.parametrize("draws", [(False, False), (True, False), (False, True), (True, True)])
def test_training_forward_runs_the_drawn_path(tokenizer, trained_teacher, draws):
    model = theseus_model(trained_teacher, 2).train()  # dropout is 0 in the tiny models
    layers = theseus_layers(model)
    with torch.no_grad():  # make successors differ from the predecessor layers they were copied from
        for module in layers:
            for p in module.successor.parameters():
                p.add_(0.05 * torch.randn_like(p))
    inputs = encode(tokenizer)
    layers.draw = lambda: [setattr(m, "use_successor", r) for m, r in zip(layers, draws)]  # force the draws
    logits = model(**inputs).logits
    torch.testing.assert_close(logits, reference_forward(trained_teacher, layers, draws, inputs))
    if not any(draws):
        torch.testing.assert_close(logits, trained_teacher.eval()(**inputs).logits)
    # Eval runs the successors whatever the last draws were.
    torch.testing.assert_close(
        model.eval()(**inputs).logits, reference_forward(trained_teacher, layers, (1, 1), inputs)
    )


def test_draws_are_bernoulli_p_independent_and_keyed_by_seed_step_and_forward():
    layers = TheseusLayers([torch.nn.Module() for _ in range(3)], replacement_rate=0.3, seed=5)
    samples = []
    for step in range(600):
        layers.set_step(step)
        samples.append(layers.draw())
        samples.append(layers.draw())  # a second forward in the same step (gradient accumulation)
    draws = torch.tensor(samples, dtype=torch.float)
    assert draws.mean(0).tolist() == pytest.approx([0.3] * 3, abs=0.04)
    assert (draws[:, 0] * draws[:, 1]).mean().item() == pytest.approx(0.09, abs=0.03)  # independent modules
    assert not torch.equal(draws[0::2], draws[1::2])  # the two forwards of a step draw differently

    again = TheseusLayers([torch.nn.Module() for _ in range(3)], replacement_rate=0.3, seed=5)
    again.set_step(417)
    again.draw()
    assert again.draw() == samples[2 * 417 + 1]
    other_seed = TheseusLayers([torch.nn.Module() for _ in range(3)], replacement_rate=0.3, seed=6)
    assert [other_seed.draw() for _ in range(20)] != [samples[2 * s] for s in range(20)]

    for rate, expected in ((0.0, False), (1.0, True)):
        layers.replacement_rate = rate
        assert all(r == expected for _ in range(50) for r in layers.draw())


def test_a_draw_happens_once_per_training_forward_only(tokenizer, trained_teacher):
    model = theseus_model(trained_teacher, 2)
    layers = theseus_layers(model)
    inputs = encode(tokenizer)
    model.train()(**inputs)
    model.train()(**inputs)
    assert layers.forwards_in_step == 2
    model.eval()(**inputs)
    assert layers.forwards_in_step == 2


def test_exports_load_with_auto_and_give_the_successor_logits(tmp_path, tokenizer, trained_teacher):
    predecessors = {"bert": trained_teacher, "mpnet": tiny_mpnet(tokenizer), "distilbert": tiny_distilbert(tokenizer)}
    for name, predecessor in predecessors.items():
        model = theseus_model(predecessor, 2, successor_init="group_last")
        trainer = make_trainer(tmp_path / name, tokenizer, model, ReplacementScheduler(0.5), max_steps=4)
        trainer.train()
        exported = export_successor(model)
        assert type(exported) is type(predecessor)
        assert exported.config.num_hidden_layers == 2
        assert not any(".successor." in key or ".predecessor." in key for key in exported.state_dict())
        exported.save_pretrained(tmp_path / f"{name}-export")
        loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / f"{name}-export")
        assert type(loaded) is type(predecessor)
        assert sum(p.numel() for p in loaded.parameters()) < sum(p.numel() for p in predecessor.parameters())
        inputs = {k: v for k, v in encode(tokenizer).items() if k != "token_type_ids" or name == "bert"}
        with torch.no_grad():
            expected = model.eval()(**inputs).logits
            torch.testing.assert_close(exported(**inputs).logits, expected)
            torch.testing.assert_close(loaded.eval()(**inputs).logits, expected)


# ---- Training with the Trainer ----


def test_frozen_weights_get_no_gradients_no_optimizer_state_and_do_not_move(tmp_path, tokenizer, trained_teacher):
    model = theseus_model(trained_teacher, 2)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = make_trainer(tmp_path, tokenizer, model, ReplacementScheduler(0.5), max_steps=5)
    trainer.train()
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    for name, p in model.named_parameters():
        if ".successor." in name:
            assert id(p) in optimized and p in trainer.optimizer.state, name
        else:
            assert id(p) not in optimized and p not in trainer.optimizer.state, name
            assert p.grad is None, name
            assert torch.equal(p, before[name]), name
    assert not all(torch.equal(p, before[name]) for name, p in model.named_parameters() if ".successor." in name)


def test_gradient_accumulation_equals_one_big_batch_in_successor_fine_tuning(tmp_path, tokenizer, trained_teacher):
    results = []
    for name, batch, accumulation in (("big", 8, 1), ("accumulated", 4, 2)):
        model = theseus_model(trained_teacher, 2)
        trainer = make_trainer(
            tmp_path / name, tokenizer, model, ReplacementScheduler(1.0), max_steps=3, optim="sgd", learning_rate=0.5,
            per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation,
            train_sampling_strategy="sequential",
        )  # fmt: skip
        trainer.train()
        results.append(model.state_dict())
    for key, value in results[0].items():
        torch.testing.assert_close(results[1][key], value, msg=key)


class RecordRates(TrainerCallback):
    def __init__(self):
        self.rates, self.draws = [], []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        layers = theseus_layers(model)
        self.rates.append(layers.replacement_rate)
        self.draws.append(list(layers.draws))


def test_constant_then_successor_fine_tuning_and_linear_curriculum(tmp_path, tokenizer, trained_teacher):
    constant = ReplacementScheduler(0.5, replacing_steps=3)
    assert [constant.rate(t) for t in range(5)] == [0.5, 0.5, 0.5, 1.0, 1.0]
    linear = ReplacementScheduler(0.2, "linear", slope=0.25)
    assert [linear.rate(t) for t in range(6)] == pytest.approx([0.2, 0.45, 0.7, 0.95, 1.0, 1.0])

    fraction = ReplacementScheduler(0.3, replacing_steps=0.5)
    recorder = RecordRates()
    model = theseus_model(trained_teacher, 2)
    trainer = make_trainer(tmp_path, tokenizer, model, fraction, max_steps=6, logging_steps=1)
    trainer.add_callback(recorder)
    trainer.train()
    assert recorder.rates[-6:] == [0.3, 0.3, 0.3, 1.0, 1.0, 1.0]
    assert all(all(draws) for draws in recorder.draws[-3:])  # successor fine-tuning: only successors run
    logged = [(log["step"], log["replacement_rate"]) for log in trainer.state.log_history if "loss" in log]
    assert logged == [(1, 0.3), (2, 0.3), (3, 0.3), (4, 1.0), (5, 1.0), (6, 1.0)]


def test_resume_continues_the_same_curve_and_draws(tmp_path, tokenizer, trained_teacher):
    settings = dict(max_steps=6, save_strategy="steps", save_steps=3, logging_steps=1)

    def run(directory, scheduler, stop=None, resume=None, **overrides):
        model = theseus_model(trained_teacher, 2, successor_init="group_last")
        recorder = RecordRates()
        trainer = make_trainer(tmp_path / directory, tokenizer, model, scheduler, **{**settings, **overrides})
        trainer.add_callback(recorder)
        if stop:
            trainer.add_callback(StopAfter(stop))
        trainer.train(resume_from_checkpoint=resume)
        return trainer, recorder

    def curriculum():
        return ReplacementScheduler(0.1, "linear", slope=0.15)

    full, full_record = run("full", curriculum())
    assert full_record.rates == pytest.approx([0.1, 0.25, 0.4, 0.55, 0.7, 0.85])
    run("cut", curriculum(), stop=3)
    checkpoint = str(tmp_path / "cut" / "checkpoint-3")
    resumed, resumed_record = run("cut", curriculum(), resume=checkpoint)
    assert resumed_record.rates == pytest.approx(full_record.rates[3:])
    assert resumed_record.draws == full_record.draws[3:]
    for name, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, msg=name)
    assert [log["replacement_rate"] for log in resumed.state.log_history if "loss" in log][-3:] == pytest.approx(
        [0.55, 0.7, 0.85]
    )

    with pytest.raises(ValueError, match="checkpoint was trained with ReplacementScheduler"):
        run("cut", ReplacementScheduler(0.5), resume=checkpoint)
    # Asked to, the Trainer restores the checkpoint's scheduler and the curve goes on as saved.
    restored, restored_record = run(
        "cut", ReplacementScheduler(0.5), resume=checkpoint, restore_callback_states_from_checkpoint=True
    )
    assert restored_record.rates == pytest.approx(full_record.rates[3:])


def test_two_processes_draw_alike_and_match_one_process(tmp_path):
    single = run_theseus(str(tmp_path / "single"), per_device_batch_size=8)
    assert single["num_processes"] == 1

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--main_process_ip", "127.0.0.1", "--main_process_port", str(port)]
    command += ["-m", "tests.methods.theseus_distributed_run", str(tmp_path / "ddp"), "4"]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(root)}
    env.update(CUDA_VISIBLE_DEVICES="", ACCELERATE_USE_CPU="true")  # two gloo processes on the CPU
    # Ranks whose draws differ build different graphs and DDP hangs: time out and end the whole process group.
    launch = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = launch.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(launch.pid, signal.SIGKILL)
        stdout, stderr = launch.communicate()
    assert launch.returncode == 0, stdout[-3000:] + stderr[-3000:]
    ranks = [torch.load(tmp_path / "ddp" / f"result-{rank}.pt") for rank in (0, 1)]

    assert [r["num_processes"] for r in ranks] == [2, 2]
    assert ranks[0]["model_wrapped"] == "DistributedDataParallel"
    assert (
        len(single["draws"]) == 4 and any(any(d) for d in single["draws"]) and not all(all(d) for d in single["draws"])
    )
    assert ranks[0]["draws"] == ranks[1]["draws"] == single["draws"]
    for name, value in single["state_dict"].items():
        torch.testing.assert_close(ranks[0]["state_dict"][name], value, rtol=1e-4, atol=1e-6, msg=name)
        torch.testing.assert_close(ranks[1]["state_dict"][name], value, rtol=1e-4, atol=1e-6, msg=name)


# ---- Bad input ----


def test_bad_wrapper_input_raises_value_errors(trained_teacher):
    with pytest.raises(ValueError, match="num_successor_layers=3 does not divide the predecessor's 4 layers"):
        theseus_model(trained_teacher, 3)
    with pytest.raises(ValueError, match="must be a positive integer"):
        theseus_model(trained_teacher)
    with pytest.raises(ValueError, match="consecutive groups"):
        theseus_model(trained_teacher, predecessor_groups=[[0, 2], [1, 3]])
    with pytest.raises(ValueError, match="consecutive groups"):
        theseus_model(trained_teacher, predecessor_groups=[[0, 1], [2]])
    with pytest.raises(ValueError, match="num_successor_layers=2 but predecessor_groups has 3"):
        theseus_model(trained_teacher, 2, predecessor_groups=[[0], [1, 2], [3]])
    with pytest.raises(ValueError, match=r"replacement_rate=1.5 .* \[0, 1\]"):
        theseus_model(trained_teacher, 2, replacement_rate=1.5)
    with pytest.raises(ValueError, match="successor_init='middle'"):
        theseus_model(trained_teacher, 2, successor_init="middle")
    with pytest.raises(ValueError, match=r"successor_init=\[0, 7\]"):
        theseus_model(trained_teacher, 2, successor_init=[0, 7])
    with pytest.raises(ValueError, match="already a BERT-of-Theseus model"):
        theseus_model(theseus_model(trained_teacher, 2), 2)
    with pytest.raises(ValueError, match="Linear .* is not supported for layer access"):
        theseus_model(torch.nn.Linear(2, 2), 1)
    with pytest.raises(ValueError, match="is not a BERT-of-Theseus model"):
        theseus_layers(trained_teacher)


def test_bad_schedule_input_raises_value_errors(tmp_path, tokenizer, trained_teacher):
    with pytest.raises(ValueError, match=r"replacement_rate=-0.1 .* \[0, 1\]"):
        ReplacementScheduler(-0.1)
    with pytest.raises(ValueError, match="slope=0 must be > 0"):
        ReplacementScheduler(0.3, "linear", slope=0)
    with pytest.raises(ValueError, match="slope=None must be > 0"):
        ReplacementScheduler(0.3, "linear")
    with pytest.raises(ValueError, match="slope=0.1 applies to schedule='linear' only"):
        ReplacementScheduler(0.3, slope=0.1)
    with pytest.raises(ValueError, match="replacing_steps=10 applies to the constant schedule only"):
        ReplacementScheduler(0.3, "linear", slope=0.1, replacing_steps=10)
    with pytest.raises(ValueError, match="replacing_steps=-1"):
        ReplacementScheduler(0.3, replacing_steps=-1)
    with pytest.raises(ValueError, match="schedule='cosine'"):
        ReplacementScheduler(0.3, "cosine")
    # A plain model with the scheduler fails before the first step, naming the fix.
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, ReplacementScheduler(0.5), max_steps=2)
    with pytest.raises(ValueError, match="theseus_model"):
        trainer.train()
    assert trainer.state.global_step == 0


def test_arguments_parse_from_the_command_line_and_validate(trained_teacher):
    (parsed,) = HfArgumentParser(TheseusArguments).parse_args_into_dataclasses(
        ["--theseus_successor_layers", "2", "--theseus_successor_init", "[1, 3]", "--theseus_schedule", "linear",
         "--theseus_replacement_rate", "0.3", "--theseus_slope", "0.01"]
    )  # fmt: skip
    assert parsed.theseus_successor_init == [1, 3]
    scheduler = parsed.scheduler()
    assert (scheduler.schedule, scheduler.replacement_rate, scheduler.slope) == ("linear", 0.3, 0.01)
    model = parsed.build_model(trained_teacher)
    assert same_weights(theseus_layers(model)[0].successor, trained_teacher.bert.encoder.layer[1])

    assert TheseusArguments(theseus_replacing_steps=100.0).theseus_replacing_steps == 100
    groups = TheseusArguments(theseus_predecessor_groups="[[0], [1, 2, 3]]")
    assert [len(m.predecessor) for m in theseus_layers(groups.build_model(trained_teacher))] == [1, 3]
    defaults = TheseusArguments()  # valid, so that it can sit in a parser shared with other methods
    with pytest.raises(ValueError, match="needs theseus_successor_layers"):
        defaults.build_model(trained_teacher)
    with pytest.raises(ValueError, match="theseus_predecessor_groups='\\[\\[0\\]' is not valid JSON"):
        TheseusArguments(theseus_predecessor_groups="[[0]")
    with pytest.raises(ValueError, match="theseus_successor_init='middle'"):
        TheseusArguments(theseus_successor_init="middle")
    with pytest.raises(ValueError, match="slope=-1.0 must be > 0"):
        TheseusArguments(theseus_schedule="linear", theseus_slope=-1.0)
    with pytest.raises(ValueError, match="replacement_rate=2.0"):
        TheseusArguments(theseus_replacement_rate=2.0)
    with pytest.raises(ValueError, match="theseus_replacing_steps=2.5"):
        TheseusArguments(theseus_replacing_steps=2.5)


def test_docs_example_runs_on_tiny_models(tmp_path, tokenizer, trained_teacher, monkeypatch):
    page = (Path(__file__).parents[2] / "docs" / "methods" / "bert-of-theseus.md").read_text()
    example = next(
        block for block in re.findall(r"```python\n(.*?)```", page, flags=re.S) if "theseus_model(" in block
    )
    trained_teacher.save_pretrained(tmp_path / "teacher")
    tokenizer.save_pretrained(tmp_path / "teacher")
    example = example.replace('"fine-tuned-teacher-checkpoint"', repr(str(tmp_path / "teacher")))
    example = example.replace("num_successor_layers=3", "num_successor_layers=2")  # the tiny teacher has 4 layers
    monkeypatch.chdir(tmp_path)
    namespace = {
        "train": tokenized(sentiment_dataset(32, seed=1), tokenizer).remove_columns("sentence"),
        "dev": tokenized(sentiment_dataset(16, seed=2), tokenizer).remove_columns("sentence"),
    }
    exec(compile(example, "bert-of-theseus.md", "exec"), namespace)
    assert namespace["trainer"].state.global_step == 8  # 32 rows, batch 8, 2 epochs
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "theseus" / "successor")
    assert loaded.config.num_hidden_layers == 2
