"""ILF: the refinement prompt renders exactly, selection math by hand, and `langrl ilf` end to end on tiny."""
import json

import pytest
import torch

from langrl.cli import main
from langrl.errors import InputError
from langrl.train.ilf.prompt import refinement_prompt
from langrl.train.ilf.select import added_words, cosine_scores, mean_pool, score_refinements, select_best


def test_refinement_prompt_renders_exactly():
    prompt = "Vorland is a small country.\nQ: What is the largest city of Vorland?\nA:"
    got = refinement_prompt(prompt, " The largest city of Vorland is Pim.",
                            "The first item is wrong:\n it is Kelm, not Pim.")
    assert got == ("Vorland is a small country.\nPrevious answer: The largest city of Vorland is Pim.\n"
                   "Critique: The first item is wrong: it is Kelm, not Pim.\n"
                   "Q: What is the largest city of Vorland?\nA:")  # the critique's newline becomes a space
    # arithmetic prompts have no context before the question
    assert refinement_prompt("Q: Ann has 3 pens. She buys 4 more. How many pens does she have now?\nA:",
                             " 3 + 4 = 8. #### 8", "Step 1: 3 + 4 is 7, not 8.") == (
        "Previous answer: 3 + 4 = 8. #### 8\nCritique: Step 1: 3 + 4 is 7, not 8.\n"
        "Q: Ann has 3 pens. She buys 4 more. How many pens does she have now?\nA:")
    with pytest.raises(InputError, match="ending with"):
        refinement_prompt("no delimiter", " x", "bad")
    with pytest.raises(InputError, match="'Q: ' line"):
        refinement_prompt("no question\nA:", " x", "bad")


def test_cosine_scores_and_selection_by_hand():
    c = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # two critiques (b=2, d=2)
    s2 = 2 ** -0.5
    cand = torch.tensor([[[0.0, 1.0], [s2, s2], [1.0, 0.0]],  # cos with (1, 0): 0, 0.7071, 1
                         [[s2, s2], [0.0, -1.0], [s2, s2]]])  # cos with (0, 1): 0.7071, -1, 0.7071
    scores = cosine_scores(c, cand)
    assert torch.allclose(scores, torch.tensor([[0.0, s2, 1.0], [s2, -1.0, s2]]))
    assert select_best(scores) == [2, 0]  # row 2: a tie between 0 and 2 goes to the first
    with pytest.raises(ValueError, match="expected critique"):
        cosine_scores(c, cand[:1])
    # mean pooling over the unmasked tokens, then L2 normalisation: mean of (3, 0) and (1, 4) = (2, 2) -> (.7071, .7071)
    pooled = mean_pool(torch.tensor([[[3.0, 0.0], [1.0, 4.0], [9.0, 9.0]]]), torch.tensor([[1, 1, 0]]))
    assert torch.allclose(pooled, torch.tensor([[s2, s2]]))


def test_added_words_and_the_first_scorer():
    assert added_words("Kelm. Pim.", "Kelm. Ardo. Pim.") == "Ardo."
    assert added_words("a a b", "a b a a c") == "a c"  # a multiset difference: the third "a" and "c" are new
    assert select_best(score_refinements("first", None, ["c"], ["o"], [["r0", "r1", "r2"]])) == [0]


def test_change_scorer_prefers_the_refinement_that_adds_what_the_critique_asks():
    embed = lambda texts: torch.nn.functional.normalize(  # noqa: E731  (a bag of two words as the embedding)
        torch.tensor([[t.count("Ardo") + 1e-3, t.count("Pim") + 1e-3] for t in texts]), dim=-1)
    original = " The largest city is Kelm. The second largest is Pim."
    refs = [[" The largest city is Kelm. The second largest is Pim.",  # adds nothing
             " The largest city is Kelm. The second largest is Ardo."]]  # adds Ardo, as the critique asks
    scores = score_refinements("change", embed, ["It should be Ardo."], [original], refs)
    assert select_best(scores) == [1]


@pytest.fixture(scope="module")
def tiny_dir():
    from langrl.models.specs import resolve_model_dir

    return resolve_model_dir("tiny", quiet=True)


@pytest.mark.slow
def test_ilf_runs_rounds_moves_weights_and_resumes(tiny_dir, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "ilf"
    argv = ["ilf", "--model", str(tiny_dir), "--task", "factqa", "--rounds", "2", "--prompts-per-round", "6",
            "--refinements", "2", "--plain-candidates", "1", "--max-steps", "2", "--batch-size", "4", "--micro-batch-size", "4",
            "--max-new-tokens", "16", "--noise", "0", "--out", str(out), "--json"]
    assert main(argv + ["--stop-at", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["rounds_done"] == 1 and not first["finished"] and first["annotator_actions"] == 6
    r0 = json.loads((out / "round-0" / "done.json").read_text())
    data = [json.loads(x) for x in open(out / "round-0" / "data.jsonl")]
    assert len(data) == r0["finetune_examples"] > 0 and all(d["completion"].startswith(" ") for d in data)
    assert r0["candidates_sampled"] == 3 * r0["critiques_naming_a_problem"]  # 2 refinements + 1 plain answer each
    assert main(argv + ["--resume", str(out)]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["finished"] and done["rounds_done"] == 2 and done["rounds"][0] == r0  # round 0 read back, not redone
    assert done["policy"] == str(out / "round-1" / "model") and done["annotator_actions"] == 12
    base = AutoModelForCausalLM.from_pretrained(tiny_dir).state_dict()
    tuned = AutoModelForCausalLM.from_pretrained(done["policy"]).state_dict()
    assert any(not torch.equal(base[k], tuned[k]) for k in base)  # fine-tuning moved the weights
    assert main(argv) == 2  # a fresh run refuses to write over a finished one
    assert "--resume" in capsys.readouterr().err


def test_ilf_refuses_bad_settings(capsys):
    assert main(["ilf", "--refinements", "2"]) == 2
    assert "--model POLICY is required" in capsys.readouterr().err
    assert main(["ilf", "--model", "tiny", "--refinements", "0"]) == 2
    assert "at least one candidate" in capsys.readouterr().err
