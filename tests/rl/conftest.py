"""Fixtures for the online-RL tests."""
from __future__ import annotations

import pytest
from online_helpers import write_prompts


@pytest.fixture()
def prompts_file(tmp_path):
    return write_prompts(tmp_path)
