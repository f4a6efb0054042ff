import pytest
import torch

from langrl.feedback import read_rows
from langrl.train.dpo.data import build_units, collate_rows, fit, gather_grid, unit_grid

ROWS = [
    {"prompt": "Q: 1 + 2 = ? A:", "chosen": " 3", "rejected": " 4"},
    {"prompt": "Q: 1 + 2 = ? A:", "responses": [" 3", " 3."], "tie": True},
    {"prompt": "the cat", "responses": [" sat", " ran", " flew"], "ranking": [[0], [1, 2]]},
    {"prompt": "the movie", "response": " was great", "rating": True},
    {"prompt": "the movie", "response": " was bad", "rating": -1},
    {"prompt": "the movie", "response": " was ok", "rating": 0},
    {"prompt": "a b c", "response": " d e", "critique": "wrong order", "refinement": " d e f"},
    {"prompt": "a b c", "response": " z", "critique": "no idea"},
]


def records():
    return read_rows(ROWS).records


def test_pairwise_units_skip_and_count_ties_and_ignore_ratings(toy_tokenizer):
    data = build_units(records(), toy_tokenizer, shape="pair", max_length=64)
    st = data.stats
    # comparison 1 + ranking [[0],[1,2]] -> 2 pairs + critique with refinement 1 = 4 pairs
    assert st["units"] == 4 and st["from"] == {"comparison": 1, "ranking": 2, "critique": 1}
    # the tie comparison (1) + the tied pair (1, 2) inside the ranking's second tier (1) = 2
    assert st["ties_skipped"] == 2
    # three ratings and the critique without a refinement cannot make pairs
    assert st["ignored"] == {"rating": 3, "critique": 1}
    assert all(u.tiers == [0, 1] and len(u.rows) == 2 for u in data.units)
    # the refinement is the chosen response of the critique pair
    crit = data.units[3]
    assert toy_tokenizer.decode(data.responses[crit.rows[0]][:-1]) == " d e f"
    # the two ranking pairs share the chosen row " sat": rows are deduplicated
    assert data.units[1].rows[0] == data.units[2].rows[0]
    assert st["rows"] == 7  # 2 + 3 + 2 distinct (prompt, response) sequences


def test_list_units_keep_rankings_whole_with_tiers(toy_tokenizer):
    data = build_units(records(), toy_tokenizer, shape="list", max_length=64)
    lists = [u for u in data.units if len(u.rows) == 3]
    assert len(lists) == 1 and lists[0].tiers == [0, 1, 1]
    assert data.stats["ties_skipped"] == 1  # only the tie comparison


def test_kto_units_from_ratings_pairs_and_rankings(toy_tokenizer):
    data = build_units(records(), toy_tokenizer, shape="single", max_length=64)
    st = data.stats
    # ratings: +1 and -1 used, 0 is neutral (threshold 0); comparison -> 2; ranking -> best tier 1 + worst tier 2;
    # critique with refinement -> 2
    assert st["from"] == {"comparison": 2, "ranking": 3, "rating": 2, "critique": 2}
    assert st["neutral_ratings_skipped"] == 1
    assert [u.label for u in data.units] == [1, -1, 1, -1, -1, 1, -1, 1, -1]
    for u in data.units:  # each KL row pairs the unit's prompt with some response
        assert data.prompts[u.kl_row] == data.prompts[u.rows[0]]
    # at least one KL row is a mismatched pair (a response of another prompt)
    assert any(u.kl_row != u.rows[0] for u in data.units)


def test_rating_threshold_for_graded_scores(toy_tokenizer):
    recs = read_rows([{"prompt": "p", "response": f" r{i}", "rating": i} for i in range(1, 6)]).records
    data = build_units(recs, toy_tokenizer, shape="single", max_length=64, rating_threshold=3)
    assert [u.label for u in data.units] == [-1, -1, 1, 1] and data.stats["neutral_ratings_skipped"] == 1


def test_too_long_units_are_reported_and_skipped_or_truncated(toy_tokenizer):
    recs = read_rows([{"prompt": "a b c d e f g h i j k l m n o p", "chosen": " a", "rejected": " b"},
                      {"prompt": "Q:", "chosen": " 7", "rejected": " 8"}]).records
    skipped = build_units(recs, toy_tokenizer, shape="pair", max_length=6)
    assert skipped.stats["units"] == 1 and skipped.stats["too_long_skipped"] == 1
    assert skipped.stats["too_long"][0][0] == 1  # record number 1
    cut = build_units(recs, toy_tokenizer, shape="pair", max_length=6, truncate=True)
    assert cut.stats["units"] == 2 and cut.stats["truncated"] == 1
    assert all(len(cut.prompts[i]) + len(cut.responses[i]) <= 6 for i in range(len(cut.prompts)))


def test_fit_cuts_prompt_from_left_then_response_from_right():
    assert fit([1, 2, 3], [4, 5], 4) == ([2, 3], [4, 5])
    assert fit([1, 2, 3], [4, 5, 6, 7, 8], 4) == ([], [4, 5, 6, 7])
    assert fit([1], [2], 4) == ([1], [2])


def test_collate_left_pads_prompts_right_pads_responses(toy_tokenizer):
    data = build_units(records()[:1], toy_tokenizer, shape="pair", max_length=64)
    data.prompts[1] = data.prompts[1][1:]  # make the two prompts differ in length
    b = collate_rows(data, [0, 1], pad_id=0)
    p, t = b["prompt_ids"].shape[1], b["response_ids"].shape[1]
    assert p == len(data.prompts[0]) and t == max(len(r) for r in data.responses)
    assert b["prompt_mask"][1].tolist() == [0] + [1] * (p - 1)  # left padding
    assert b["response_mask"].sum(1).tolist() == [len(r) for r in data.responses]  # right padding


def test_unit_grid_pads_lists():
    from langrl.train.dpo.data import Unit

    flat, index, tiers = unit_grid([Unit([5, 6, 7], [0, 1, 1]), Unit([8, 9], [0, 1])])
    assert flat == [5, 6, 7, 8, 9]
    assert index.tolist() == [[0, 1, 2], [3, 4, -1]] and tiers.tolist() == [[0, 1, 1], [0, 1, -1]]
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    assert gather_grid(values, index).tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 0.0]]


def test_unknown_shape_is_an_error(toy_tokenizer):
    with pytest.raises(ValueError, match="shape"):
        build_units([], toy_tokenizer, shape="triple", max_length=8)
