"""The Hub side: pushing a distilled student (``push.py``), its model card (``model_card.py``, from
``templates/distilled_student.md``), keeping secrets and machine paths out of both (``redaction.py``), and the
``hf_distill push`` command (``cli.py``)."""

from .model_card import render_model_card
from .push import HubPushError, push_student

__all__ = ["HubPushError", "push_student", "render_model_card"]
