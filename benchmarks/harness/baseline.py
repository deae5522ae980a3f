"""The distillation trainer users write themselves: a `transformers.Trainer` subclass as the transformers docs show.

Modelled on the "Knowledge Distillation for Computer Vision" task guide
(https://huggingface.co/docs/transformers/tasks/knowledge_distillation_for_image_classification): the teacher is
an attribute, ``compute_loss`` runs student and teacher on the same inputs and mixes ``nn.KLDivLoss`` on the
temperature-softened distributions with the student's own label loss. Only ``num_items_in_batch`` is added to the
signature, which transformers 5 passes. The benchmark runs it next to ``DistillationTrainer`` to measure the
library's overhead over this baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Trainer


class DocsDistillationTrainer(Trainer):
    def __init__(self, *args, teacher_model=None, temperature=2.0, lambda_param=0.5, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = teacher_model
        self.loss_function = nn.KLDivLoss(reduction="batchmean")
        self.teacher.to(self.args.device)
        self.teacher.eval()
        self.temperature = temperature
        self.lambda_param = lambda_param

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        student_output = model(**inputs)
        with torch.no_grad():
            teacher_output = self.teacher(**inputs)
        soft_teacher = F.softmax(teacher_output.logits / self.temperature, dim=-1)
        soft_student = F.log_softmax(student_output.logits / self.temperature, dim=-1)
        distillation_loss = self.loss_function(soft_student, soft_teacher) * (self.temperature**2)
        student_target_loss = student_output.loss
        loss = (1.0 - self.lambda_param) * student_target_loss + self.lambda_param * distillation_loss
        return (loss, student_output) if return_outputs else loss
