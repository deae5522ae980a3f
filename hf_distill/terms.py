"""Intermediate-layer distillation terms, and the paper recipes (presets) that expand into them.

A term says which loss compares which student layer with which teacher layer, with what weight, and whether the
student side goes through a learned projection to the teacher's width first. Layers are numbered as in
`hf_distill.layers` (0 = embeddings, 1..N transformer layers, -1 = last); a term without layers applies to every
``(student, teacher)`` pair of the ``layer_mapping``. A preset is nothing but a list of terms plus a layer mapping
and training phases: what it expands into is exactly what a user could write by hand. Each preset names its paper
(`Preset.paper`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .losses import TERM_LOSSES
from .papers import PAPERS, Paper

RELATION_LOSSES = ("qq_relation", "kk_relation", "vv_relation")
DISTILL_PHASES = ("joint", "intermediate", "prediction", "intermediate_then_prediction")
# The "ebbt" preset's beta and sigma (see the preset).
EBBT_WEIGHT = 0.1
EBBT_NOISE = 0.1


@dataclass(frozen=True)
class IntermediateTerm:
    """One intermediate-layer loss term.

    Attributes:
        loss: a name of `TERM_LOSSES` (the intermediate losses registered in `hf_distill.losses`).
        student_layer, teacher_layer: the layers compared (both or neither; 0 = embeddings, -1 = last). Neither:
            every pair of ``layer_mapping`` (``embedding_mse``: 0 and 0).
        weight: multiplies the loss (per layer pair) in the total.
        projection: pass the student's vectors through a learned linear map to the teacher's width first. None:
            only when the widths differ. False with different widths is an error.
        relation_heads: MiniLMv2 relation heads (qq/kk/vv_relation only); None: the student's head count.
        noise: ``input_gradient`` only: ``sigma``, the scale of the Gaussian noise added to the word embeddings
            before the gradients are taken, relative to the root mean square of each example's embeddings
            (0: the gradients at the inputs themselves).
    """

    loss: str
    student_layer: int | None = None
    teacher_layer: int | None = None
    weight: float = 1.0
    projection: bool | None = None
    relation_heads: int | None = None
    noise: float = 0.0

    def __post_init__(self) -> None:
        if self.loss not in TERM_LOSSES:
            raise ValueError(f"Intermediate loss {self.loss!r} is not one of {', '.join(TERM_LOSSES)}.")
        if (self.student_layer is None) != (self.teacher_layer is None):
            raise ValueError(
                f"The {self.loss} term sets only one of student_layer/teacher_layer ({self.student_layer}, "
                f"{self.teacher_layer}): give both, or neither to use every pair of layer_mapping."
            )
        if not self.weight >= 0:
            raise ValueError(f"The {self.loss} term has weight={self.weight}; weights must be >= 0.")
        if self.projection and not TERM_LOSSES[self.loss].projectable:
            raise ValueError(
                f"The {self.loss} term cannot use a projection: it compares attention maps or relations, whose "
                "shape does not depend on the width. Remove projection=True."
            )
        if isinstance(self.noise, bool) or not (isinstance(self.noise, (int, float)) and self.noise >= 0):
            raise ValueError(
                f"The {self.loss} term has noise={self.noise!r}; the noise scale sigma must be a number >= 0 (0 = "
                "no noise)."
            )
        if self.noise and self.loss != "input_gradient":
            raise ValueError(f"noise={self.noise} is only for the input_gradient term, not {self.loss}.")
        if self.loss == "input_gradient" and self.student_layer is not None:
            raise ValueError(
                "The input_gradient term reads the gradients with respect to the word embeddings: remove "
                f"student_layer/teacher_layer ({self.student_layer}, {self.teacher_layer})."
            )
        if self.relation_heads is not None and (self.loss not in RELATION_LOSSES or self.relation_heads < 1):
            raise ValueError(
                f"relation_heads={self.relation_heads} is only for {', '.join(RELATION_LOSSES)}, and must be >= 1."
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> IntermediateTerm:
        if not isinstance(values, dict):
            raise ValueError(f"An intermediate term must be a dict such as {{'loss': 'hidden_mse'}}, got {values!r}.")
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(
                f"Intermediate term {values} has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}."
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from the defaults (what a user would write)."""
        defaults = IntermediateTerm(loss=self.loss)
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name == "loss" or getattr(self, f.name) != getattr(defaults, f.name)
        }


def parse_terms(value: Sequence[dict[str, Any] | IntermediateTerm] | str | None) -> list[IntermediateTerm]:
    """Terms from a list of dicts / `IntermediateTerm`, or a JSON string of such a list (the command-line form)."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"intermediate_terms={value!r} is not valid JSON ({error}); pass a list such as "
                '\'[{"loss": "hidden_mse", "weight": 1.0}]\'.'
            ) from None
    if isinstance(value, dict):
        value = [value]
    return [item if isinstance(item, IntermediateTerm) else IntermediateTerm.from_dict(item) for item in value]


@dataclass(frozen=True)
class Preset:
    """A paper recipe: the terms, the layer mapping and the phases it expands into, the student it assumes, and the
    paper (cited by the model card of a run with the preset)."""

    terms: tuple[IntermediateTerm, ...]
    layer_mapping: str
    distill_phases: str
    student: str
    paper: Paper | None = None


PKD = Paper(
    "Sun et al.",
    2019,
    "Patient Knowledge Distillation for BERT Model Compression",
    "EMNLP-IJCNLP",
    "https://arxiv.org/abs/1908.09355",
    "patient knowledge distillation, BERT-PKD",
    "the student also matches normalised [CLS] states of chosen teacher layers",
)
DISTILBERT = Paper(
    "Sanh et al.",
    2019,
    "DistilBERT, a distilled version of BERT: smaller, faster, cheaper and lighter",
    "NeurIPS EMC^2 Workshop",
    "https://arxiv.org/abs/1910.01108",
    "DistilBERT-style distillation",
    "soft targets plus hidden-state cosine loss",
)
TINYBERT = Paper(
    "Jiao et al.",
    2020,
    "TinyBERT: Distilling BERT for Natural Language Understanding",
    "Findings of EMNLP",
    "https://arxiv.org/abs/1909.10351",
    "TinyBERT-style distillation",
    "embeddings, hidden states, attention maps, logits",
)
MOBILEBERT = Paper(
    "Sun et al.",
    2020,
    "MobileBERT: a Compact Task-Agnostic BERT for Resource-Limited Devices",
    "ACL",
    "https://arxiv.org/abs/2004.02984",
    "MobileBERT-style layer-wise transfer",
)
MINILM = Paper(
    "Wang et al.",
    2020,
    "MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of Pre-Trained Transformers",
    "NeurIPS",
    "https://arxiv.org/abs/2002.10957",
    "MiniLM self-attention distillation",
)
MINILMV2 = Paper(
    "Wang et al.",
    2021,
    "MiniLMv2: Multi-Head Self-Attention Relation Distillation for Compressing Pretrained Transformers",
    "Findings of ACL",
    "https://arxiv.org/abs/2012.15828",
    "MiniLMv2 self-attention relation distillation",
)
JACOBIAN_MATCHING = Paper(
    "Srinivas & Fleuret",
    2018,
    "Knowledge Transfer with Jacobian Matching",
    "ICML",
    "https://arxiv.org/abs/1803.00443",
    "gradient transfer",
    "logit distillation plus matching the input gradients at noise-perturbed word embeddings",
)


PRESETS: dict[str, Preset] = {
    # BERT-PKD: first-k student; L_pt on [CLS] of student layers 1..k-1, the top is left to L_kd.
    "pkd-skip": Preset((IntermediateTerm("pkd"),), "skip", "joint", 'shallow_student(teacher, "first_k", k)', PKD),
    "pkd-last": Preset((IntermediateTerm("pkd"),), "last", "joint", 'shallow_student(teacher, "first_k", k)', PKD),
    # DistilBERT: every-other init, cosine between the last hidden states, with logit KD.
    "distilbert": Preset(
        (IntermediateTerm("cosine", -1, -1),),
        "uniform",
        "joint",
        'shallow_student(teacher, "every_other")',
        DISTILBERT,
    ),
    # TinyBERT task distillation: embd + hidn (projected, W_e and W_h) + attn on uniformly mapped
    # layers first, then the prediction loss alone.
    "tinybert": Preset(
        (
            IntermediateTerm("embedding_mse", 0, 0, projection=True),
            IntermediateTerm("hidden_mse", projection=True),
            IntermediateTerm("attention_mse"),
        ),
        "uniform",
        "intermediate_then_prediction",
        "narrow_student(teacher.config, 4, 312, 1200, 12) or any student with the teacher's head count",
        TINYBERT,
    ),
    # MobileBERT: feature-map (hidden MSE) + attention (KL) transfer, layer to layer.
    "mobilebert": Preset(
        (IntermediateTerm("hidden_mse"), IntermediateTerm("attention_kl")),
        "uniform",
        "joint",
        "a student with the teacher's head count (depth mapped uniformly)",
        MOBILEBERT,
    ),
    # MiniLM: last layer only, attention KL + value-relation KL.
    "minilm": Preset(
        (IntermediateTerm("attention_kl", -1, -1), IntermediateTerm("value_relation", -1, -1)),
        "uniform",
        "joint",
        "any depth and width, the teacher's head count",
        MINILM,
    ),
    # MiniLMv2: Q-Q, K-K, V-V relations of the last layers, relation heads free.
    "minilmv2": Preset(
        tuple(IntermediateTerm(loss, -1, -1) for loss in RELATION_LOSSES),
        "uniform",
        "joint",
        "any depth, width and head count",
        MINILMV2,
    ),
    # Gradient transfer ("EBBT") as Jacobian matching (Srinivas & Fleuret, 2018): logit KD plus input-gradient
    # matching at noise-perturbed word embeddings. L_grad = 2 - 2 cos lies in [0, 4]; beta = 0.1 scored best of
    # {0.1, 1, 10} on 872 held-out SST-2 train rows (0.845, 0.789, 0.619; student alone 0.812): larger weights pull
    # the student away from the task. sigma = 0.1 of the embeddings' RMS: a probe of each token's neighbourhood,
    # where the first-order equivalence of Jacobian matching and noisy distillation holds (in all-MiniLM-L6-v2 the
    # noise's norm, 0.11, is a ninth of the median distance from a word embedding to its nearest neighbour, 0.98).
    "ebbt": Preset(
        (IntermediateTerm("input_gradient", weight=EBBT_WEIGHT, noise=EBBT_NOISE),),
        "uniform",
        "joint",
        "any depth and width, the teacher's tokenizer (BERT, RoBERTa, MPNet, DistilBERT)",
        JACOBIAN_MATCHING,
    ),
}
PAPERS.setdefault("pkd", PKD)
for _name, _preset in PRESETS.items():
    PAPERS.setdefault(_name, _preset.paper)
