"""FastBERT (Liu et al., ACL 2020, arXiv:2004.02178): branch classifiers, self-distillation, adaptive inference.

The model and its configuration live in ``hf_distill/modeling_fastbert.py``: ``save_pretrained`` copies that file
and the ``losses.py`` it imports next to the weights for ``trust_remote_code``, so it stays beside them.
"""

from ...modeling_fastbert import FastBertConfig, FastBertForSequenceClassification
from .fastbert_callback import FastBertStageCallback
from .fastbert_config import FastBertArguments
from .fastbert_report import plot_speed_curve, speed_report

__all__ = [
    "FastBertArguments",
    "FastBertConfig",
    "FastBertForSequenceClassification",
    "FastBertStageCallback",
    "plot_speed_curve",
    "speed_report",
]
