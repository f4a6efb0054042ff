"""``langrl sample``: completions from any model spec, as JSON lines."""
from __future__ import annotations

import json
from dataclasses import dataclass

from langrl.config import arg, parse_config
from langrl.errors import InputError
from langrl.jsonl import input_flag
from langrl.train.data import load_prompts


@dataclass
class SampleConfig:
    model: str = arg("tiny", "model spec: tiny, tiny:TASK, a HF dir or id, a .gguf file, smollm2, or a langrl --out dir")
    prompts: str = arg("task:arithmetic", "JSONL file with a 'prompt' per line (text, or a list of {role, content} "
                                          "messages), or task:NAME (its eval prompts)")
    n: int = arg(1, "samples per prompt")
    num_prompts: int = arg(4, "prompts taken from a task:NAME source")
    max_new_tokens: int = arg(48, "token budget per response")
    temperature: float = arg(1.0, "sampling temperature")
    top_k: int = arg(0, "keep the k most likely tokens (0 = all)")
    top_p: float = arg(1.0, "nucleus sampling mass (1 = all)")
    stop: list[str] = arg([], "stop strings (repeat the flag for several)")
    seed: int = arg(0, "sampling seed")
    chat_template: bool = arg(True, "apply the model's chat template (with the generation prompt) to every prompt when "
                                    "it has one; false = the prompt text as is")
    system_prompt: str | None = arg(None, "system message put before each prompt (through the chat template)")
    rollout_engine: str = arg("native", "langrl's sampler, or vLLM (the langrl[vllm] extra; same settings, its own "
                                        "random streams)", choices=("native", "vllm"), group="sampling")
    engine_option: list[str] = arg([], "KEY=VALUE passed to vllm.LLM, repeat for several", group="sampling")
    weights: str | None = arg(None, "a preference-conditioned policy's weights NAME=W,... (langrl rl --condition): "
                                    "written before every prompt in the format the policy was trained with (its condition_format)")

    def validate(self):
        if self.n < 1 or self.max_new_tokens < 1:
            raise InputError("sample: n and max_new_tokens must be >= 1")
        if self.temperature <= 0:
            raise InputError("sample: field 'temperature': expected > 0")


def main(argv: list[str]) -> int:
    cfg, flags = parse_config(SampleConfig, argv, prog="langrl sample", summary="Sample completions from a model.")
    from langrl.models.specs import load_causal_lm
    from langrl.rollout import sample_prompts

    with input_flag("--prompts"):
        rows = load_prompts(cfg.prompts, cfg.num_prompts if cfg.prompts.startswith("task:") else 0)
    if cfg.weights:  # a conditioned policy: the documented prefix before every prompt (rewards/conditioning.py)
        from langrl.rewards.conditioning import condition_prompt, parse_condition_weights, saved_format

        w, fmt = parse_condition_weights(cfg.weights), saved_format(cfg.model)  # the format the policy learnt
        rows = [{**r, "prompt": condition_prompt(r["prompt"], w, fmt)} for r in rows]
    model, tok = load_causal_lm(cfg.model, quiet=flags["json"])
    settings = dict(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_k=cfg.top_k,
                    top_p=cfg.top_p, stop=cfg.stop)
    if cfg.rollout_engine == "vllm":
        from langrl.train.pg.engines import make_engine, parse_options

        engine = make_engine("vllm", model, tok, copy_weights=False, prog="sample", sampling=settings, seed=cfg.seed,
                             engine_options=parse_options(cfg.engine_option))
        ro, _ = engine.generate([{"prompt": r["prompt"]} for r in rows], [0], len(rows), n=cfg.n, step=0,
                                seed=cfg.seed, chat_template=cfg.chat_template, system=cfg.system_prompt, **settings)
        engine.close()
    else:
        ro = sample_prompts(model, tok, [r["prompt"] for r in rows], chat_template=cfg.chat_template,
                            system=cfg.system_prompt, n=cfg.n, seed=cfg.seed, **settings)
    for i in range(ro.batch_size):
        rec = {"prompt": ro.prompts[i], "response": ro.responses[i], "sample": i % cfg.n,
               "tokens": int(ro.response_mask[i].sum()), "ended": bool(ro.ended[i]),
               "logprob": round(float(ro.logprobs[i].sum()), 4)}
        if flags["json"]:
            print(json.dumps(rec, ensure_ascii=False))
        else:
            print(f"--- [{i // cfg.n}.{i % cfg.n}] {rec['prompt']!r}\n{rec['response']}")
    return 0
