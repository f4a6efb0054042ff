"""Claims are computed from numbers: hand-made result tables give known verdicts."""
import pytest

from langrl.demo.claims import compute_claims, pareto_front


def test_pareto_front_by_hand():
    # a: (kl 1, gold .5), b: (kl 2, gold .4) is dominated by a, c: (kl 3, gold .9) is not
    assert sorted(pareto_front({"a": (1, .5), "b": (2, .4), "c": (3, .9)})) == ["a", "c"]


def test_claims_true_and_false_from_numbers():
    res = {
        "sft-reviews": {"gold/gold": 0.3}, "ppo-kl": {"gold/gold": 0.5, "proxy": 0.6, "kl": 2.0},
        "ppo-no-kl": {"gold/gold": 0.2, "proxy": 0.9, "kl": 9.0,
                      "curve": [{"step": 1, "eval/gold": .3, "kl": 0.1}, {"step": 2, "eval/gold": .5, "kl": 1.0},
                                {"step": 3, "eval/gold": .2, "kl": 4.0}]},
    }
    c = compute_claims(res)
    assert c["rl_beats_sft"]["value"] is True        # 0.5 > 0.3
    assert c["kl_prevents_hacking"]["value"] is True  # proxy .9 > .6 and gold .2 < .5
    assert c["overoptimization_visible"]["value"] is True  # peak .5 at step 2, final .2 (drop .3 > .02)
    assert c["fine_grained_beats_holistic"]["value"] is None  # not run
    res["ppo-no-kl"]["gold/gold"] = 0.6
    assert compute_claims(res)["kl_prevents_hacking"]["value"] is False


def test_fine_grained_needs_comparable_kl():
    fg = {"gold/factuality": .9, "gold/completeness": .8, "kl": 20.0}
    ho = {"gold/factuality": .7, "gold/completeness": .7, "kl": 2.0}
    c = compute_claims({"ppo-fine-grained": fg, "ppo-holistic": ho})["fine_grained_beats_holistic"]
    assert c["value"] is False and c["numbers"]["kl_ratio"] == 10.0  # better gold, but at 10x the KL
    fg["kl"] = 3.0
    assert compute_claims({"ppo-fine-grained": fg, "ppo-holistic": ho})["fine_grained_beats_holistic"]["value"]
    tie = {"gold/factuality": 0.0, "gold/completeness": 0.0, "kl": 2.0}  # equal (e.g. both 0): not "beats"
    assert compute_claims({"ppo-fine-grained": tie, "ppo-holistic": dict(tie)})["fine_grained_beats_holistic"][
        "value"] is False


def test_paired_difference_by_hand():
    from langrl.demo.claims import paired_difference

    # per-prompt differences: .5-.0 = .5, 1-.5 = .5, 0-0 = 0, 1-1 = 0 -> mean .25;
    # sample variance = (3 * .0625 + ... ) : deviations .25, .25, -.25, -.25 -> sum sq = .25, / (n-1=3) = 1/12,
    # se = sqrt(1/12 / 4) = 0.1443
    res = {"a": {"gold_per_sample": [.5, 1.0, 0.0, 1.0]}, "b": {"gold_per_sample": [0.0, .5, 0.0, 1.0]}}
    d = paired_difference(res, "a", "b")
    assert d["diff"] == pytest.approx(0.25) and d["diff_se"] == pytest.approx(0.1443, abs=1e-4) and d["n"] == 4
    assert paired_difference({"a": res["a"], "b": {"gold_per_sample": [1.0]}}, "a", "b") == {}  # not the same prompts
