"""Loss functions against values computed by hand (plain Python floats) from each loss's formula."""

import math

import pytest
import torch

from hf_distill.losses import (
    attention_kl_loss,
    attention_score_kl_loss,
    attention_score_mse_loss,
    cosine_embedding_loss,
    embedding_mse_loss,
    hard_label_loss,
    hidden_mse_loss,
    input_gradient_loss,
    logit_kd_loss,
    pkd_cls_loss,
    reduce_items,
    relation_kl_loss,
)


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


# ---- Intermediate losses, by hand on [batch=2, seq=3] with the last token of example 2
# padded; padded positions hold wild values that must not change anything. ----

MASK = [[1, 1, 1], [1, 1, 0]]
H_S = [[[1.0, 2.0], [0.5, -1.0], [3.0, -1.0]], [[1.0, 1.0], [2.0, 0.5], [99.0, 99.0]]]
H_T = [[[0.0, 2.0], [1.0, 1.0], [3.0, 1.0]], [[1.0, 0.0], [0.5, 0.5], [-99.0, 99.0]]]


def real_tokens(example):
    return [i for i, keep in enumerate(MASK[example]) if keep]


def test_hidden_mse_worked_by_hand():
    # Example 1: token means of squared differences (1+0)/2, (.25+4)/2, (0+4)/2 -> (.5 + 2.125 + 2) / 3 = 1.541667.
    # Example 2: (0+1)/2, (2.25+0)/2 -> (.5 + 1.125) / 2 = .8125; the padded token is ignored. Mean: 1.177083.
    per_example = hidden_mse_loss(torch.tensor(H_S), torch.tensor(H_T), torch.tensor(MASK), reduction="none")
    assert per_example.tolist() == pytest.approx([4.625 / 3, 0.8125])
    loss = hidden_mse_loss(torch.tensor(H_S), torch.tensor(H_T), torch.tensor(MASK))
    assert loss.item() == pytest.approx((4.625 / 3 + 0.8125) / 2)
    assert embedding_mse_loss(torch.tensor(H_S), torch.tensor(H_T), torch.tensor(MASK)).item() == loss.item()
    summed = hidden_mse_loss(torch.tensor(H_S), torch.tensor(H_T), torch.tensor(MASK), reduction="sum")
    assert summed.item() == pytest.approx(4.625 / 3 + 0.8125)


def test_cosine_embedding_loss_by_hand():
    def one_minus_cos(u, v):
        dot = sum(a * b for a, b in zip(u, v))
        return 1 - dot / (math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(b * b for b in v)))

    expected = [
        sum(one_minus_cos(H_S[b][i], H_T[b][i]) for i in real_tokens(b)) / len(real_tokens(b)) for b in range(2)
    ]
    per_example = cosine_embedding_loss(torch.tensor(H_S), torch.tensor(H_T), torch.tensor(MASK), reduction="none")
    assert per_example.tolist() == pytest.approx(expected, rel=1e-6)
    # Example 1, token 1 by hand: cos((1, 2), (0, 2)) = 4 / (sqrt(5) * 2) = .894427.
    assert one_minus_cos(H_S[0][0], H_T[0][0]) == pytest.approx(1 - 0.894427, abs=1e-6)
    # Identical directions give 0 whatever the norms.
    same = cosine_embedding_loss(torch.tensor(H_T) * 3, torch.tensor(H_T), torch.tensor(MASK))
    assert same.item() == pytest.approx(0.0, abs=1e-6)


def test_pkd_normalised_cls_distance_by_hand():
    # (3, 4)/5 - (1, 0) = (-.4, .8): .16 + .64 = .8; (0, 2) and (0, 5) point the same way: 0. Mean .4.
    student, teacher = torch.tensor([[3.0, 4.0], [0.0, 2.0]]), torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    assert pkd_cls_loss(student, teacher, reduction="none").tolist() == pytest.approx([0.8, 0.0], abs=1e-6)
    assert pkd_cls_loss(student, teacher).item() == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"\[batch, width\]"):
        pkd_cls_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))


# Scores / attention maps [batch=2, heads=2, seq=3, seq=3].
SCORES_S = [
    [[[1.0, 2.0, 0.0], [0.0, 1.0, 1.0], [2.0, 2.0, 2.0]], [[0.5, 0.0, 1.0], [1.0, -1.0, 0.0], [0.0, 0.0, 3.0]]],
    [[[1.0, 0.0, -1e4], [2.0, 1.0, -1e4], [7.0, 7.0, 7.0]], [[0.0, 0.0, -1e4], [1.0, 3.0, -1e4], [5.0, 5.0, 5.0]]],
]
SCORES_T = [
    [[[0.0, 2.0, 1.0], [0.0, 0.0, 1.0], [2.0, 1.0, 2.0]], [[0.5, 1.0, 1.0], [0.0, -1.0, 2.0], [0.0, 1.0, 3.0]]],
    [[[3.0, 0.0, 50.0], [2.0, 0.0, 60.0], [-7.0, 7.0, 9.0]], [[0.0, 2.0, 70.0], [1.0, 1.0, 80.0], [0.0, 5.0, 1.0]]],
]


def test_attention_score_mse_excludes_pairs_with_a_padded_token():
    def hand(b):
        keep = real_tokens(b)
        per_head = [
            sum((SCORES_S[b][h][i][j] - SCORES_T[b][h][i][j]) ** 2 for i in keep for j in keep) / len(keep) ** 2
            for h in range(2)
        ]
        return sum(per_head) / 2

    # Example 2 by hand: head 1 pairs (0,0),(0,1),(1,0),(1,1): 4 + 0 + 0 + 1 -> 5/4; head 2: 0 + 4 + 0 + 4 -> 2.
    assert hand(1) == pytest.approx((5 / 4 + 2) / 2)
    per_example = attention_score_mse_loss(
        torch.tensor(SCORES_S), torch.tensor(SCORES_T), torch.tensor(MASK), reduction="none"
    )
    assert per_example.tolist() == pytest.approx([hand(0), hand(1)], rel=1e-6)
    # -inf in masked entries (scores with the additive mask applied) changes nothing and the gradient stays finite.
    student = torch.tensor(SCORES_S)
    student[1, :, :, 2] = float("-inf")
    student.requires_grad_(True)
    loss = attention_score_mse_loss(student, torch.tensor(SCORES_T), torch.tensor(MASK))
    assert loss.item() == pytest.approx((hand(0) + hand(1)) / 2, rel=1e-6)
    loss.backward()
    assert torch.isfinite(student.grad).all()
    assert student.grad[1, :, 2].abs().sum() == 0 and student.grad[1, :, :, 2].abs().sum() == 0


def masked_softmax(row, keep):
    exps = [math.exp(v) if k else 0.0 for v, k in zip(row, keep)]
    return [e / sum(exps) for e in exps]


def hand_row_kl(p_t, p_s):
    return sum(t * (math.log(t) - math.log(s)) for t, s in zip(p_t, p_s) if t > 0)


def test_attention_kl_on_distributions_by_hand():
    # Distributions as eager attention produces them: softmax over the real keys, 0 on padded keys.
    def probs(scores):
        return [[[masked_softmax(scores[b][h][i], MASK[b]) for i in range(3)] for h in range(2)] for b in range(2)]

    a_s, a_t = probs(SCORES_S), probs(SCORES_T)

    def hand(b):
        keep = real_tokens(b)
        return sum(hand_row_kl(a_t[b][h][i], a_s[b][h][i]) for h in range(2) for i in keep) / (2 * len(keep))

    per_example = attention_kl_loss(torch.tensor(a_s), torch.tensor(a_t), torch.tensor(MASK), reduction="none")
    assert per_example.tolist() == pytest.approx([hand(0), hand(1)], rel=1e-5)
    # Two-key worked example: a_t = (.5, .5), a_s = (.25, .75): KL = .5 ln 2 + .5 ln(2/3) = .143841.
    one = attention_kl_loss(torch.tensor([[[[0.25, 0.75]]]]), torch.tensor([[[[0.5, 0.5]]]]), torch.tensor([[1]]))
    assert one.item() == pytest.approx(0.143841, abs=1e-6)
    assert attention_kl_loss(torch.tensor(a_t), torch.tensor(a_t), torch.tensor(MASK)).item() == pytest.approx(0.0)


def attention_kl_float64(scores_s, scores_t, mask):
    """The attention KL per example in float64, on each example's real tokens sliced out (no masking involved)."""
    per_example = []
    for b in range(mask.shape[0]):
        real = mask[b].bool()
        log_s = scores_s[b][:, real][:, :, real].double().log_softmax(-1)
        log_t = scores_t[b][:, real][:, :, real].double().log_softmax(-1)
        per_example.append((log_t.exp() * (log_t - log_s)).sum(-1).mean())  # mean over heads and real queries
    return torch.stack(per_example)


def test_attention_score_kl_equals_the_by_hand_value_of_its_distributions():
    per_example = attention_score_kl_loss(
        torch.tensor(SCORES_S), torch.tensor(SCORES_T), torch.tensor(MASK), reduction="none"
    )
    probabilities = attention_kl_loss(
        *(torch.tensor(scores).masked_fill(~torch.tensor(MASK).bool()[:, None, None, :], -1e9).softmax(-1)
          for scores in (SCORES_S, SCORES_T)), torch.tensor(MASK), reduction="none",
    )  # fmt: skip
    assert per_example.tolist() == pytest.approx(probabilities.tolist(), rel=1e-5)
    reference = attention_kl_float64(torch.tensor(SCORES_S), torch.tensor(SCORES_T), torch.tensor(MASK))
    assert per_example.tolist() == pytest.approx(reference.tolist(), rel=1e-5)


@pytest.mark.parametrize("scale", [30.0, 50.0])
def test_attention_score_kl_of_peaked_heads_matches_float64(scale):
    """Score gaps of several hundred: a float32 softmax rounds the student's probabilities of keys the teacher
    attends to 0, whose log (and gradient) a masked log_softmax keeps exact."""
    generator = torch.Generator().manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    base_s, base_t = (torch.randn(2, 3, 5, 5, generator=generator) for _ in range(2))
    student = (base_s * scale).requires_grad_(True)
    reference_student = (base_s.double() * scale).requires_grad_(True)
    loss = attention_score_kl_loss(student, base_t * scale, mask)
    reference = attention_kl_float64(reference_student, base_t.double() * scale, mask).mean()
    real = mask[:, None, None, :].bool()
    gaps = student.detach().masked_fill(~real, -1e9).amax(-1) - student.detach().masked_fill(~real, 1e9).amin(-1)
    assert gaps.max() > 100
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    loss.backward()
    reference.backward()
    torch.testing.assert_close(student.grad.double(), reference_student.grad, rtol=1e-4, atol=1e-7)
    assert student.grad[1, :, :, 3:].abs().sum() == 0 and student.grad[1, :, 3:].abs().sum() == 0  # padding


def test_relation_kl_with_relation_heads_independent_of_widths_by_hand():
    # Student width 2, teacher width 4, 2 relation heads: d_r = 1 for the student, 2 for the teacher.
    x_s = [[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], [[0.5, -1.0], [1.0, 1.0], [50.0, -50.0]]]
    x_t = [
        [[1.0, 0.0, 0.5, 0.5], [0.0, 1.0, -1.0, 0.0], [1.0, 1.0, 0.0, 2.0]],
        [[2.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0], [9.0, 9.0, 9.0, 9.0]],
    ]

    def relations(x, b, head, heads):
        d_r = len(x[b][0]) // heads
        vectors = [row[head * d_r : (head + 1) * d_r] for row in x[b]]
        dots = [[sum(p * q for p, q in zip(u, v)) / math.sqrt(d_r) for v in vectors] for u in vectors]
        return [masked_softmax(row, MASK[b]) for row in dots]

    def hand(b):
        keep = real_tokens(b)
        total = 0.0
        for head in range(2):
            r_s, r_t = relations(x_s, b, head, 2), relations(x_t, b, head, 2)
            total += sum(hand_row_kl(r_t[i], r_s[i]) for i in keep)
        return total / (2 * len(keep))

    per_example = relation_kl_loss(torch.tensor(x_s), torch.tensor(x_t), 2, torch.tensor(MASK), reduction="none")
    assert per_example.tolist() == pytest.approx([hand(0), hand(1)], rel=1e-5)
    assert hand(0) > 0.01 and hand(1) > 0.01
    with pytest.raises(ValueError, match="width 2 is not divisible by 3 relation heads"):
        relation_kl_loss(torch.tensor(x_s), torch.tensor(x_t), 3, torch.tensor(MASK))


def test_intermediate_losses_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="project the student to the teacher's width"):
        hidden_mse_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match="student has 2 attention heads and the teacher 4"):
        attention_score_mse_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 4, 3, 3))
    with pytest.raises(ValueError, match="mask has shape"):
        attention_kl_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3), torch.ones(1, 4))


def test_intermediate_losses_do_not_backpropagate_into_the_teacher():
    student = torch.tensor(H_S, requires_grad=True)
    teacher = torch.tensor(H_T, requires_grad=True)
    (hidden_mse_loss(student, teacher) + relation_kl_loss(student, teacher, 2)).backward()
    assert teacher.grad is None and student.grad is not None


# Input gradients [batch=2, seq=3, width]; example 2's last token is padding (99s and 9s that must not count).
GRAD_S = [[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], [[3.0, 4.0], [0.0, 0.0], [99.0, 99.0]]]
GRAD_T_SAME = [[[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]], [[3.0, 0.0], [0.0, 4.0], [-5.0, 7.0]]]
GRAD_T_WIDER = [
    [[1.0, 2.0, 2.0], [0.0, 0.0, 0.0], [0.0, 3.0, 4.0]],
    [[0.0, 0.0, 2.0], [2.0, 1.0, 2.0], [9.0, 9.0, 9.0]],
]


def test_input_gradient_same_width_by_hand():
    # Example 1: G_s / ||G_s||_F = [[1, 0], [0, 1], [0, 0]] / sqrt(2), G_t / ||G_t||_F = [[1, 0], [0, 0], [0, 0]]:
    # squared distance (1 - 1/sqrt(2))^2 + (1/sqrt(2))^2 = 2 - sqrt(2) = 0.585786.
    # Example 2 (real tokens 0, 1): [[.6, .8], [0, 0]] against [[.6, 0], [0, .8]]: 2 - 2 * (.6 * .6) = 1.28.
    per_example = input_gradient_loss(
        torch.tensor(GRAD_S), torch.tensor(GRAD_T_SAME), torch.tensor(MASK), reduction="none"
    )
    assert per_example.tolist() == pytest.approx([2 - math.sqrt(2), 1.28], rel=1e-6)
    mean = input_gradient_loss(torch.tensor(GRAD_S), torch.tensor(GRAD_T_SAME), torch.tensor(MASK))
    assert mean.item() == pytest.approx((2 - math.sqrt(2) + 1.28) / 2, rel=1e-6)
    total = input_gradient_loss(torch.tensor(GRAD_S), torch.tensor(GRAD_T_SAME), torch.tensor(MASK), reduction="sum")
    assert total.item() == pytest.approx(2 - math.sqrt(2) + 1.28, rel=1e-6)
    # Scale-free: the gradients' magnitudes do not count, only their directions.
    scaled = input_gradient_loss(7 * torch.tensor(GRAD_S), torch.tensor(GRAD_T_SAME) / 3, torch.tensor(MASK))
    assert scaled.item() == pytest.approx(mean.item(), rel=1e-6)


def test_input_gradient_different_widths_compares_per_token_saliency_by_hand():
    # Example 1: a_s = (1, 1, 0), a_t = (3, 0, 5) (norms of the rows): cos = 3 / (sqrt(2) * sqrt(34)) = 0.363803,
    # loss = 2 - 2 cos = 1.272393. Example 2: a_s = (5, 0), a_t = (2, 3) on the real tokens: cos = 2 / sqrt(13),
    # loss = 2 - 4 / sqrt(13) = 0.890600.
    per_example = input_gradient_loss(
        torch.tensor(GRAD_S), torch.tensor(GRAD_T_WIDER), torch.tensor(MASK), reduction="none"
    )
    assert per_example.tolist() == pytest.approx([2 - 6 / math.sqrt(68), 2 - 4 / math.sqrt(13)], rel=1e-6)
    assert per_example.tolist() == pytest.approx([1.272393, 0.890600], abs=1e-6)


def test_input_gradient_zero_gradient_padding_and_teacher_side():
    student = torch.zeros(2, 3, 2, requires_grad=True)
    teacher = torch.tensor(GRAD_T_SAME, requires_grad=True)
    loss = input_gradient_loss(student, teacher, torch.tensor(MASK), reduction="none")
    assert loss.tolist() == pytest.approx([1.0, 1.0])  # || 0 - unit ||^2
    loss.sum().backward()
    assert torch.isfinite(student.grad).all() and teacher.grad is None
    everything = input_gradient_loss(torch.tensor(GRAD_S), torch.tensor(GRAD_T_SAME), reduction="none")
    assert everything[1].item() != pytest.approx(1.28)  # without the mask the padded rows count
    with pytest.raises(ValueError, match="same tokens"):
        input_gradient_loss(torch.zeros(2, 3, 2), torch.zeros(2, 4, 2))


@pytest.mark.parametrize("teacher_width", [4, 6])
def test_input_gradient_gradient_matches_finite_differences(teacher_width):
    generator = torch.Generator().manual_seed(0)
    student = torch.randn(2, 5, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(2, 5, teacher_width, generator=generator, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert torch.autograd.gradcheck(lambda g: input_gradient_loss(g, teacher, mask, reduction="none"), (student,))
    assert input_gradient_loss(student, teacher, mask).dtype == torch.float64


# ---- The intermediate-term registry: one entry per loss, declared on the loss function ----


def test_every_term_loss_is_registered_on_its_function_and_called_per_example():
    from hf_distill.losses import TERM_LOSSES, register_term_loss
    from hf_distill.terms import TERM_LOSSES as terms_view

    assert terms_view is TERM_LOSSES
    assert list(TERM_LOSSES) == [
        "hidden_mse", "embedding_mse", "cosine", "pkd", "attention_mse", "attention_kl", "value_relation",
        "qq_relation", "kk_relation", "vv_relation", "input_gradient",
    ]  # fmt: skip
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    torch.testing.assert_close(
        TERM_LOSSES["hidden_mse"].per_example(s, t, mask, None), hidden_mse_loss(s, t, mask, "none")
    )
    torch.testing.assert_close(
        TERM_LOSSES["pkd"].per_example(s[:, 0], t[:, 0], mask, None), pkd_cls_loss(s[:, 0], t[:, 0], reduction="none")
    )
    relation = TERM_LOSSES["kk_relation"].per_example(s, t, mask, 2)
    torch.testing.assert_close(relation, relation_kl_loss(s, t, 2, mask, reduction="none"))
    assert TERM_LOSSES["kk_relation"].source == "key" and TERM_LOSSES["value_relation"].equal_heads
    with pytest.raises(ValueError, match="'cosine' is already registered"):
        register_term_loss("cosine", "hidden", "again")(hidden_mse_loss)
