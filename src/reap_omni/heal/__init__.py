"""``reap-omni heal``: recover a pruned checkpoint by distilling it from its original, with the user's trainer.

Pruning changes two things in the thinker: each MoE layer's router (rows of the dropped experts removed) and
which experts answer. Healing trains exactly those (``modules``) with the original as the teacher:

* ms-swift: GKD (``swift rlhf --rlhf_type gkd``, a JSD over the vocabulary between student and teacher) on
  the calibration prompts (``dataset``), written as ``heal.sh`` (``commands``);
* LLaMA-Factory, which has no logit distillation: sequence-level distillation, the original's greedy answers
  (``teacher``) as the SFT targets, written as ``heal_llamafactory.yaml``.

``run`` ties the steps together; the modules that need torch import it inside their functions.
"""
