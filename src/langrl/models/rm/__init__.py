"""Reward models — the learned scorers ``langrl rm train`` builds (one meaning of "reward model" in the library):

- :mod:`~langrl.models.rm.model`: the backbone + scalar/per-category heads, ensembles, save and load;
- :mod:`~langrl.models.rm.data`: feedback records → token sequences, segments and span labels, training items;
- :mod:`~langrl.models.rm.losses`: one micro-batch of mixed feedback → one loss (the pure losses are
  :mod:`langrl.losses.preference`);
- :mod:`~langrl.models.rm.eval`: held-out metrics of a reward model (pairwise accuracy, Kendall's τ, AUC, span F1,
  calibration).

The trainer is :mod:`langrl.train.rm.loop`; a trained model is used as a reward *function* (``rm:path=DIR``) by
:mod:`langrl.rewards.learned`.
"""
