"""Loss functions against values computed by hand (plain Python floats) from METHODS.md section 1."""

import math

import pytest
import torch

from hf_distill.losses import hard_label_loss, logit_kd_loss, reduce_items


def softmax(values, temperature=1.0):
    exps = [math.exp(v / temperature) for v in values]
    return [e / sum(exps) for e in exps]


def hand_kl(z_s, z_t, temperature):
    """T^2 * sum_c p_t (log p_t - log p_s)."""
    p_t, p_s = softmax(z_t, temperature), softmax(z_s, temperature)
    return temperature**2 * sum(t * (math.log(t) - math.log(s)) for t, s in zip(p_t, p_s))


def hand_soft_ce(z_s, z_t, temperature):
    """T^2 * -sum_c p_t log p_s."""
    p_t, p_s = softmax(z_t, temperature), softmax(z_s, temperature)
    return temperature**2 * -sum(t * math.log(s) for t, s in zip(p_t, p_s))


STUDENT = [[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]
TEACHER = [[0.0, 1.0, 0.0], [3.0, -1.0, 0.5]]


def test_kl_two_class_value_worked_by_hand():
    # T = 2: p_t = softmax([0, .5]) = [.37754, .62246], log p_s = log_softmax([.5, 0]) = [-.47408, -.97408];
    # KL = .37754 * (-.5) + .62246 * .5 = .12246; times T^2 = 4 gives .48984.
    loss = logit_kd_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), temperature=2.0, loss_type="kl")
    assert loss.item() == pytest.approx(0.48984, abs=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_kl_batchmean_matches_hand_computation(temperature):
    expected = sum(hand_kl(s, t, temperature) for s, t in zip(STUDENT, TEACHER)) / len(STUDENT)
    loss = logit_kd_loss(torch.tensor(STUDENT), torch.tensor(TEACHER), temperature=temperature, loss_type="kl")
    assert loss.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_soft_ce_matches_hand_computation_and_has_kl_gradient(temperature):
    expected = sum(hand_soft_ce(s, t, temperature) for s, t in zip(STUDENT, TEACHER)) / len(STUDENT)
    student = torch.tensor(STUDENT, requires_grad=True)
    ce = logit_kd_loss(student, torch.tensor(TEACHER), temperature=temperature, loss_type="ce")
    assert ce.item() == pytest.approx(expected, rel=1e-5)
    (ce_grad,) = torch.autograd.grad(ce, student)
    kl = logit_kd_loss(student, torch.tensor(TEACHER), temperature=temperature, loss_type="kl")
    (kl_grad,) = torch.autograd.grad(kl, student)
    torch.testing.assert_close(ce_grad, kl_grad)
    # CE - KL is the teacher's entropy, T^2-scaled.
    entropy = sum(-sum(p * math.log(p) for p in softmax(t, temperature)) for t in TEACHER) / len(TEACHER)
    assert ce.item() - kl.item() == pytest.approx(temperature**2 * entropy, rel=1e-5)


def test_mse_is_squared_l2_on_raw_logits_per_example():
    # Example 1: (1-0)^2 + (0-1)^2 + (-1-0)^2 = 3; example 2: 2.5^2 + 3^2 + 0.5^2 = 15.5; mean 9.25.
    loss = logit_kd_loss(torch.tensor(STUDENT), torch.tensor(TEACHER), temperature=7.0, loss_type="mse")
    assert loss.item() == pytest.approx(9.25)
    per_example = logit_kd_loss(torch.tensor(STUDENT), torch.tensor(TEACHER), loss_type="mse", reduction="none")
    assert per_example.tolist() == pytest.approx([3.0, 15.5])


def test_token_level_mask_ignores_padding():
    # [batch=1, seq=3, C=3]; position 2 is padding with wild logits that must not count.
    student = torch.tensor([[STUDENT[0], STUDENT[1], [50.0, -50.0, 0.0]]])
    teacher = torch.tensor([[TEACHER[0], TEACHER[1], [-40.0, 40.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0]])
    expected = (hand_kl(STUDENT[0], TEACHER[0], 2.0) + hand_kl(STUDENT[1], TEACHER[1], 2.0)) / 2
    loss = logit_kd_loss(student, teacher, temperature=2.0, loss_type="kl", mask=mask)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    per_item = logit_kd_loss(student, teacher, temperature=2.0, mask=mask, reduction="none")
    assert per_item.shape == (1, 3)
    assert per_item[0, 2].item() == 0.0
    summed = logit_kd_loss(student, teacher, temperature=2.0, mask=mask, reduction="sum")
    assert summed.item() == pytest.approx(2 * expected, rel=1e-5)


def test_teacher_logits_get_no_gradient():
    teacher = torch.tensor(TEACHER, requires_grad=True)
    student = torch.tensor(STUDENT, requires_grad=True)
    logit_kd_loss(student, teacher, temperature=2.0).backward()
    assert teacher.grad is None
    assert student.grad is not None


def test_kd_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in shape"):
        logit_kd_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        logit_kd_loss(torch.zeros(2, 3), torch.zeros(2, 3), temperature=0.0)
    with pytest.raises(ValueError, match="loss_type='cosine'"):
        logit_kd_loss(torch.zeros(2, 3), torch.zeros(2, 3), loss_type="cosine")
    with pytest.raises(ValueError, match="reduction='avg'"):
        reduce_items(torch.zeros(2), None, "avg")


def test_hard_label_cross_entropy_ignores_minus_100():
    logits = torch.tensor(STUDENT + [[9.0, -9.0, 9.0]])
    labels = torch.tensor([2, 1, -100])
    # -log softmax(z)[y] by hand, for the two labeled rows only.
    expected = [-math.log(softmax(STUDENT[0])[2]), -math.log(softmax(STUDENT[1])[1])]
    per_item = hard_label_loss(logits, labels, reduction="none")
    assert per_item.tolist() == pytest.approx(expected + [0.0], rel=1e-5)
    assert hard_label_loss(logits, labels).item() == pytest.approx(sum(expected) / 2, rel=1e-5)


def test_hard_label_regression_and_multi_label():
    logits = torch.tensor([[0.5], [2.0]])
    labels = torch.tensor([1.5, 1.0])
    assert hard_label_loss(logits, labels, problem_type="regression").item() == pytest.approx((1.0 + 1.0) / 2)
    multi = hard_label_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]), "multi_label_classification")
    assert multi.item() == pytest.approx(math.log(2.0), rel=1e-6)
    with pytest.raises(ValueError, match="problem_type='ranking'"):
        hard_label_loss(logits, labels, problem_type="ranking")
