"""The policy-gradient core shared by ``langrl rl`` (``train/rl``) and ``langrl agent train`` (``train/agent``).

collect.py (sample → score → log-probs → shaped rewards), kl.py (``KLPenalty``: the one owner of β),
advantages.py (estimators), algorithms.py (``ALGORITHMS``, ``TURN_ALGORITHMS``: objects built with ``from_config``),
update.py (micro-batch loss and K epochs of minibatch steps), stats.py (statistics over every rank), setup.py (models,
optimizer, checkpoints).
"""
