"""The paper methods, each in one place (its code, its settings, its paper):

- ``students.py``: students built from a teacher in one call (shallower, narrower, ALBERT-like);
- ``augmentation.py``: the data augmentation of TinyBERT and the Distilled BiLSTM;
- ``theseus/``: BERT-of-Theseus, progressive module replacement (Xu et al., EMNLP 2020);
- ``fastbert/``: FastBERT's self-distilled early exits (Liu et al., ACL 2020); its model is
  ``hf_distill/modeling_fastbert.py``, beside the losses it ships with for ``trust_remote_code``;
- ``metadistil/``: MetaDistil, a teacher that learns from the student's quiz (Zhou et al., ACL 2022);
- ``bilstm/``: the Distilled BiLSTM student (Tang et al., 2019);
- ``general/``: task-agnostic (general) distillation: DistilBERT, TinyBERT, MobileBERT and MiniLM presets, the text
  corpus, dynamic masking, progressive transfer and teacher-assistant chains.

The layer-to-layer objectives of DistilBERT, BERT-PKD, TinyBERT, MobileBERT, MiniLM and gradient transfer are
intermediate terms of the core trainer (``hf_distill/terms.py``, ``hf_distill/losses.py``), not subpackages.
"""
