"""``langrl eval``: evaluate a saved policy on a task's held-out prompts (gold, proxy, KL, length, diversity)."""
from __future__ import annotations

from dataclasses import dataclass

from langrl.commands._common import finish
from langrl.config import arg, parse_config
from langrl.errors import InputError


@dataclass
class EvalConfig:
    policy: str = arg("tiny", "policy to evaluate: a model spec or a trainer's --out directory")
    task: str = arg("arithmetic", "built-in task whose held-out prompts and gold evaluator to use")
    ref: str | None = arg(None, "reference policy for the KL estimate (e.g. the SFT policy); none = no KL")
    reward: list[str] = arg([], "proxy reward spec(s), as in `langrl rl --reward` (the total is reported as proxy)")
    num_prompts: int = arg(64, "held-out prompts")
    n: int = arg(1, "samples per prompt")
    max_new_tokens: int = arg(48, "token budget per response")
    seed: int = arg(0, "sampling seed")
    chat_template: bool = arg(True, "apply the model's chat template (with the generation prompt) to every prompt when "
                                    "it has one; false = the prompt text as is")
    system_prompt: str | None = arg(None, "system message put before each prompt (through the chat template)")
    temperature: float = arg(1.0, "sampling temperature of the main pass (1 = the training temperature; the KL "
                                  "estimate is only reported at 1)")
    near_greedy: bool = arg(True, "also evaluate near-greedy (T = 1e-4) on the same prompts and report it under "
                                  "near_greedy/ (false = the main pass only)")

    def validate(self):
        if self.num_prompts < 1 or self.n < 1:
            raise InputError("eval: num_prompts and n must be >= 1")
        if not self.temperature > 0:
            raise InputError(f"eval: field 'temperature': expected > 0 (near-greedy is T = 1e-4), got {self.temperature}")


def main(argv: list[str]) -> int:
    cfg, flags = parse_config(EvalConfig, argv, prog="langrl eval", summary="Evaluate a policy on a built-in task.")
    from langrl.eval.evaluate import evaluate_policy
    from langrl.models.specs import load_causal_lm
    from langrl.tasks import get_task

    task = get_task(cfg.task)
    rows = task.prompts("eval", cfg.num_prompts, cfg.seed)
    model, tok = load_causal_lm(cfg.policy, quiet=flags["json"])
    ref = load_causal_lm(cfg.ref, quiet=True)[0] if cfg.ref else None
    proxy = None
    if cfg.reward:
        from langrl.rewards import build_rewards

        proxy = build_rewards(cfg.reward)
    from langrl.eval.evaluate import NEAR_GREEDY

    common = dict(task=task, proxy=proxy, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                  chat_template=cfg.chat_template, system=cfg.system_prompt)
    metrics, _ = evaluate_policy(model, tok, rows, ref_model=ref, n=cfg.n, temperature=cfg.temperature, **common)
    if cfg.near_greedy:  # one near-greedy response per prompt: more would be copies of it
        greedy, _ = evaluate_policy(model, tok, rows, n=1, temperature=NEAR_GREEDY, **common)
        metrics.update({f"near_greedy/{k}": v for k, v in greedy.items()})
    return finish({"policy": cfg.policy, "task": cfg.task, **metrics}, flags["json"], "eval")
