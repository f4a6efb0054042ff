"""The ``gold`` reward: a built-in task's hidden evaluator as an (oracle) reward."""
import pytest

from langrl.errors import InputError
from langrl.rewards.registry import build_reward
from langrl.tasks import get_task


def test_gold_reward_scores_factqa_answers_like_the_task():
    task = get_task("factqa")
    rows = task.prompts("eval", 2, 0)
    right = " " + rows[0]["reference"]
    # a wrong first item: every claim of the reference shifted by one item, so the first claim is untruthful
    wrong = " " + rows[1]["reference"].replace(rows[1]["meta"]["items"][0], rows[1]["meta"]["items"][-1])
    reward = build_reward("gold:task=factqa").reward
    out = reward([r["prompt"] for r in rows], [right, wrong], meta=[r["meta"] for r in rows])
    want = task.gold(rows, [right, wrong])["gold"]
    assert out.scores[:, 0].tolist() == pytest.approx(want)
    assert want[0] == 1.0 and want[1] < 1.0  # the reference is perfect; the changed answer is not


def test_gold_reward_component_and_errors():
    task = get_task("arithmetic")
    rows = task.prompts("eval", 1, 0)
    prompts, cols = [rows[0]["prompt"]], {"meta": [rows[0]["meta"]], "answer": [rows[0]["answer"]]}
    steps = build_reward("gold:task=arithmetic,score=steps").reward
    assert steps(prompts, [" " + rows[0]["reference"]], **cols).scores[0, 0].item() == 1.0  # every step valid
    with pytest.raises(InputError, match="no gold score 'nope'"):
        build_reward("gold:task=arithmetic,score=nope").reward(prompts, [" 1"], **cols)
    with pytest.raises(InputError, match="column 'meta'"):
        steps(prompts, [" 1"])
    with pytest.raises(InputError, match="unknown task"):
        build_reward("gold:task=nope")
