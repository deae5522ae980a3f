"""The reusable part of the GLUE and general-distillation recipes (``recipes/run_glue_distill.py``,
``recipes/run_general_distill.py``): arguments, ``--config`` files, the method registry and the results report."""
