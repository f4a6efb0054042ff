"""The feedback loop over time: ``langrl loop`` (see :mod:`langrl.loop.runner`)."""
