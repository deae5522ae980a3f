"""MetaDistil (Zhou et al., ACL 2022, arXiv:2106.04570): a teacher that learns to teach from the student's quiz."""

from .metadistil_config import MetaDistilTrainingArguments
from .metadistil_trainer import MetaDistilTrainer

__all__ = ["MetaDistilTrainer", "MetaDistilTrainingArguments"]
