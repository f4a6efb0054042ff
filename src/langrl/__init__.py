"""langrl: reinforcement learning from feedback for language models and language agents.

``import langrl`` is cheap: it pulls in no torch or transformers. Import the sub-packages you need
(``langrl.losses`` needs only torch).
"""
__version__ = "0.1.0"
