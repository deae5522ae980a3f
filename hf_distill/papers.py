"""The papers behind the methods: each method's trainer, callback or config carries its `Paper` as ``_paper``
(set by [`cites`]), and the model card of a run cites the paper of the method that ran (``PAPERS[method]``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Paper:
    """A paper as a model card cites it.

    Attributes:
        authors: short form, e.g. ``"Hinton et al."``.
        year: of the publication.
        title: the paper's title.
        venue: where it appeared (``"arXiv"`` for preprints).
        url: the arXiv or ACL Anthology page.
        method: what the method does, in the card's words, e.g. ``"logit distillation"``.
        summary: one clause on how, for the card (may be empty).
    """

    authors: str
    year: int
    title: str
    venue: str
    url: str
    method: str
    summary: str = ""

    @property
    def description(self) -> str:
        """``"<method> (<authors>, <year>): <summary>"``, the card's one-line description of the method."""
        text = f"{self.method} ({self.authors}, {self.year})"
        return f"{text}: {self.summary}" if self.summary else text

    @property
    def citation(self) -> str:
        return f'{self.authors}, "{self.title}", {self.venue} {self.year}, {self.url}'


# Method name (``distill_method``, preset or general preset) -> its paper; filled by `cites` where each is declared.
PAPERS: dict[str, Paper] = {}


def cites(paper: Paper, *methods: str) -> Callable[[T], T]:
    """Class decorator: ``cls._paper = paper``, and the card of a run of any of ``methods`` cites ``paper``."""

    def mark(cls: T) -> T:
        cls._paper = paper
        for method in methods:
            PAPERS.setdefault(method, paper)
        return cls

    return mark
