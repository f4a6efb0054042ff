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
    top_k: int = arg(0, "main pass: keep the k most likely tokens (0 = all; 1 = greedy)", group="sampling")
    top_p: float = arg(1.0, "main pass: nucleus sampling mass (1 = all)", group="sampling")
    rollout_engine: str = arg("native", "langrl's sampler, or vLLM (the langrl[vllm] extra; same settings, its own "
                                        "random streams)", choices=("native", "vllm"), group="sampling")
    engine_option: list[str] = arg([], "KEY=VALUE passed to vllm.LLM, repeat for several", group="sampling")
    weights: str | None = arg(None, "a preference-conditioned policy's weights NAME=W,... (langrl rl --condition): "
                                    "written before every prompt in the format it was trained with (its "
                                    "condition_format; the gold and proxy scores see the prompt without it)")

    def validate(self):
        if self.num_prompts < 1 or self.n < 1:
            raise InputError("eval: num_prompts and n must be >= 1")
        if not self.temperature > 0:
            raise InputError(f"eval: field 'temperature': expected > 0 (near-greedy is T = 1e-4), got {self.temperature}")
        for field, ok, want in (("max_new_tokens", self.max_new_tokens >= 1, ">= 1"),
                                ("top_k", self.top_k >= 0, ">= 0"),
                                ("top_p", 0 < self.top_p <= 1, "a number in (0, 1]"),
                                ("engine_option", not self.engine_option or self.rollout_engine == "vllm",
                                 "to be used with rollout_engine vllm")):
            if not ok:
                raise InputError(f"eval: field '{field}': expected {want}, got {getattr(self, field)!r}")


def main(argv: list[str]) -> int:
    cfg, flags = parse_config(EvalConfig, argv, prog="langrl eval", summary="Evaluate a policy on a built-in task.")
    from langrl.eval.evaluate import evaluate_policy
    from langrl.rewards.conditioning import parse_condition_weights, saved_format
    from langrl.models.specs import load_causal_lm
    from langrl.tasks import get_task

    task = get_task(cfg.task)
    condition = parse_condition_weights(cfg.weights)  # checked before the model loads
    rows = task.prompts("eval", cfg.num_prompts, cfg.seed)
    model, tok = load_causal_lm(cfg.policy, quiet=flags["json"])
    ref = load_causal_lm(cfg.ref, quiet=True)[0] if cfg.ref else None
    proxy = None
    if cfg.reward:
        from langrl.rewards import build_rewards

        proxy = build_rewards(cfg.reward)
    from langrl.eval.evaluate import NEAR_GREEDY

    engine = None
    if cfg.rollout_engine != "native":  # both passes on vLLM, with the same settings (langrl.rollout.vllm_engine)
        from langrl.train.pg.engines import make_engine, parse_options

        window = int(getattr(model.config, "max_position_embeddings", 2048))
        engine = make_engine(cfg.rollout_engine, model, tok, copy_weights=False, prog="eval", seed=cfg.seed,
                             sampling={"max_prompt_tokens": window, "max_new_tokens": 0},
                             engine_options={"max_model_len": window, **parse_options(cfg.engine_option)})
    common = dict(task=task, proxy=proxy, condition=condition, condition_format=saved_format(cfg.policy),
                  max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                  chat_template=cfg.chat_template, system=cfg.system_prompt, engine=engine)
    try:
        metrics, _ = evaluate_policy(model, tok, rows, ref_model=ref, n=cfg.n, temperature=cfg.temperature,
                                     top_k=cfg.top_k, top_p=cfg.top_p, **common)
        if cfg.near_greedy:  # one near-greedy response per prompt: more would be copies of it
            greedy, _ = evaluate_policy(model, tok, rows, n=1, temperature=NEAR_GREEDY, **common)
            metrics.update({f"near_greedy/{k}": v for k, v in greedy.items()})
    finally:
        if engine is not None:
            engine.close()
    return finish({"policy": cfg.policy, "task": cfg.task, "rollout_engine": cfg.rollout_engine,
                   **({"weights": cfg.weights} if cfg.weights else {}), **metrics},
                  flags["json"], "eval")
