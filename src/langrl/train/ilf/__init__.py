"""Learning from language feedback by imitation: ILF (``langrl ilf``) and critique-conditioned self-distillation."""
