"""Claims are computed from numbers: hand-made result tables give known verdicts."""
import pytest

from langrl.demo.claims import compute_claims, pareto_front


def test_pareto_front_by_hand():
    # a: (kl 1, gold .5), b: (kl 2, gold .4) is dominated by a, c: (kl 3, gold .9) is not
    assert sorted(pareto_front({"a": (1, .5), "b": (2, .4), "c": (3, .9)})) == ["a", "c"]


def test_claims_true_and_false_from_numbers():
    # per-prompt gold (rl_beats_sft is a paired test): sampled diffs 1, 1, 1, 0 -> +0.75 ± 0.25 (>= 2 s.e.);
    # near-greedy diffs 0, 0, 0, 0 -> does not fall
    res = {
        "sft-reviews": {"gold/gold": 0.3, "gold_per_sample": [0, 0, 0, 0], "near_greedy/gold_per_sample": [1, 0, 0, 0]},
        "ppo-kl": {"gold/gold": 0.5, "proxy": 0.6, "kl": 2.0, "gold_per_sample": [1, 1, 1, 0],
                   "near_greedy/gold_per_sample": [1, 0, 0, 0]},
        "ppo-no-kl": {"gold/gold": 0.2, "proxy": 0.9, "kl": 9.0,
                      "curve": [{"step": 1, "eval/gold": .3, "kl": 0.1}, {"step": 2, "eval/gold": .5, "kl": 1.0},
                                {"step": 3, "eval/gold": .2, "kl": 4.0}]},
    }
    c = compute_claims(res)
    assert c["rl_beats_sft"]["value"] is True        # +0.75 >= 2 x 0.25, near-greedy unchanged
    assert c["kl_prevents_hacking"]["value"] is True  # proxy .9 > .6 and gold .2 < .5
    assert c["overoptimization_visible"]["value"] is True  # peak .5 at step 2, final .2 (drop .3 > .02)
    assert c["fine_grained_beats_holistic"]["value"] is None  # not run
    res["ppo-no-kl"]["gold/gold"] = 0.6
    assert compute_claims(res)["kl_prevents_hacking"]["value"] is False


def test_fine_grained_needs_comparable_kl():
    fg = {"gold/gold": .85, "gold/factuality": .9, "gold/completeness": .8, "kl": 20.0}
    ho = {"gold/gold": .7, "gold/factuality": .7, "gold/completeness": .7, "kl": 2.0}
    c = compute_claims({"ppo-fine-grained": fg, "ppo-holistic": ho})["fine_grained_beats_holistic"]
    # better gold, but at 10x the KL (and above 1 nat): no holistic run to compare with
    assert c["value"] is False and c["numbers"]["ppo-holistic"]["kl_ratio"] == 10.0 and c["numbers"]["compared"] == []
    fg["kl"] = 3.0
    assert compute_claims({"ppo-fine-grained": fg, "ppo-holistic": ho})["fine_grained_beats_holistic"]["value"]
    tie = {"gold/gold": 0.0, "gold/factuality": 0.0, "gold/completeness": 0.0, "kl": 2.0}  # equal: not "beats"
    assert compute_claims({"ppo-fine-grained": tie, "ppo-holistic": dict(tie)})["fine_grained_beats_holistic"][
        "value"] is False
    # higher factuality and completeness but lower gold overall (e.g. relevance lost): not "beats"
    assert compute_claims({"ppo-fine-grained": {**fg, "gold/gold": .6}, "ppo-holistic": ho})[
        "fine_grained_beats_holistic"]["value"] is False


def test_fine_grained_is_compared_with_every_holistic_run_at_comparable_kl():
    """--holistic-kl-coefs adds holistic runs at other β: the claim compares fine-grained PPO with each one whose KL
    is comparable (seed 0 of the long factqa run: fine-grained KL 0.26, holistic β 0.2 KL 1.51 (ratio 5.8, not
    compared), holistic β 1.0 KL 0.11 (ratio 2.4, compared)); a comparable run it does not beat makes it false."""
    from langrl.demo.claims import comparable_kl, holistic_runs

    fg = {"gold/gold": .81, "gold/factuality": .965, "gold/completeness": .937, "kl": 0.26}
    res = {"ppo-fine-grained": fg,
           "ppo-holistic": {"gold/gold": .82, "gold/factuality": .954, "gold/completeness": .945, "kl": 1.51},
           "ppo-holistic-kl1.0": {"gold/gold": .77, "gold/factuality": .904, "gold/completeness": .867, "kl": 0.11},
           "ppo-holistic-kl0.5": {"gold/gold": .79, "gold/factuality": .93, "gold/completeness": .90, "kl": 0.3}}
    assert holistic_runs(res) == ["ppo-holistic", "ppo-holistic-kl0.5", "ppo-holistic-kl1.0"]  # by β
    assert comparable_kl(0.26, 1.51) == (False, pytest.approx(1.51 / 0.26))  # 5.8x, and 1.51 > 1 nat
    assert comparable_kl(0.26, 0.11)[0] and comparable_kl(2.0, 5.9)[0] and not comparable_kl(2.0, 6.1)[0]
    c = compute_claims(res)["fine_grained_beats_holistic"]
    assert c["value"] is True and c["numbers"]["compared"] == ["ppo-holistic-kl0.5", "ppo-holistic-kl1.0"]
    res["ppo-holistic-kl0.5"]["gold/completeness"] = .95  # a comparable holistic run with higher completeness
    assert compute_claims(res)["fine_grained_beats_holistic"]["value"] is False
    del res["ppo-holistic-kl0.5"], res["ppo-holistic-kl1.0"]  # only the far-KL run: nothing to compare with
    assert compute_claims(res)["fine_grained_beats_holistic"]["value"] is False


def test_paired_difference_by_hand():
    from langrl.demo.claims import paired_difference

    # per-prompt differences: .5-.0 = .5, 1-.5 = .5, 0-0 = 0, 1-1 = 0 -> mean .25;
    # sample variance = (3 * .0625 + ... ) : deviations .25, .25, -.25, -.25 -> sum sq = .25, / (n-1=3) = 1/12,
    # se = sqrt(1/12 / 4) = 0.1443
    res = {"a": {"gold_per_sample": [.5, 1.0, 0.0, 1.0]}, "b": {"gold_per_sample": [0.0, .5, 0.0, 1.0]}}
    d = paired_difference(res, "a", "b")
    assert d["diff"] == pytest.approx(0.25) and d["diff_se"] == pytest.approx(0.1443, abs=1e-4) and d["n"] == 4
    assert paired_difference({"a": res["a"], "b": {"gold_per_sample": [1.0]}}, "a", "b") == {}  # not the same prompts


def _run(sampled, greedy, **kw):
    return {"gold/gold": sum(sampled) / len(sampled), "gold_per_sample": sampled,
            "near_greedy/gold/gold": sum(greedy) / len(greedy), "near_greedy/gold_per_sample": greedy, **kw}


def test_rl_beats_sft_is_a_paired_two_standard_error_test_with_near_greedy_not_falling():
    sft = _run([0, 0, 0, 0], [1, 1, 0, 0])
    # sampled diffs 1, 1, 1, 0: mean .75; deviations .25, .25, .25, -.75 -> SS .75, var .75/3 = .25, se .5/2 = .25;
    # .75 >= 2 x .25. near-greedy 1,0,0,0 - 1,1,0,0 = 0, -1, 0, 0: mean -.25, se .25 (same deviations): -.25 >= -.5
    good = _run([1, 1, 1, 0], [1, 0, 0, 0], kl=1.0)
    # sampled diffs 1, 1, 0, 0: mean .5, SS 1, var 1/3, se .577/2 = .289: .5 < 2 x .289 = .577 -> not significant
    weak = _run([1, 1, 0, 0], [1, 1, 0, 0], kl=1.0)
    # sampled as good, but near-greedy 0,0,0,0 against a start right on every prompt (1,1,1,1): diffs all -1,
    # mean -1 with s.e. 0 -> it falls
    falls = _run([1, 1, 1, 0], [0, 0, 0, 0], kl=1.0)
    c = compute_claims({"sft-arithmetic": sft, "grpo": good})["rl_beats_sft"]
    assert c["value"] is True
    e = c["numbers"]["arithmetic"]["grpo"]
    assert e["sampled"]["diff"] == pytest.approx(.75) and e["sampled"]["diff_se"] == pytest.approx(.25)
    assert e["near_greedy"]["diff"] == pytest.approx(-.25) and e["near_greedy"]["diff_se"] == pytest.approx(.25)
    assert compute_claims({"sft-arithmetic": sft, "grpo": weak})["rl_beats_sft"]["value"] is False
    ng_sft = _run([0, 0, 0, 0], [1, 1, 1, 1])
    assert compute_claims({"sft-arithmetic": ng_sft, "grpo": falls})["rl_beats_sft"]["value"] is False
    # factqa: one of its online runs beating SFT is enough for the task; every task must have one
    res = {"sft-arithmetic": sft, "grpo": good, "sft-factqa": sft, "ppo-holistic": weak, "nlpo": good}
    c = compute_claims(res)["rl_beats_sft"]
    assert c["value"] is True and c["numbers"]["factqa"]["ppo-holistic"]["beats"] is False
    res["nlpo"] = weak
    assert compute_claims(res)["rl_beats_sft"]["value"] is False
    # holistic PPO at another declared β (--holistic-kl-coefs 1.0) is an online run of factqa too: it decides
    res["ppo-holistic-kl1.0"] = good
    c = compute_claims(res)["rl_beats_sft"]
    assert c["value"] is True and c["numbers"]["factqa"]["ppo-holistic-kl1.0"]["beats"] is True
    assert list(c["numbers"]["factqa"])[1:4] == ["ppo-holistic", "nlpo", "ppo-holistic-kl1.0"]


def test_rl_beats_sft_shows_the_continued_sft_control():
    sft = _run([0, 0, 0, 0], [1, 1, 0, 0])
    ctrl = _run([1, 0, 0, 0], [1, 1, 0, 0], kl=0.2)
    good = _run([1, 1, 1, 0], [1, 0, 0, 0], kl=1.0)
    e = compute_claims({"sft-arithmetic": sft, "grpo": good, "control-arithmetic": ctrl})["rl_beats_sft"][
        "numbers"]["arithmetic"]
    # control vs SFT: diffs 1, 0, 0, 0 -> +.25; grpo vs control: 1,1,1,0 - 1,0,0,0 = 0, 1, 1, 0 -> +.5 ± .289
    assert e["control-arithmetic"]["sampled"]["diff"] == pytest.approx(.25)
    assert e["control-arithmetic"]["beats"] is False
    assert e["grpo"]["vs_control"]["sampled"]["diff"] == pytest.approx(.5)
    assert e["grpo"]["vs_control"]["sampled"]["diff_se"] == pytest.approx(0.2887, abs=1e-4)


def test_dpo_vs_ppo_reports_the_exploration_advantage():
    # (kl, gold): sft (0, .40), dpo (.5, .45), ppo-holistic (1.5, .55), best-of-8 (1.2, .50), nlpo (1.0, .35)
    res = {"sft-factqa": {"gold/gold": .40, "kl": 0.0}, "dpo": {"gold/gold": .45, "kl": .5},
           "ppo-holistic": {"gold/gold": .55, "kl": 1.5}, "best-of-8": {"gold/gold": .50, "kl": 1.2},
           "nlpo": {"gold/gold": .35, "kl": 1.0}}
    c = compute_claims(res)["dpo_vs_ppo"]
    # front: sft (least KL), dpo, best-of-8 (more gold than dpo), ppo-holistic (most gold); nlpo dominated by dpo
    assert sorted(c["numbers"]["front"]) == ["best-of-8", "dpo", "ppo-holistic", "sft-factqa"]
    assert c["value"] is True
    # beyond DPO's KL (.5): ppo-holistic +.10, best-of-8 +.05, nlpo -.10 -> PPO's advantage is ppo-holistic's +.10
    # (best-of-n's +.05 beside it)
    assert c["numbers"]["exploration_advantage"]["run"] == "ppo-holistic"
    assert c["numbers"]["exploration_advantage"]["gold_gain"] == pytest.approx(.10)
    assert c["numbers"]["best_of_n_above_dpo"] == {"best-of-8": pytest.approx(.05)}
    res["ppo-holistic"]["gold/gold"] = .30  # now dominated by dpo: no online run on the front, no advantage
    c = compute_claims(res)["dpo_vs_ppo"]
    assert c["value"] is False and c["numbers"]["exploration_advantage"] is None
    # holistic PPO at a declared extra β (kl 2.0, gold .60: above best-of-8 and dpo) is an online run on the front
    res["ppo-holistic-kl0.1"] = {"gold/gold": .60, "kl": 2.0}
    c = compute_claims(res)["dpo_vs_ppo"]
    assert c["value"] is True and c["numbers"]["exploration_advantage"]["run"] == "ppo-holistic-kl0.1"
    assert c["numbers"]["exploration_advantage"]["gold_gain"] == pytest.approx(.15)  # .60 - .45


def test_every_claim_has_a_newcomer_sentence():
    from langrl.demo.claims import EXPLAIN

    assert set(EXPLAIN) == set(compute_claims({}))
    assert all(s.endswith(".") and len(s.split()) >= 12 for s in EXPLAIN.values())


def test_a_tie_with_zero_spread_does_not_beat_sft():
    from langrl.demo.claims import beats

    # both runs score 0 on every prompt: diff 0 ± 0 meets "diff >= 2 s.e." (0 >= 0) but is no win
    zeros = {"gold_per_sample": [0.0, 0.0, 0.0], "near_greedy/gold_per_sample": [0.0, 0.0, 0.0]}
    assert beats({"run": zeros, "sft": dict(zeros)}, "run", "sft")["beats"] is False
    # one prompt better, none worse: diffs 0, 0, 1 -> +0.333 ± 0.333, short of 2 s.e. -> still no win
    up = {"gold_per_sample": [0.0, 0.0, 1.0], "near_greedy/gold_per_sample": [0.0, 0.0, 0.0]}
    assert beats({"run": up, "sft": dict(zeros)}, "run", "sft")["beats"] is False
