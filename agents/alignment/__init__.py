"""Alignment trainers validated against the exact optimum of the enumerable language model.

* :mod:`.reward_model` Bradley-Terry reward model from preference pairs;
* :mod:`.dpo` DPO, IPO, hinge and conservative DPO;
* :mod:`.rlhf_ppo` RLHF-PPO (KL-penalised token rewards, critic, masked GAE, clipped losses);
* :mod:`.grpo` GRPO, Dr. GRPO, DAPO and GSPO;
* :mod:`.exact` and :mod:`.grpo_fixed_point` the exact fixed points and measurements;
* :mod:`.live_validation` the trainers' real batches checked against the oracles;
* :mod:`.transformer` a tiny transformer on a digit task; :mod:`.cli` ``rlspec train``.
"""
