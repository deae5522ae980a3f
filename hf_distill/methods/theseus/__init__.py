"""BERT-of-Theseus (Xu et al., EMNLP 2020, arXiv:2002.02925): progressive module replacement."""

from .modeling_theseus import ReplacementScheduler, TheseusArguments, export_successor, theseus_model

__all__ = ["ReplacementScheduler", "TheseusArguments", "export_successor", "theseus_model"]
