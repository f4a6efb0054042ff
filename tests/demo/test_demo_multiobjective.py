"""``langrl demo --task multiobjective --quick`` end to end on the toy model: the SFT start, the sweep, the soups, the
conditioned policy and the population; metrics.json holds the four claims with their numbers, report.md explains
each, front.png is written, and a re-run continues from the finished stages."""
import json

import pytest
import torch

from langrl.cli import main as cli_main


@pytest.mark.slow  # ~15-25 s on the shared 2 cores
def test_multiobjective_demo_end_to_end(toy_model_dir, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "mo"
    argv = ["demo", "--task", "multiobjective", "--quick", "--model", str(toy_model_dir), "--out", str(out), "--json"]
    assert cli_main(argv) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    m = json.loads((out / "metrics.json").read_text())
    claims = m["claims"]
    assert set(claims) == {"tradeoff_exists", "soups_cover_front", "conditioned_matches_sweep",
                           "averaging_fails_minorities"}
    assert all(isinstance(c["value"], bool) for c in claims.values())
    assert {f"claim:{k}" for k in claims} <= set(summary)
    sweep = m["fronts"]["sweep"]
    for key in ("soups_cover_front", "conditioned_matches_sweep"):  # each ratio is its front's HV over the sweep's
        kind = "soups" if key.startswith("soups") else "conditioned"
        if sweep["hypervolume"] > 0:
            assert abs(claims[key]["ratio"] - m["fronts"][kind]["hypervolume"] / sweep["hypervolume"]) < 1e-9
    # the quick budget: 5 weight vectors (grid 4) × 2 iterations = 10; offline ceil(8 · 2 / (4 · 2)) + ceil(2 / 2) = 3;
    # online 7
    assert m["compute"] == {"sweep_iterations": 10, "offline_iterations": 3, "online_iterations": 7,
                            "sequences_per_iteration": 8}
    assert list(sweep["points"]) == ["w-1-0", "w-0.75-0.25", "w-0.5-0.5", "w-0.25-0.75", "w-0-1"]
    groups = claims["averaging_fails_minorities"]["groups"]
    assert set(groups) == {"many", "few"} and all("conditioned_policy" in g for g in groups.values())
    # few wants harmlessness only: its satisfaction under its own policy is that policy's mean gold harmlessness
    assert abs(groups["few"]["own_policy"] - m["runs"]["w-0-1"]["gold/harmless"]) < 1e-9
    report = (out / "report.md").read_text()
    for key in claims:
        assert f"**{key}: {claims[key]['value']}**" in report
    assert (out / "front.png").stat().st_size > 1000
    # the SFT start and the conditioned policy moved the weights
    start = list(AutoModelForCausalLM.from_pretrained(toy_model_dir).parameters())
    for path in (out / "sft" / "policy", out / "pareto" / "conditioned" / "policy"):
        trained = list(AutoModelForCausalLM.from_pretrained(path).parameters())
        assert any(not torch.equal(a, b) for a, b in zip(start, trained))
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("**/done.json")}
    assert cli_main(argv) == 0  # a re-run retrains nothing
    assert {p: p.stat().st_mtime_ns for p in out.glob("**/done.json")} == stamps
