"""Per-segment reward values from a span model's error probabilities (fine-grained RLHF, and the share-based form)."""
from __future__ import annotations

import pytest

from langrl.rewards.segments import segment_values


def test_segment_values_hand_worked():
    p = [0.1, 0.9]  # two sentences: one likely clean, one likely bad
    # signed, the paper's +w/-w in expectation: w (1 - 2p) = 0.3 x 0.8, 0.3 x (-0.8)
    assert segment_values(p, "signed", 0.3) == pytest.approx([0.24, -0.24])
    # fraction: -w p / n = -0.1 / 2, -0.9 / 2; the sum -0.5 is minus the expected share of bad sentences
    assert segment_values(p, "fraction") == pytest.approx([-0.05, -0.45])
    # penalty: -w p
    assert segment_values(p, "penalty", 0.5) == pytest.approx([-0.05, -0.45])
    assert segment_values([], "fraction") == []


def test_an_extra_clean_sentence_pays_under_signed_values_only_as_much_as_it_lowers_the_bad_share_under_fraction():
    bad, padded = [0.9], [0.9, 0.1]  # the same bad sentence, then one more the error head passes
    # signed: -0.8 -> -0.8 + 0.8 = 0.0; every extra sentence adds 1 - 2p, so padding is paid
    assert sum(segment_values(padded, "signed")) - sum(segment_values(bad, "signed")) == pytest.approx(0.8)
    # fraction: -0.9 -> -(0.9 + 0.1) / 2 = -0.5: paid only because the bad share halves ...
    assert sum(segment_values(padded, "fraction")) == pytest.approx(-0.5)
    # ... and a clean answer gains nothing by repeating itself: [0.1] and [0.1, 0.1] both sum to -0.1
    assert sum(segment_values([0.1], "fraction")) == pytest.approx(sum(segment_values([0.1, 0.1], "fraction")))
    with pytest.raises(ValueError, match="unknown mode"):
        segment_values(bad, "sum")
