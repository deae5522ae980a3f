"""Learning-rate stages: each stage replays the whole schedule over its own steps."""

import pytest
from transformers import TrainingArguments

from hf_distill.arguments import DistillationTrainingArguments, as_distillation_arguments
from hf_distill.methods.metadistil import MetaDistilTrainingArguments
from hf_distill.schedules import restarted_schedule, schedule_factor, two_stage_schedule


def test_two_stages_each_count_their_own_steps():
    staged = two_stage_schedule(lambda step: 1 - step / 4, lambda step: 1 - step / 6, boundary=4, scale=10.0)
    assert [staged(step) for step in (0, 2, 3, 4, 7)] == pytest.approx([1.0, 0.5, 0.25, 10.0, 5.0])


def test_linear_warmup_then_decay_restarts_at_the_boundary(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), lr_scheduler_type="linear", warmup_steps=0.25)
    first, second = schedule_factor(args, 4), schedule_factor(args, 8)  # warm-up: 1 step, then 2 steps
    assert [first(step) for step in range(4)] == pytest.approx([0.0, 1.0, 2 / 3, 1 / 3])
    assert [second(step) for step in (0, 1, 2, 5)] == pytest.approx([0.0, 0.5, 1.0, 0.5])


def test_a_schedule_over_the_run_is_replayed_in_each_stage():
    linear = lambda step: 1 - step / 10  # noqa: E731 - a decay over 10 steps
    staged = restarted_schedule(linear, boundary=4, total=10, scale=2.0)
    assert staged.schedule is linear
    assert [staged(step) for step in (0, 2, 4, 7)] == pytest.approx([1.0, 0.5, 2.0, 1.0])


def test_plain_training_arguments_are_upgraded_once_the_same_way(tmp_path):
    plain = TrainingArguments(output_dir=str(tmp_path), learning_rate=3e-4)
    upgraded = as_distillation_arguments(plain, MetaDistilTrainingArguments)
    assert type(upgraded) is MetaDistilTrainingArguments and upgraded.learning_rate == 3e-4
    assert upgraded.quiz_size == 0.1 and upgraded.temperature == 2.0
    assert as_distillation_arguments(upgraded, DistillationTrainingArguments) is upgraded
    assert as_distillation_arguments(None, DistillationTrainingArguments).output_dir == "trainer_output"
