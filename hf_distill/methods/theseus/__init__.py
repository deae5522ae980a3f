"""BERT-of-Theseus (Xu et al., EMNLP 2020, arXiv:2002.02925): progressive module replacement."""

from .modeling_theseus import ReplacementScheduler, export_successor, theseus_model
from .theseus_config import TheseusArguments

__all__ = ["ReplacementScheduler", "TheseusArguments", "export_successor", "theseus_model"]
